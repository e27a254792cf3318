"""The machine's matrix-product peak as LibTorch's own BLAS reaches it: float32 and bfloat16 GEMM rates on large
square matrices with a given thread count (the torch wheel's libtorch_cpu is the library rpctrain links, so this
is the GEMM rpctrain's own products run on). `bench/run peak` prints it; the compute benchmarks measure it in
the same run and report their achieved GFLOP/s (bench/pyref/flops.py) as a fraction of it.

The peak of a dtype is the best rate over the sizes (MKL/oneDNN do not reach their best at one size for every
dtype: on an AMX machine bf16 peaked at 512-1024 and float32 at 2048 and above), each the median of REPS timed
products after one warm-up.

  PYTHONPATH=REPO python -m bench.pyref.peak [--threads T]   (prints a table, then one JSON line)
"""
import argparse
import json
import statistics
import time

import torch

SIZES = (512, 1024, 2048, 4096)
REPS = 5


def gemm_rate(dtype, n, reps=REPS):
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    c = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=c)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def measure(threads):
    """{"threads", "fp32_gflops", "bf16_gflops", "sizes": {dtype: {n: GFLOP/s}}} with `threads` intra-op threads
    (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sizes = {name: {n: round(gemm_rate(dt, n), 1) for n in SIZES}
                 for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    finally:
        torch.set_num_threads(before)
    return {"threads": threads, "fp32_gflops": max(sizes["fp32"].values()),
            "bf16_gflops": max(sizes["bf16"].values()), "sizes": sizes,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def fraction(gflops, peak):
    return round(gflops / peak, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    p = measure(args.threads)
    print(f"torch {torch.__version__} ({p['cpu_capability']}), {args.threads} threads: square GEMM GFLOP/s, "
          f"median of {REPS}")
    print(f"{'n':>6} {'fp32':>9} {'bf16':>9} {'bf16/fp32':>9}")
    for n in SIZES:
        f, b = p["sizes"]["fp32"][n], p["sizes"]["bf16"][n]
        print(f"{n:>6} {f:>9.1f} {b:>9.1f} {b / f:>8.2f}x")
    print(f"{'peak':>6} {p['fp32_gflops']:>9.1f} {p['bf16_gflops']:>9.1f} "
          f"{p['bf16_gflops'] / p['fp32_gflops']:>8.2f}x")
    print(json.dumps({"bench": "peak"} | p))


if __name__ == "__main__":
    main()
