"""Last stage of `bench/run train-step`: turns the runs listed in RUNS_FILE (lines "name column RUN_DIR" for the
rpctrain columns, "name column {pytorch json}" for the PyTorch ones) and the GEMM peak (bench/pyref/peak.py's JSON)
into a table and, last, one JSON line. rpctrain's warm rate comes from its metrics.jsonl: each epoch line holds
the cumulative images/s over the train steps so far, so the train seconds after epoch k are
T_k = steps_k x global_batch / images_per_s_k, and the warm rate is the images of epochs 2..E over T_E - T_1
(epoch 1 is the warm-up; bench/pyref/metrics.py). Medians over rounds.

Achieved GFLOP/s = images/s x the model's training FLOPs per image (bench/pyref/flops.py, from the rpctrain run's
config); peak_fraction is rpctrain's float32 rate over the float32 GEMM peak, bf16_peak_fraction rpctrain's bf16
rate over the bf16 peak.
JSON per model: rpctrain_img_s, pytorch_img_s (eager float32), ratio (rpctrain float32 / eager float32), and
where measured ratio_compiled (rpctrain float32 / compiled float32), ratio_bf16_compiled (rpctrain bf16 / compiled
bf16), peak_fraction, the other columns' images/s, PyTorch's compile seconds."""
import json
import os
import statistics
import sys

from bench.pyref import config as rconfig
from bench.pyref import flops, vit
from bench.pyref.metrics import warm_images_per_s
from bench.pyref.peak import fraction

COLUMNS = ("rpctrain", "rpctrain_bf16", "eager", "compiled", "compiled_bf16")


def main():
    runs_file, ranks, batch, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    rates, compile_s, flops_per_image = {}, {}, {}
    for line in open(runs_file):
        name, column, rest = line.rstrip("\n").split(" ", 2)
        if column.startswith("rpctrain"):
            rate = warm_images_per_s(os.path.join(rest, "metrics.jsonl"), ranks * batch)
            flops_per_image[name] = flops.vit_train_step(vit.vit_spec(rconfig.load(rest)), 1)
        else:
            py = json.loads(rest)
            rate = py["images_per_s"]
            compile_s.setdefault(name, {}).setdefault(column, []).append(py["compile_s"])
        rates.setdefault(name, {}).setdefault(column, []).append(rate)
    print(f"{ranks} ranks x batch {batch}, 1 thread per rank; images/s of all ranks over warm steps (median of "
          f"rounds); GFLOP/s = images/s x model FLOPs (bench/pyref/flops.py); GEMM peak {ranks} threads: "
          f"fp32 {peak['fp32_gflops']:.0f}, bf16 {peak['bf16_gflops']:.0f} GFLOP/s")
    result = {"bench": "train-step", "ranks": ranks, "batch_per_rank": batch,
              "peak_fp32_gflops": peak["fp32_gflops"], "peak_bf16_gflops": peak["bf16_gflops"], "models": {}}
    print(f"{'model':14s} {'column':14s} {'rounds':>6s} {'img/s':>9s} {'GFLOP/s':>8s} {'of peak':>8s} "
          f"{'rpctrain/it':>11s} {'compile s':>9s}")
    for name, cols in rates.items():
        med = {c: statistics.median(v) for c, v in cols.items()}
        fpi = flops_per_image[name]
        out = {}
        for c in COLUMNS:
            if c not in med:
                continue
            g = med[c] * fpi / 1e9
            pk = peak["bf16_gflops"] if c.endswith("bf16") else peak["fp32_gflops"]
            ours = med.get("rpctrain_bf16" if c.endswith("bf16") else "rpctrain")
            vs = f"{ours / med[c]:10.2f}x" if ours and not c.startswith("rpctrain") else f"{'':11s}"
            cs = statistics.median(compile_s[name][c]) if c in compile_s.get(name, {}) else None
            print(f"{name:14s} {c:14s} {len(cols[c]):6d} {med[c]:9.1f} {g:8.1f} {g / pk:7.1%} {vs} "
                  f"{'' if not cs else f'{cs:9.1f}'}")
            out[f"{c}_img_s"] = round(med[c], 1)
            if cs:
                out[f"{c}_compile_s"] = round(cs, 1)
        m = {"gflops_per_image": round(fpi / 1e9, 4), "rounds": len(next(iter(cols.values())))}
        if "rpctrain" in med:
            m["rpctrain_img_s"] = round(med["rpctrain"], 1)
            m["peak_fraction"] = fraction(med["rpctrain"] * fpi / 1e9, peak["fp32_gflops"])
        if "rpctrain_bf16" in med:
            m["bf16_peak_fraction"] = fraction(med["rpctrain_bf16"] * fpi / 1e9, peak["bf16_gflops"])
        if "eager" in med:
            m["pytorch_img_s"] = round(med["eager"], 1)
        for key, ours, theirs in (("ratio", "rpctrain", "eager"), ("ratio_compiled", "rpctrain", "compiled"),
                                  ("ratio_bf16_compiled", "rpctrain_bf16", "compiled_bf16"),
                                  ("ratio_bf16_eager", "rpctrain_bf16", "eager")):
            if ours in med and theirs in med:
                m[key] = round(med[ours] / med[theirs], 3)
        result["models"][name] = m | out
    if "ratio" in result["models"].get("fmnist_vit", {}):
        result["ratio"] = result["models"]["fmnist_vit"]["ratio"]  # the main job's model
    print(json.dumps(result))


if __name__ == "__main__":
    main()
