# datasets/: decoding, sources, transforms, loader (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_decode NO_PCH LABELS unit SOURCES test_decode.cpp)
rpct_add_test(test_image_folder LABELS unit SOURCES test_image_folder.cpp)
rpct_add_test(test_ade20k LABELS unit SOURCES test_ade20k.cpp)
rpct_add_test(test_fashion_mnist LABELS unit SOURCES test_fashion_mnist.cpp)
rpct_add_test(test_transforms LABELS unit SOURCES test_transforms.cpp)
rpct_add_test(test_loader LABELS unit threads SOURCES test_loader.cpp)
rpct_add_test(test_prepare_data LABELS unit SOURCES test_prepare_data.cpp)
