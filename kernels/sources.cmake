# sources of this area (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  kernels/rpc_attention/rpc_attention_ref.cpp
  kernels/rpc_attention/rpc_attention_cpu.cpp
  kernels/rpc_attention/rpc_attention_op.cpp
)

# bench/run attention: the fused op vs the LibTorch-ops reference (bench/attention/run.sh).
add_executable(bench_attention bench/attention/bench_attention.cpp)
target_link_libraries(bench_attention PRIVATE rpct_core)
target_precompile_headers(bench_attention REUSE_FROM rpct_pch)

# The op calls the CUDA kernels (issue 4) only once they exist: RPCT_WITH_CUDA and the launch file.
if(RPCT_WITH_CUDA AND EXISTS "${CMAKE_CURRENT_LIST_DIR}/rpc_attention/rpc_attention_launch.cu")
  set_property(SOURCE kernels/rpc_attention/rpc_attention_op.cpp APPEND PROPERTY COMPILE_DEFINITIONS
               RPCT_RPC_ATTENTION_CUDA=1)
endif()
