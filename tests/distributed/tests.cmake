# Distributed tests run under mpirun -np 2 (label mpi); as root Open MPI needs the ALLOW vars.
set(RPCT_MPIRUN ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 --oversubscribe --bind-to none)
set(RPCT_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;RPCT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

add_executable(test_dist distributed/test_dist.cpp distributed/mpi_gtest_main.cpp)
target_link_libraries(test_dist PRIVATE rpct_core GTest::gtest)
target_precompile_headers(test_dist REUSE_FROM rpct_pch)
add_test(NAME test_dist COMMAND ${RPCT_MPIRUN} $<TARGET_FILE:test_dist>)
set_tests_properties(test_dist PROPERTIES LABELS "mpi" ENVIRONMENT "${RPCT_MPI_ENV}" PROCESSORS 2 TIMEOUT 300)

add_test(NAME test_faults COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_faults.sh $<TARGET_FILE:rpctrain>)
set_tests_properties(test_faults PROPERTIES LABELS "mpi" ENVIRONMENT "${RPCT_MPI_ENV}" PROCESSORS 2 TIMEOUT 400)

add_test(NAME test_resume COMMAND bash ${PROJECT_SOURCE_DIR}/tests/trainer/test_resume.sh $<TARGET_FILE:rpctrain>)
set_tests_properties(test_resume PROPERTIES LABELS "mpi" ENVIRONMENT "${RPCT_MPI_ENV};RPCT_PYTHON=${RPCT_PYTHON}" PROCESSORS 2 TIMEOUT 600)
