# launch/: the mpirun command the launcher builds, the CLI's errors and help, and a two-node job on one
# machine that loses a node (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_launcher NO_PCH LABELS unit SOURCES test_launcher.cpp)
rpct_add_script_test(test_cli SCRIPT test_cli.sh LABELS unit)
rpct_add_script_test(test_two_nodes SCRIPT test_two_nodes.sh LABELS mpi slow TIMEOUT 600)
