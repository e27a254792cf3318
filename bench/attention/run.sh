#!/usr/bin/env bash
# bench/run attention: fused RPC-Attention op vs the composed op (SDPA + PCP steps) vs the LibTorch-ops
# reference (C++, bench_attention) vs the same formula in PyTorch Python eager, DeiT-Tiny and Segmenter
# shapes, 2 threads.
# Env (set by bench/run): RPCT_BUILD = build dir, RPCT_PYTHON = python with torch, PYTHONPATH = the repository
# root (bench.pyref).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
threads="${RPCT_BENCH_THREADS:-2}"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
[ -x "$RPCT_BUILD/bench_attention" ] || cmake --build "$RPCT_BUILD" --target bench_attention >&2
"$RPCT_BUILD/bench_attention" "$threads" | "$RPCT_PYTHON" "$here/bench_attention.py"
