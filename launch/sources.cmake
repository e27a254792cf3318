# launch/ (the top floor): the CLI parser, the launcher (mpirun wrapper), prepare-data's command line.
# The `rpctrain` binary itself is main.cpp (top-level CMakeLists.txt).
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/cli.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launcher.cpp
  ${CMAKE_CURRENT_LIST_DIR}/prepare_data_cli.cpp
)
