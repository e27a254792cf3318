# distributed/: collectives and GradSync under mpirun -np 2, and fault handling of a training job (a stuck
# rank, an early exit, a config mismatch, a SIGSTOPped rank named by the watchdog and restarted by the
# launcher) (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_dist LABELS mpi threads SOURCES test_dist.cpp TIMEOUT 300)
rpct_add_test(test_progress_board NO_PCH LABELS unit threads SOURCES test_progress_board.cpp)
rpct_add_script_test(test_faults SCRIPT test_faults.sh LABELS mpi slow TIMEOUT 400)
# NCCL all-reduce / broadcast against closed-form values on the GPU(s) (label gpu: without a device every case
# skips and ctest reports Skipped, not Passed: tests/CMakeLists.txt);
# one rank here, two under scripts/gpu_check.sh on a machine with two GPUs.
rpct_add_test(test_nccl LABELS gpu SOURCES test_nccl.cpp MPI_MAIN)
