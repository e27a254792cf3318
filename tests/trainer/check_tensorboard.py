"""Reads a run's TensorBoard events with TensorBoard's own reader (EventAccumulator) and checks them against
the run's metrics.jsonl (tests/trainer/test_tensorboard_events.sh).

  check_tensorboard.py match RUN_DIR        every scalar of metrics.jsonl (the mapping of trainer/metrics.h
                                            tensorboard_scalars) is in RUN_DIR/tb at its step with the same
                                            float32 value, and TensorBoard has no tag or point besides them;
                                            each tag's steps strictly increase (no duplicate after a resume)
  check_tensorboard.py count DIR            prints the number of scalar points TensorBoard reads from DIR
"""
import json
import math
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

STEP_TAGS = {"loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm"}
EPOCH_TAGS = {"train_loss": "train/epoch_loss", "images_per_s": "train/images_per_s",
              "skipped_steps": "train/skipped_steps", "skipped_samples": "data/skipped_samples",
              "loader_wait_s": "data/loader_wait_s", "elapsed_s": "time/elapsed_s", "epoch": "train/epoch"}
EPOCH_SKIPPED = {"kind", "step", "lr"}


def expected_points(metrics_path):
    """{tag: {step: value}} from metrics.jsonl; a step logged twice (before and after a resume) keeps the later."""
    points = {}
    for line in open(metrics_path):
        rec = json.loads(line)
        kind = rec.get("kind")
        for name, value in rec.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value is None:
                continue
            if kind == "step":
                tag = STEP_TAGS.get(name)
            elif kind == "epoch" and name not in EPOCH_SKIPPED:
                tag = EPOCH_TAGS.get(name) or "test/" + ("loss" if name == "test_loss" else name)
            else:
                tag = None
            if tag:
                points.setdefault(tag, {})[rec["step"]] = value
    return points


def read(tb_dir):
    acc = EventAccumulator(tb_dir, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def match(run):
    acc = read(run + "/tb")
    want = expected_points(run + "/metrics.jsonl")
    got_tags = set(acc.Tags()["scalars"])
    bad = []
    if got_tags != set(want):
        bad.append(f"tags: TensorBoard {sorted(got_tags)} vs metrics.jsonl {sorted(want)}")
    n = 0
    for tag in sorted(got_tags & set(want)):
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        if any(b <= a for a, b in zip(steps, steps[1:])):
            bad.append(f"{tag}: steps not strictly increasing (a duplicate or a resume's overlap): {steps}")
        got = {e.step: e.value for e in events}
        if set(got) != set(want[tag]):
            bad.append(f"{tag}: steps {sorted(got)} vs metrics.jsonl {sorted(want[tag])}")
        for step, value in want[tag].items():
            if step in got and np.float32(value) != np.float32(got[step]) and not (math.isnan(value) and math.isnan(got[step])):
                bad.append(f"{tag} step {step}: TensorBoard {got[step]!r} vs metrics.jsonl {value!r}")
            n += 1
        if any(e.wall_time <= 0 for e in events):
            bad.append(f"{tag}: an event without a wall time")
    for b in bad[:20]:
        print("FAIL", b)
    if not bad:
        print(f"ok   {n} points in {len(got_tags)} tags equal metrics.jsonl's (float32), steps strictly increasing")
    return 0 if not bad else 1


def count(tb_dir):
    acc = read(tb_dir)
    print(sum(len(acc.Scalars(t)) for t in acc.Tags()["scalars"]))
    return 0


if __name__ == "__main__":
    sys.exit({"match": match, "count": count}[sys.argv[1]](sys.argv[2]))
