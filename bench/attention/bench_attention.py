"""Python eager column of `bench/run attention`: the reference formula (rpc_attention_reference in
kernels/rpc_attention/rpc_attention_ref.cpp, i.e. docs/rpc-attention.md's iteration with the scaled dual Y/mu) in PyTorch eager
(bench/pyref/attention.py), forward+backward, median time. Then merges the C++ results (JSON lines on stdin) into a
table and prints, last, the one JSON line of the benchmark.

  build/bench_attention THREADS | PYTHONPATH=REPO python bench/attention/bench_attention.py
  (bench/run sets PYTHONPATH)
"""
import json
import sys
import time

import torch

from bench.pyref.attention import rpc_attention


def time_python(s, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    k = torch.randn(s["B"], s["H"], s["N"], s["D"], requires_grad=True)
    v = torch.randn(s["B"], s["H"], s["N"], s["D"], requires_grad=True)
    g = torch.randn(s["B"], s["H"], s["N"], s["D"])

    def step():
        k.grad = None
        v.grad = None
        rpc_attention(k, v, s["n_iter"], s["lambda"], s["C"]).backward(g)

    step()
    reps = 9 if s["N"] < 512 else 5
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        t.append((time.perf_counter() - t0) * 1e3)
    return sorted(t)[len(t) // 2]


def main():
    rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
    out = {}
    print(f"torch {torch.__version__}, threads {rows[0]['threads'] if rows else '?'}; forward+backward, median ms; "
          "peak MB = peak live CPU tensor bytes over one fwd+bwd (counting allocator)")
    hdr = f"{'shape':<10} {'B':>3} {'H':>2} {'N':>5} {'D':>3} {'it':>2} | {'fused ms':>9} {'composed ms':>11} {'ref ms':>9} " \
          f"{'python ms':>9} {'refFTZ ms':>9} | {'ref/fused':>9} {'py/fused':>8} {'refFTZ/fused':>12} {'comp/fused':>10} | " \
          f"{'fused MB':>8} {'comp MB':>8} {'ref MB':>8} {'fused/ref':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        py = time_python(r, r["threads"])
        print(f"{r['shape']:<10} {r['B']:>3} {r['H']:>2} {r['N']:>5} {r['D']:>3} {r['n_iter']:>2} | "
              f"{r['fused_ms']:>9.2f} {r['composed_ms']:>11.2f} {r['reference_ms']:>9.2f} {py:>9.2f} "
              f"{r['reference_ftz_ms']:>9.2f} | "
              f"{r['reference_ms'] / r['fused_ms']:>8.2f}x {py / r['fused_ms']:>7.2f}x "
              f"{r['reference_ftz_ms'] / r['fused_ms']:>11.2f}x {r['composed_ms'] / r['fused_ms']:>9.2f}x | "
              f"{r['fused_peak_mb']:>8.2f} {r['composed_peak_mb']:>8.2f} {r['reference_peak_mb']:>8.2f} "
              f"{r['fused_peak_mb'] / r['reference_peak_mb']:>9.3f}")
        out[r["shape"]] = {"fused_ms": r["fused_ms"], "composed_ms": r["composed_ms"], "reference_ms": r["reference_ms"],
                           "python_ms": round(py, 2), "reference_ftz_ms": r["reference_ftz_ms"],
                           "fused_peak_mb": r["fused_peak_mb"], "composed_peak_mb": r["composed_peak_mb"],
                           "reference_peak_mb": r["reference_peak_mb"]}
    print(json.dumps({"bench": "attention", "shapes": out}, separators=(",", ":")))


if __name__ == "__main__":
    main()
