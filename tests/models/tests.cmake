# models/: the ViT and its attention variants (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_vit LABELS unit SOURCES test_vit.cpp)
rpct_add_test(test_attention LABELS unit SOURCES test_attention.cpp)
