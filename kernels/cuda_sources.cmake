# CUDA build of this area (included inside if(RPCT_WITH_CUDA) after rpct_cuda is created from
# rpc_attention/rpc_attention_launch.cu, the one nvcc source; see the top-level CMakeLists.txt). nvcc
# builds for sm_80 and sm_90: keep .cu files few.
target_compile_options(rpct_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo>)
# The tensor-facing entry (torch + CUDA runtime headers, g++).
target_sources(rpct_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/rpc_attention/rpc_attention_cuda.cpp)
# bench/run gpu-attention (times the kernels against SDPA and the unfused reference).
add_executable(bench_gpu_attention EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/gpu-attention/bench_gpu_attention.cpp)
add_dependencies(benchmarks bench_gpu_attention)
target_link_libraries(bench_gpu_attention PRIVATE rpct_core)
target_precompile_headers(bench_gpu_attention REUSE_FROM rpct_pch)
