# models/: the ViT, its attention variants and the Segmenter (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_vit LABELS unit SOURCES test_vit.cpp)
rpct_add_test(test_attention LABELS unit SOURCES test_attention.cpp)
rpct_add_test(test_segmenter LABELS unit SOURCES test_segmenter.cpp)
