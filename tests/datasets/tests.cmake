# datasets/: decoding, sources, transforms, loader (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_decode NO_PCH LABELS unit SOURCES test_decode.cpp)
rpct_add_test(test_image_folder LABELS unit SOURCES test_image_folder.cpp)
rpct_add_test(test_ade20k LABELS unit SOURCES test_ade20k.cpp)
rpct_add_test(test_fashion_mnist LABELS unit SOURCES test_fashion_mnist.cpp)
rpct_add_test(test_transforms LABELS unit SOURCES test_transforms.cpp)
rpct_add_test(test_loader LABELS unit threads SOURCES test_loader.cpp)
rpct_add_test(test_prepare_data LABELS unit SOURCES test_prepare_data.cpp)
# The image ops against Pillow (resample_box, affine, ImageEnhance, ImageOps, timm's RandAugment ops): the driver
# applies one op per case, compare_transforms.py runs Pillow on the same ramps / impulses / random images and
# compares with named tolerances; run by the imagecorruptions venv's python (RPCT_CORRUPT_PYTHON, which has
# Pillow; installed by scripts/setup.sh). The driver never includes LibTorch: no precompiled header.
add_executable(transform_driver ${CMAKE_CURRENT_LIST_DIR}/transform_driver.cpp)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/transform_driver.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
target_link_libraries(transform_driver PRIVATE rpct_core)
if(NOT RPCT_SANITIZE)
  target_compile_options(transform_driver PRIVATE -O1)
endif()
add_test(NAME test_transforms_vs_pillow
         COMMAND ${RPCT_CORRUPT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/compare_transforms.py $<TARGET_FILE:transform_driver>)
_rpct_test_properties(test_transforms_vs_pillow "unit" 120)
