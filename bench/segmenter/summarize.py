"""Last stage of `bench/run segmenter`: rpctrain's warm images/s (from its metrics.jsonl,
bench/pyref/metrics.py) against the PyTorch side's JSON line, the ratio, and each side's
peak memory (the largest max RSS over its ranks, GNU time). Prints a table and, last, one JSON line.
  summarize.py METRICS_JSONL PYTORCH_JSON RANKS BATCH_PER_RANK CPP_RSS_PREFIX PY_RSS_PREFIX"""
import json
import sys

from bench.pyref.metrics import warm_images_per_s

TARGET_RATIO = 1.3  # the target: rpctrain >= 1.3x PyTorch eager DDP


def peak_rss_mib(prefix, ranks):
    """The largest max RSS of the ranks' GNU time files PREFIX.<rank> (last line: KiB)."""
    return max(int(open(f"{prefix}.{r}").read().split()[-1]) for r in range(ranks)) / 1024.0


def main():
    metrics, py_json, ranks, batch, cpp_rss, py_rss = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        sys.argv[5], sys.argv[6]
    py = json.loads(py_json)
    ours, theirs = warm_images_per_s(metrics, ranks * batch), py["images_per_s"]
    ours_mib, theirs_mib = peak_rss_mib(cpp_rss, ranks), peak_rss_mib(py_rss, ranks)
    ratio = ours / theirs
    print(f"Segmenter (Seg-Tiny shape, crop {py['crop']}), {ranks} ranks x batch {batch}, {py['threads']} thread per "
          f"rank, optimizer {py['optimizer']}, torch {py['torch']}; images/s of all ranks over warm steps")
    print(f"{'side':22s} {'images/s':>9s} {'peak RSS MiB/rank':>18s}")
    print(f"{'rpctrain':22s} {ours:9.3f} {ours_mib:18.0f}")
    print(f"{'PyTorch eager (DDP)':22s} {theirs:9.3f} {theirs_mib:18.0f}")
    print(f"ratio {ratio:.2f}x (target {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'not met'}); "
          f"memory rpctrain / PyTorch {ours_mib / theirs_mib:.2f}")
    print(json.dumps({"bench": "segmenter", "ranks": ranks, "batch_per_rank": batch, "crop": py["crop"],
                      "rpctrain_img_s": round(ours, 3), "pytorch_img_s": round(theirs, 3), "ratio": round(ratio, 3),
                      "target": TARGET_RATIO, "rpctrain_peak_rss_mib": round(ours_mib),
                      "pytorch_peak_rss_mib": round(theirs_mib), "optimizer": py["optimizer"],
                      "pytorch_steps": py["steps"]}))


if __name__ == "__main__":
    main()
