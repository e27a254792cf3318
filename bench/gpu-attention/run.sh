#!/usr/bin/env bash
# bench/run gpu-attention [ITERS]: one scaled_dot_product_attention call vs RPC-Attention (n_iter 4)
# composed (SDPA + PCP kernels), fused (the custom CUDA kernels) and unfused (LibTorch ops), forward and
# forward+backward, bf16, DeiT-Tiny (N 197) and Segmenter (N 1025) shapes: ms, TFLOP/s, GB/s, x SDPA.
# bench/run sets RPCT_BUILD (build dir) and RPCT_PYTHON. Without a CUDA build or without a GPU it says
# so and exits 0 with a JSON line {"status":"skipped","reason":...}.
set -euo pipefail
build="${RPCT_BUILD:?run through bench/run (RPCT_BUILD not set)}"
bin="$build/bench_gpu_attention"
if [ ! -x "$bin" ]; then
  echo "gpu-attention: $bin not built (this build has RPCT_WITH_CUDA=OFF: it needs nvcc and a CUDA LibTorch)"
  echo '{"bench":"gpu-attention","status":"skipped","reason":"built without CUDA"}'
  exit 0
fi
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-attention: no NVIDIA GPU on this machine (nvidia-smi finds none); nothing timed."
  echo '{"bench":"gpu-attention","status":"skipped","reason":"no GPU"}'
  exit 0
fi
exec "$bin" "$@"
