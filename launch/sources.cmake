# launch/ and tools/ (the top floor): the CLI parser, the launcher (mpirun wrapper), data preparation.
# The `rpctrain` binary itself is main.cpp (top-level CMakeLists.txt).
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cli.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launcher.cpp
  ${PROJECT_SOURCE_DIR}/tools/prepare_data.cpp
)
