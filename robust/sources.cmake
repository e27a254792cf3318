# robust/: robustness benchmarks, on the trainer floor: may include trainer/, models/, datasets/ and
# core/; trainer/ never includes robust/, launch/ does. Its own library: the corruptions, attacks, OOD metrics,
# the suites and reports of `rpctrain bench classify` and `bench segment` (rpctrain links it). Only robust/ links OpenCV (core + imgproc, Debian's
# libopencv-imgproc-dev: GaussianBlur, filter2D, resize, Canny, distanceTransform as the package calls them).
find_path(RPCT_OPENCV_INCLUDE opencv2/imgproc.hpp PATH_SUFFIXES opencv4 REQUIRED)
find_library(RPCT_OPENCV_CORE opencv_core REQUIRED)
find_library(RPCT_OPENCV_IMGPROC opencv_imgproc REQUIRED)

# The frost images ship inside the imagecorruptions package (scripts/setup.sh installs it into its own
# venv); their folder is compiled in as the default, $RPCT_FROST_DIR overrides it at run time.
set(RPCT_CORRUPT_PYTHON "$ENV{HOME}/.cache/rpctrain/venv-corrupt/bin/python" CACHE FILEPATH
    "python with the imagecorruptions package (frost images, comparison tests, bench/run corruptions)")
set(RPCT_FROST_DIR "")
if(EXISTS "${RPCT_CORRUPT_PYTHON}")
  execute_process(COMMAND ${RPCT_CORRUPT_PYTHON} -c
                  "import imagecorruptions, os; print(os.path.join(os.path.dirname(imagecorruptions.__file__), 'frost'))"
                  OUTPUT_VARIABLE RPCT_FROST_DIR OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _frost_rc)
  if(NOT _frost_rc EQUAL 0)
    set(RPCT_FROST_DIR "")
  endif()
endif()
message(STATUS "rpctrain: frost images '${RPCT_FROST_DIR}' (from ${RPCT_CORRUPT_PYTHON})")

add_library(rpct_robust STATIC
  ${CMAKE_CURRENT_LIST_DIR}/corruptions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/corruption_ops.cpp
  ${CMAKE_CURRENT_LIST_DIR}/corruption_numerics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/attacks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_classify.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_pictures.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_runner.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_segment.cpp
  ${CMAKE_CURRENT_LIST_DIR}/corruption_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ood_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/suite.cpp
)
target_include_directories(rpct_robust PUBLIC ${RPCT_OPENCV_INCLUDE})
target_link_libraries(rpct_robust PUBLIC rpct_core ${RPCT_OPENCV_IMGPROC} ${RPCT_OPENCV_CORE})
target_precompile_headers(rpct_robust REUSE_FROM rpct_pch)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/corruptions.cpp PROPERTIES
  COMPILE_DEFINITIONS "RPCT_FROST_DIR_DEFAULT=\"${RPCT_FROST_DIR}\"")

# corruption generation images/s, C++ vs the Python package (bench/run corruptions)
add_executable(corruption_bench EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/corruptions/corruption_bench.cpp)
add_dependencies(benchmarks corruption_bench)
target_link_libraries(corruption_bench PRIVATE rpct_robust)
target_precompile_headers(corruption_bench REUSE_FROM rpct_pch)
