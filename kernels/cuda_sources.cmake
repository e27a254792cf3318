# sources of this area (see the top-level CMakeLists.txt)
