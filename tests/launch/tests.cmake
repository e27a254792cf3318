# launch/: the mpirun command the launcher builds, the CLI's errors and help, and a two-node job on one
# machine that loses a node (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_launcher NO_PCH LABELS unit SOURCES test_launcher.cpp)
rpct_add_script_test(test_cli SCRIPT test_cli.sh LABELS unit)
# docs/configs.md = `rpctrain config --list` (no drift), --explain.
rpct_add_script_test(test_config_docs SCRIPT test_config_docs.sh LABELS unit)
rpct_add_script_test(test_two_nodes SCRIPT test_two_nodes.sh LABELS mpi slow TIMEOUT 600)
# RPCT_TCMALLOC: rpctrain loads tcmalloc_minimal (nothing calls it by name, so a linker with --as-needed would
# drop it silently and the CPU training would run ~15% slower on glibc's malloc).
if(RPCT_TCMALLOC)
  add_test(NAME test_tcmalloc_linked COMMAND sh -c "ldd \"$1\" | grep -q 'libtcmalloc_minimal\\.so'" _ $<TARGET_FILE:rpctrain>)
  _rpct_test_properties(test_tcmalloc_linked "unit" "")
endif()
# Under a real Slurm (label slurm): scripts/slurm_local.sh starts a one-machine cluster (two slurmd "nodes")
# for these tests and stops it after them (ctest fixtures); the four tests take turns on it.
string(MD5 _rpct_build_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${_rpct_build_hash}" 0 8 _rpct_build_hash)
set(RPCT_SLURM_DIR "/tmp/rpct-slurm-${_rpct_build_hash}")  # short: munged's socket path has a length limit
add_test(NAME slurm_cluster_start COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/slurm_local.sh start ${RPCT_SLURM_DIR})
add_test(NAME slurm_cluster_stop COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/slurm_local.sh stop ${RPCT_SLURM_DIR})
set_tests_properties(slurm_cluster_start PROPERTIES FIXTURES_SETUP slurm LABELS "slurm" TIMEOUT 60)
set_tests_properties(slurm_cluster_stop PROPERTIES FIXTURES_CLEANUP slurm LABELS "slurm" TIMEOUT 60)
foreach(mode sbatch preempt scancel srun)
  rpct_add_script_test(test_slurm_${mode} SCRIPT test_slurm.sh LABELS slurm mpi slow TIMEOUT 600
                       ARGS ${mode} ${RPCT_SLURM_DIR})
  set_tests_properties(test_slurm_${mode} PROPERTIES FIXTURES_REQUIRED slurm RESOURCE_LOCK slurm_cluster)
endforeach()
