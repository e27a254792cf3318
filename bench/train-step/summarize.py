"""Last stage of `bench/run train-step`: turns the runs listed in RUNS_FILE (lines "name metrics.jsonl
{pytorch json}") into a table and, last, one JSON line. rpctrain's warm rate comes from its metrics.jsonl:
each epoch line holds the cumulative images/s over the train steps so far, so the train seconds after
epoch k are T_k = steps_k x global_batch / images_per_s_k, and the warm rate is the images of epochs
2..E over T_E - T_1 (epoch 1 is the warm-up; bench/pyref/metrics.py). Medians over rounds."""
import json
import statistics
import sys

from bench.pyref.metrics import warm_images_per_s


def main():
    runs_file, ranks, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ours, theirs = {}, {}
    for line in open(runs_file):
        name, metrics, py = line.split(" ", 2)
        ours.setdefault(name, []).append(warm_images_per_s(metrics, ranks * batch))
        theirs.setdefault(name, []).append(json.loads(py)["images_per_s"])
    print(f"{ranks} ranks x batch {batch}, 1 thread per rank; images/s of all ranks over warm steps")
    print(f"{'model':14s} {'rounds':>6s} {'rpctrain':>10s} {'pytorch':>10s} {'ratio':>7s}   per round (ours/pytorch)")
    result = {"bench": "train-step", "ranks": ranks, "batch_per_rank": batch, "models": {}}
    for name in ours:
        o, t = statistics.median(ours[name]), statistics.median(theirs[name])
        rounds = " ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(ours[name], theirs[name]))
        print(f"{name:14s} {len(ours[name]):6d} {o:10.1f} {t:10.1f} {o / t:6.2f}x   {rounds}")
        result["models"][name] = {"rpctrain_img_s": round(o, 1), "pytorch_img_s": round(t, 1),
                                  "ratio": round(o / t, 3), "rounds": len(ours[name])}
    if "fmnist_vit" in result["models"]:
        result["ratio"] = result["models"]["fmnist_vit"]["ratio"]  # the main job's model
    print(json.dumps(result))


if __name__ == "__main__":
    main()
