# tools/: the data-set writers of `rpctrain prepare-data` (their command line is launch/prepare_data_cli.cpp).
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/prepare_data.cpp
)
