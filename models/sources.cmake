# models/: ViT, the attention variants and the Segmenter (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/attention.cpp
  ${CMAKE_CURRENT_LIST_DIR}/segmenter.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vit_weights.cpp
)
