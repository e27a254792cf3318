"""Upper bound of a patch-level segmentation decoder on Fashion-MNIST scenes (bench/RESULTS.md, segmentation job).

Reads the label maps of the scenes `rpctrain prepare-data fashion-mnist-segmentation` wrote (ADEChallengeData2016
layout: annotations/<split>/*.png, 1 = background, item class c = c + 2, 0 = ignored; the training ids after
reduce_zero_label are the value - 1, as rpctrain's loader gives them). The "perfect" decoder knows each patch's
class fractions exactly (avg-pooled one-hot labels), upsamples them bilinearly to the image (as the Segmenter does
its logits) and takes the argmax: what is left is the error of predicting at patch resolution only. Prints that
mIoU (the classes of class_names.txt, 11: background + the 10 Fashion-MNIST classes; mmseg's convention: classes
absent from both labels and predictions excluded).

  python -m bench.segmenter.scene_upper_bound --data DIR [--split validation] [--patch 7] [--scenes N]
      DIR: prepare-data's --out directory (or the ADEChallengeData2016 directory in it), e.g. the segmentation
      job's runs/data/fmnist_seg (scripts/seg_job.sh)
  python -m bench.segmenter.scene_upper_bound [--scenes 200] [--size 56 --min-items 2 --max-items 3 --min-scale 1
      --max-scale 1.5 --foreground 10 --no-overlap --seed S] [--rpctrain build/rpctrain]
      without --data: runs prepare-data with these scene arguments (--val SCENES) into a temporary directory first
(from the repository root, or `python bench/segmenter/scene_upper_bound.py` with the root on PYTHONPATH: the PNG
reader is bench/pyref/png.py).
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from bench.pyref.png import read_png

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
IGNORE = 255


def default_rpctrain():
    build = os.environ.get("RPCT_BUILD") or os.path.join(REPO, "build")
    return os.path.join(build, "rpctrain")


def prepare(a, out):
    """Runs prepare-data fashion-mnist-segmentation into `out` with the scene arguments of `a` (--val a.scenes);
    returns the ADEChallengeData2016 directory."""
    cmd = [a.rpctrain, "prepare-data", "fashion-mnist-segmentation", "--out", out, "--train", "0",
           "--val", str(a.scenes), "--size", str(a.size), "--min-items", str(a.min_items),
           "--max-items", str(a.max_items), "--min-scale", str(a.min_scale), "--max-scale", str(a.max_scale),
           "--foreground", str(a.foreground)] + (["--no-overlap"] if a.no_overlap else []) + \
          (["--seed", str(a.seed)] if a.seed is not None else []) + (["--source", a.source] if a.source else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scene_upper_bound: {' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return os.path.join(out, "ADEChallengeData2016")


def ade_root(path):
    root = os.path.join(path, "ADEChallengeData2016")
    return root if os.path.isdir(root) else path


def upper_bound(root, split, patch, limit):
    """(mIoU, scenes) of the patch-level oracle over the first `limit` label maps (all with None) of `split`."""
    files = sorted(glob.glob(os.path.join(root, "annotations", split, "*.png")))[:limit]
    if not files:
        raise SystemExit(f"scene_upper_bound: no annotations/{split}/*.png under {root}")
    with open(os.path.join(root, "class_names.txt")) as f:
        classes = sum(1 for line in f if line.strip())
    conf = np.zeros((classes, classes))
    for path in files:
        raw = read_png(path).astype(np.int64)
        lab = np.where(raw == 0, IGNORE, raw - 1)  # reduce_zero_label
        valid = lab != IGNORE
        one_hot = F.one_hot(torch.from_numpy(np.where(valid, lab, 0)), classes).permute(2, 0, 1).float()
        one_hot *= torch.from_numpy(valid)  # ignored pixels count for no class
        fractions = F.avg_pool2d(one_hot[None], patch)
        pred = F.interpolate(fractions, size=lab.shape, mode="bilinear", align_corners=False).argmax(1)[0].numpy()
        conf += np.bincount(lab[valid] * classes + pred[valid], minlength=classes * classes).reshape(classes, classes)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    return (inter[union > 0] / union[union > 0]).mean(), len(files)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="prepare-data's --out directory (or its ADEChallengeData2016); default: generate")
    p.add_argument("--split", default="validation", choices=["training", "validation"])
    p.add_argument("--patch", type=int, default=7)
    p.add_argument("--scenes", type=int, default=200, help="scenes to read (with --data: at most; default all)")
    p.add_argument("--rpctrain", default=default_rpctrain(), help="rpctrain binary (default $RPCT_BUILD or build/)")
    p.add_argument("--source", default="", help="prepare-data --source (Fashion-MNIST's directory)")
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--min-items", type=int, default=2)
    p.add_argument("--max-items", type=int, default=3)
    p.add_argument("--min-scale", type=float, default=1.0)
    p.add_argument("--max-scale", type=float, default=1.5)
    p.add_argument("--foreground", type=int, default=10)
    p.add_argument("--no-overlap", action="store_true")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    scenes_given = any(arg == "--scenes" or arg.startswith("--scenes=") for arg in sys.argv[1:])
    if a.data:
        root, where = ade_root(a.data), a.data
        miou, n = upper_bound(root, a.split, a.patch, a.scenes if scenes_given else None)
    else:
        with tempfile.TemporaryDirectory(prefix="rpct-scenes.") as tmp:
            root = prepare(a, tmp)
            where = "prepare-data fashion-mnist-segmentation (validation scenes, test-split items)"
            miou, n = upper_bound(root, "validation", a.patch, a.scenes)
    print(f"patch-level upper bound (patch {a.patch}): mIoU {miou:.4f} over {n} scenes of {where}")


if __name__ == "__main__":
    main()
