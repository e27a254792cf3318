"""rpctrain's metrics.jsonl (one JSON object per line; kind "epoch" after each epoch)."""
import json


def warm_images_per_s(metrics_path, global_batch):
    """The training rate after the first epoch (the warm-up). Each epoch line holds the cumulative images/s over
    the train steps so far, so the train seconds after epoch k are T_k = steps_k x global_batch / images_per_s_k,
    and the warm rate is the images of epochs 2..E over T_E - T_1."""
    epochs = [e for e in map(json.loads, open(metrics_path)) if e.get("kind") == "epoch"]
    if len(epochs) < 2:
        raise SystemExit(f"summarize: {metrics_path} has {len(epochs)} epoch lines; need 2 or more")
    seconds = [e["step"] * global_batch / e["images_per_s"] for e in epochs]
    return (epochs[-1]["step"] - epochs[0]["step"]) * global_batch / (seconds[-1] - seconds[0])
