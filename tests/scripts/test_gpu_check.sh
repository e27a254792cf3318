#!/usr/bin/env bash
# scripts/gpu_check.sh on a machine without a GPU must build, pass the static checks, then stop where a
# device is needed with its distinct exit code (3) and a clear message. On a machine with a GPU this test
# skips (77): there the script itself is the check, run directly.
# $1: the rpctrain binary (its directory is the build directory); RPCT_SOURCE_DIR: the source tree.
set -uo pipefail
build="$(cd "$(dirname "$1")" && pwd)"
src="${RPCT_SOURCE_DIR:?}"
if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  echo "a GPU is present: run scripts/gpu_check.sh itself"; exit 77
fi
# The static check is test_cuda_resources, which this suite runs on its own: not a second time here.
out=$(RPCT_GPU_CHECK_SKIP_STATIC=1 RPCT_GPU_CHECK_LOG="$build/test_gpu_check.log" bash "$src/scripts/gpu_check.sh" \
  --build-dir "$build" 2>&1)
rc=$?
echo "$out"
fails=0
check() { if ! grep -q -- "$1" <<< "$out"; then echo "FAIL: no '$1' in the output"; fails=$((fails+1)); fi; }
[ "$rc" = 3 ] || { echo "FAIL: exit code $rc, expected 3 (no device)"; fails=$((fails+1)); }
check "2/6 static resource check"
check "NO CUDA DEVICE PRESENT"
check "gpu_check: no CUDA device present (exit 3)"
# and it said what it did not run
check "not run (they need a device): gpu tests, NCCL all-reduce, CUDA training, bench gpu-attention"
[ $fails = 0 ] && echo "ok" || exit 1
