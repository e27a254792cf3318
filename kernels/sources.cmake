# sources of this area (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  kernels/rpc_attention/rpc_attention_ref.cpp
  kernels/rpc_attention/rpc_attention_cpu.cpp
  kernels/rpc_attention/rpc_attention_op.cpp
  kernels/rpc_attention/rpc_attention_composed.cpp
  kernels/seg_loss/upsample_cross_entropy.cpp
)

# bench/run attention: the fused op vs the LibTorch-ops reference (bench/attention/run.sh).
add_executable(bench_attention EXCLUDE_FROM_ALL bench/attention/bench_attention.cpp)
add_dependencies(benchmarks bench_attention)
target_link_libraries(bench_attention PRIVATE rpct_core)
target_precompile_headers(bench_attention REUSE_FROM rpct_pch)
