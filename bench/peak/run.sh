#!/usr/bin/env bash
# bench/run peak [threads]: the float32 and bfloat16 GEMM rates of LibTorch's BLAS on large square matrices
# (bench/pyref/peak.py), the machine limit the compute benchmarks report their fraction of.
# Env (set by bench/run): RPCT_PYTHON, PYTHONPATH (the repository root).
set -euo pipefail
"$RPCT_PYTHON" -m bench.pyref.peak --threads "${1:-${RPCT_BENCH_THREADS:-2}}"
