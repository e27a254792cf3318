# launch/: the mpirun command the launcher builds, and the CLI's errors and help (see tests/CMakeLists.txt
# for the functions and labels).
rpct_add_test(test_launcher LABELS unit SOURCES test_launcher.cpp)
rpct_add_script_test(test_cli SCRIPT test_cli.sh LABELS unit)
