"""Python eager column of `bench/run attention`: the reference formula (rpc_attention_reference in
kernels/rpc_attention/rpc_attention_ref.cpp, i.e. docs/rpc-attention.md's iteration with the scaled dual Y/mu) in PyTorch eager
(bench/pyref/attention.py), forward+backward, median time, in float32 and under CPU bfloat16 autocast (what a
PyTorch user's bf16 training runs). Then merges the C++ results (JSON lines on stdin) into a table, measures the
GEMM peak with the same threads (bench/pyref/peak.py) and reports the fused op's achieved GFLOP/s (model FLOPs of
the op, bench/pyref/flops.py) as a fraction of it, and prints, last, the one JSON line of the benchmark.

  build/bench_attention THREADS | PYTHONPATH=REPO python bench/attention/bench_attention.py
  (bench/run sets PYTHONPATH)
"""
import json
import sys
import time

import torch

from bench.pyref import flops, peak
from bench.pyref.attention import rpc_attention

TARGETS = {"fused_peak_fraction": 0.8, "bf16_vs_python": 2.0, "bf16_vs_python_bf16": 1.3}  # the project's targets


def median_ms(step, reps):
    """Median wall ms of `reps` calls of step() after one warm-up call."""
    step()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        t.append((time.perf_counter() - t0) * 1e3)
    return sorted(t)[len(t) // 2]


def time_python(s, threads, bf16=False):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    k = torch.randn(s["B"], s["H"], s["N"], s["D"], requires_grad=True)
    v = torch.randn(s["B"], s["H"], s["N"], s["D"], requires_grad=True)
    g = torch.randn(s["B"], s["H"], s["N"], s["D"])

    def step():
        k.grad = None
        v.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = rpc_attention(k, v, s["n_iter"], s["lambda"], s["C"])
        out.backward(g)

    return median_ms(step, 9 if s["N"] < 512 else 5)


def time_sdpa_bf16(s, threads):
    """LibTorch's SDPA (its CPU flash kernel) on bf16 tensors, fwd+bwd: what a symmetric layer (n_iter 0) runs on
    the composed path, softmax(K K^T / sqrt(D)) V. Median ms."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    k = torch.randn(s["B"], s["H"], s["N"], s["D"]).bfloat16().requires_grad_()
    v = torch.randn(s["B"], s["H"], s["N"], s["D"]).bfloat16().requires_grad_()
    g = torch.randn(s["B"], s["H"], s["N"], s["D"]).bfloat16()

    def step():
        k.grad = v.grad = None
        torch.nn.functional.scaled_dot_product_attention(k, k, v).backward(g)

    return median_ms(step, 9)


def main():
    rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
    threads = rows[0]["threads"] if rows else 2
    pk = peak.measure(threads)
    out = {}
    print(f"torch {torch.__version__}, threads {threads}; forward+backward, median ms; "
          "peak MB = peak live CPU tensor bytes over one fwd+bwd (counting allocator); GEMM peak "
          f"fp32 {pk['fp32_gflops']:.0f}, bf16 {pk['bf16_gflops']:.0f} GFLOP/s")
    hdr = f"{'shape':<13} {'B':>3} {'H':>2} {'N':>5} {'D':>3} {'it':>2} | {'fused ms':>9} {'composed ms':>11} {'ref ms':>9} " \
          f"{'python ms':>9} {'refFTZ ms':>9} | {'ref/fused':>9} {'py/fused':>8} {'refFTZ/fused':>12} {'comp/fused':>10} | " \
          f"{'fused MB':>8} {'comp MB':>8} {'ref MB':>8} {'fused/ref':>9}"
    print(hdr)
    print("-" * len(hdr))
    bf16_lines = []
    for r in rows:
        py = time_python(r, threads)
        py16 = time_python(r, threads, bf16=True)
        sdpa16 = time_sdpa_bf16(r, threads) if r["n_iter"] == 0 else None
        print(f"{r['shape']:<13} {r['B']:>3} {r['H']:>2} {r['N']:>5} {r['D']:>3} {r['n_iter']:>2} | "
              f"{r['fused_ms']:>9.2f} {r['composed_ms']:>11.2f} {r['reference_ms']:>9.2f} {py:>9.2f} "
              f"{r['reference_ftz_ms']:>9.2f} | "
              f"{r['reference_ms'] / r['fused_ms']:>8.2f}x {py / r['fused_ms']:>7.2f}x "
              f"{r['reference_ftz_ms'] / r['fused_ms']:>11.2f}x {r['composed_ms'] / r['fused_ms']:>9.2f}x | "
              f"{r['fused_peak_mb']:>8.2f} {r['composed_peak_mb']:>8.2f} {r['reference_peak_mb']:>8.2f} "
              f"{r['fused_peak_mb'] / r['reference_peak_mb']:>9.3f}")
        gflop = flops.attention_op_train(r["B"], r["H"], r["N"], r["D"], r["n_iter"]) / 1e9
        f32_frac = peak.fraction(gflop / (r["fused_ms"] / 1e3), pk["fp32_gflops"])
        bf16_frac = peak.fraction(gflop / (r["fused_bf16_ms"] / 1e3), pk["bf16_gflops"])
        bf16_lines.append(
            f"{r['shape']:<13} {gflop:>7.2f} | {r['fused_ms']:>8.2f} {gflop / r['fused_ms'] * 1e3:>7.0f} {f32_frac:>6.1%} | "
            f"{r['fused_bf16_ms']:>8.2f} {gflop / r['fused_bf16_ms'] * 1e3:>7.0f} {bf16_frac:>6.1%} | {py:>9.2f} {py16:>9.2f} | "
            f"{py / r['fused_bf16_ms']:>11.2f}x {py16 / r['fused_bf16_ms']:>12.2f}x | "
            f"{'' if sdpa16 is None else f'{sdpa16:9.2f}':>9}")
        out[r["shape"]] = {"fused_ms": r["fused_ms"], "composed_ms": r["composed_ms"], "reference_ms": r["reference_ms"],
                           "python_ms": round(py, 2), "reference_ftz_ms": r["reference_ftz_ms"],
                           "fused_peak_mb": r["fused_peak_mb"], "composed_peak_mb": r["composed_peak_mb"],
                           "reference_peak_mb": r["reference_peak_mb"], "fused_bf16_ms": r["fused_bf16_ms"],
                           "python_bf16_ms": round(py16, 2), "fused_peak_fraction": f32_frac,
                           "fused_bf16_peak_fraction": bf16_frac, "gflop": round(gflop, 3),
                           "fused_bf16_peak_mb": r["fused_bf16_peak_mb"]}
        if sdpa16 is not None:
            out[r["shape"]]["sdpa_bf16_ms"] = round(sdpa16, 2)
    print()
    print("GFLOP = the op's model FLOPs, fwd+bwd (bench/pyref/flops.py); GFLOP/s and its fraction of the same dtype's "
          "GEMM peak; py16 = Python eager under bf16 autocast; sdpa16 = LibTorch's SDPA on bf16 "
          "tensors (n_iter 0 shapes: the composed path)")
    print(f"{'shape':<13} {'GFLOP':>7} | {'fp32 ms':>8} {'GFLOP/s':>7} {'peak':>6} | {'bf16 ms':>8} {'GFLOP/s':>7} "
          f"{'peak':>6} | {'python ms':>9} {'py16 ms':>9} | {'py/fusedbf16':>11} {'py16/fusedbf16':>12} | "
          f"{'sdpa16 ms':>9}")
    for line in bf16_lines:
        print(line)
    print(f"targets: fused float32 >= {TARGETS['fused_peak_fraction']:.0%} of the fp32 peak (Segmenter shape); fused bf16 "
          f">= {TARGETS['bf16_vs_python']}x Python float32 and >= {TARGETS['bf16_vs_python_bf16']}x Python bf16 autocast")
    print(json.dumps({"bench": "attention", "peak_fp32_gflops": pk["fp32_gflops"], "peak_bf16_gflops": pk["bf16_gflops"],
                      "shapes": out}, separators=(",", ":")))


if __name__ == "__main__":
    main()
