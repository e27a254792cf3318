# robust/: OOD metrics against scikit-learn, mCE from hand-made tables, attacks, and `rpctrain bench classify`
# end to end (see tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_ood_metrics LABELS unit SOURCES test_ood_metrics.cpp)
rpct_add_test(test_corruption_metrics LABELS unit SOURCES test_corruption_metrics.cpp)
rpct_add_test(test_attacks LABELS unit SOURCES test_attacks.cpp)
rpct_add_test(test_suite LABELS unit SOURCES test_suite.cpp)
rpct_add_script_test(test_bench_classify SCRIPT test_bench_classify.sh LABELS mpi slow TIMEOUT 600)
