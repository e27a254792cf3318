# models/: ViT and the attention variants (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/attention.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vit_weights.cpp
)
