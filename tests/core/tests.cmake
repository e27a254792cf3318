# core/: the ground floor (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_ftz LABELS unit SOURCES test_ftz.cpp)
rpct_add_test(test_svg_plot NO_PCH LABELS unit SOURCES test_svg_plot.cpp)
rpct_add_test(test_stop_signal NO_PCH LABELS unit SOURCES test_stop_signal.cpp)
rpct_add_test(test_tensorboard NO_PCH LABELS unit SOURCES test_tensorboard.cpp)
