# robust/: the corruptions. test_corruptions: C++ properties (determinism per seed, seeds
# differ, any size down to 1x1, errors); test_corruptions_vs_package: each corruption and severity against
# the imagecorruptions package (kernels fed the package's own random draws, then corrupt()'s draws by
# their statistics), run by the package's python (RPCT_CORRUPT_PYTHON, installed by scripts/setup.sh).
add_executable(test_corruptions ${CMAKE_CURRENT_LIST_DIR}/test_corruptions.cpp)
target_precompile_headers(test_corruptions REUSE_FROM rpct_pch)
target_link_libraries(test_corruptions PRIVATE rpct_robust GTest::gtest GTest::gtest_main)
add_test(NAME test_corruptions COMMAND test_corruptions)
_rpct_test_properties(test_corruptions "unit" "")

add_executable(corruption_driver ${CMAKE_CURRENT_LIST_DIR}/corruption_driver.cpp)
target_precompile_headers(corruption_driver REUSE_FROM rpct_pch)
target_link_libraries(corruption_driver PRIVATE rpct_robust)
add_test(NAME test_corruptions_vs_package
         COMMAND ${RPCT_CORRUPT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/compare_corruptions.py $<TARGET_FILE:corruption_driver>)
_rpct_test_properties(test_corruptions_vs_package "unit" 300)

# The suites of `rpctrain bench classify` / `bench segment`: OOD metrics against scikit-learn, mCE from hand-made tables, attacks,
# the evaluation sources, and the command end to end (rpctrain).
rpct_add_test(test_ood_metrics NO_PCH LABELS unit SOURCES test_ood_metrics.cpp)
foreach(t test_corruption_metrics test_attacks test_suite)
  rpct_add_test(${t} LABELS unit SOURCES ${t}.cpp)
endforeach()
# The benchmarks' tables and plots (robust/bench_report.h) from hand-made results, every cell and point.
rpct_add_test(test_bench_report NO_PCH LABELS unit SOURCES test_bench_report.cpp)
foreach(t test_ood_metrics test_corruption_metrics test_attacks test_suite test_bench_report)
  target_link_libraries(${t} PRIVATE rpct_robust)
endforeach()
rpct_add_script_test(test_bench_classify SCRIPT test_bench_classify.sh LABELS mpi slow TIMEOUT 600)
rpct_add_script_test(test_bench_segment SCRIPT test_bench_segment.sh LABELS mpi slow TIMEOUT 300)
