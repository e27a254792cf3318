# launch/: the mpirun command the launcher builds, the CLI's errors and help, and a two-node job on one
# machine that loses a node (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_launcher NO_PCH LABELS unit SOURCES test_launcher.cpp)
rpct_add_script_test(test_cli SCRIPT test_cli.sh LABELS unit)
rpct_add_script_test(test_two_nodes SCRIPT test_two_nodes.sh LABELS mpi slow TIMEOUT 600)
# RPCT_TCMALLOC: rpctrain loads tcmalloc_minimal (nothing calls it by name, so a linker with --as-needed would
# drop it silently and the CPU training would run ~15% slower on glibc's malloc).
if(RPCT_TCMALLOC)
  add_test(NAME test_tcmalloc_linked COMMAND sh -c "ldd \"$1\" | grep -q 'libtcmalloc_minimal\\.so'" _ $<TARGET_FILE:rpctrain>)
  _rpct_test_properties(test_tcmalloc_linked "unit" "")
endif()
