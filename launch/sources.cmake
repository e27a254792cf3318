# launch/: the launcher (mpirun wrapper); the `rpctrain` binary itself is main.cpp (top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/launcher.cpp
)
