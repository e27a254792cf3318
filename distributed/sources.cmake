# distributed/: the only code that includes mpi.h or nccl.h.
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/dist_context.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mpi_backend.cpp
  ${CMAKE_CURRENT_LIST_DIR}/grad_sync.cpp
  ${CMAKE_CURRENT_LIST_DIR}/watchdog.cpp
  ${CMAKE_CURRENT_LIST_DIR}/progress_board.cpp
)
if(RPCT_WITH_CUDA)
  find_library(RPCT_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib /usr/local/cuda/lib REQUIRED)
  target_sources(rpct_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/nccl_backend.cpp)
  target_link_libraries(rpct_core PUBLIC ${RPCT_NCCL_LIBRARY} CUDA::cudart)
endif()

add_executable(bench_allreduce EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/allreduce/bench_allreduce.cpp)
add_dependencies(benchmarks bench_allreduce)
target_link_libraries(bench_allreduce PRIVATE rpct_core)
target_precompile_headers(bench_allreduce REUSE_FROM rpct_pch)
