# tests of this area: rpct_add_test(...) (see tests/CMakeLists.txt)
rpct_add_test(test_rpc_attention LABELS unit SOURCES kernels/test_rpc_attention.cpp)
rpct_add_test(test_attention LABELS unit SOURCES models/test_attention.cpp)
