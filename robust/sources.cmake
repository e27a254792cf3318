# robust/: robustness benchmarks on the trainer's floor (may include trainer/, models/, datasets/, core/;
# trainer/ never includes robust/, launch/ does): corruptions, attacks, OOD metrics, the suites and reports
# of `rpctrain bench classify`.
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/attacks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_classify.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/corruption_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/corruptions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ood_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/suite.cpp
)
