# bench/: the replication (bench/replicate): its statistics (Student-t CDF, Welch's t-test) against
# closed forms and scipy (the corruptions venv has scipy; the torch venv running the benchmark does not), and
# `bench/run replicate --quick` end to end (every variant x 2 seeds, every table cell present and finite).
add_test(NAME test_replicate_stats
         COMMAND ${RPCT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_replicate_stats.py ${RPCT_CORRUPT_PYTHON})
_rpct_test_properties(test_replicate_stats "unit" "")
# test_replicate_stats.py imports bench.replicate.stats: the repository root on PYTHONPATH.
set_property(TEST test_replicate_stats APPEND PROPERTY ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}")
rpct_add_script_test(test_replicate_quick SCRIPT test_replicate_quick.sh LABELS mpi slow TIMEOUT 600)
# bench/pyref/flops.py (the FLOP formula behind every benchmark's GFLOP/s and fraction of peak) against a hand
# count and against torch's FlopCounterMode run on the PyTorch reference models.
add_test(NAME test_flops COMMAND ${RPCT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_flops.py)
_rpct_test_properties(test_flops "unit" "")
set_property(TEST test_flops APPEND PROPERTY ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}")
