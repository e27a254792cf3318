# tests of this area: rpct_add_test(...) (see tests/CMakeLists.txt)
