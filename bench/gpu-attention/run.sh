#!/usr/bin/env bash
# bench/run gpu-attention [B]: the CUDA RPC-Attention kernels vs scaled_dot_product_attention and the
# unfused reference at N=197, H=3, D=64 (DeiT-tiny's attention), bf16 and fp32. bench/run sets
# RPCT_BUILD (build dir) and RPCT_PYTHON. Without a GPU it says so and exits 0 with status "skipped".
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
