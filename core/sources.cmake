# core/: the ground floor (logging, the JSON result line, checked-call macros, flush-to-zero, the SVG line-plot writer); every
# other folder may include it, it includes nothing of the project's.
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/check.cpp
  ${CMAKE_CURRENT_LIST_DIR}/file_io.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ftz.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_result.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stop_signal.cpp
  ${CMAKE_CURRENT_LIST_DIR}/svg_plot.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tensorboard.cpp
)
