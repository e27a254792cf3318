"""Last stage of `bench/run segmenter`: rpctrain's warm images/s (from its metrics.jsonl, bench/pyref/metrics.py)
against each PyTorch column's JSON line (WORK/<column>.json: eager, compiled), the ratios, each side's peak
memory (the largest max RSS over its ranks, GNU time: WORK/<column>.rss.<rank>), and the achieved GFLOP/s
(bench/pyref/flops.py, from the rpctrain run's config) as a fraction of the float32 GEMM peak (--peak: the JSON of
bench/pyref/peak.py). Prints a table and, last, one JSON line: ratio (vs eager), ratio_compiled, peak_fraction.
  summarize.py --metrics M --run RUN --ranks R --batch B --cpp-rss PREFIX --work WORK --peak JSON"""
import argparse
import json
import os

from bench.pyref import config as rconfig
from bench.pyref import flops
from bench.pyref.metrics import warm_images_per_s
from bench.pyref.peak import fraction
from bench.segmenter.segmenter_ref import segmenter_spec

TARGET_RATIO = 1.5  # the project's target: rpctrain >= 1.5x PyTorch eager DDP in float32


def peak_rss_mib(prefix, ranks):
    """The largest max RSS of the ranks' GNU time files PREFIX.<rank> (last line: KiB)."""
    return max(int(open(f"{prefix}.{r}").read().split()[-1]) for r in range(ranks)) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    for a in ("--metrics", "--run", "--cpp-rss", "--work", "--peak"):
        ap.add_argument(a, required=True)
    ap.add_argument("--ranks", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    a = ap.parse_args()
    peak = json.loads(a.peak)
    fpi = flops.segmenter_train_step(segmenter_spec(rconfig.load(a.run)), 1)
    ours, ours_mib = warm_images_per_s(a.metrics, a.ranks * a.batch), peak_rss_mib(a.cpp_rss, a.ranks)
    cols = {}
    for c in ("eager", "compiled"):
        if os.path.exists(os.path.join(a.work, f"{c}.json")):
            py = json.loads(open(os.path.join(a.work, f"{c}.json")).read())
            cols[c] = (py, peak_rss_mib(os.path.join(a.work, f"{c}.rss"), a.ranks))
    any_py = next(iter(cols.values()))[0]
    print(f"Segmenter (Seg-Tiny shape, crop {any_py['crop']}), {a.ranks} ranks x batch {a.batch}, {any_py['threads']} "
          f"thread per rank, optimizer {any_py['optimizer']}, torch {any_py['torch']}; images/s of all ranks over warm "
          f"steps; {fpi / 1e9:.1f} GFLOP per image (bench/pyref/flops.py); fp32 GEMM peak {peak['fp32_gflops']:.0f} "
          f"GFLOP/s ({peak['threads']} threads)")
    print(f"{'side':24s} {'images/s':>9s} {'GFLOP/s':>8s} {'of peak':>8s} {'rpctrain/it':>11s} "
          f"{'peak RSS MiB/rank':>18s} {'compile s':>9s}")

    def row(label, rate, mib, vs="", cs=""):
        g = rate * fpi / 1e9
        print(f"{label:24s} {rate:9.3f} {g:8.1f} {g / peak['fp32_gflops']:7.1%} {vs:>11s} {mib:18.0f} {cs:>9s}")

    row("rpctrain", ours, ours_mib)
    result = {"bench": "segmenter", "ranks": a.ranks, "batch_per_rank": a.batch, "crop": any_py["crop"],
              "rpctrain_img_s": round(ours, 3), "rpctrain_peak_rss_mib": round(ours_mib),
              "gflops_per_image": round(fpi / 1e9, 3), "peak_fp32_gflops": peak["fp32_gflops"],
              "peak_fraction": fraction(ours * fpi / 1e9, peak["fp32_gflops"]), "target": TARGET_RATIO,
              "optimizer": any_py["optimizer"], "pytorch_steps": any_py["steps"]}
    for c, (py, mib) in cols.items():
        r = ours / py["images_per_s"]
        row(f"PyTorch {c} (DDP)", py["images_per_s"], mib, f"{r:.2f}x", f"{py['compile_s']:.1f}" if py["compile_s"] else "")
        key = "ratio" if c == "eager" else f"ratio_{c}"
        result[key] = round(r, 3)
        prefix = "pytorch" if c == "eager" else f"pytorch_{c}"
        result[f"{prefix}_img_s"] = py["images_per_s"]
        result[f"{prefix}_peak_rss_mib"] = round(mib)
        if py["compile_s"]:
            result[f"{prefix}_compile_s"] = py["compile_s"]
    if "ratio" in result:
        print(f"ratio vs eager {result['ratio']:.2f}x (target {TARGET_RATIO}x: "
              f"{'met' if result['ratio'] >= TARGET_RATIO else 'not met'}); memory rpctrain / PyTorch eager "
              f"{ours_mib / cols['eager'][1]:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
