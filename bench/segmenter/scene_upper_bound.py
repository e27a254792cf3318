"""Upper bound of a patch-level segmentation decoder on Fashion-MNIST scenes (bench/RESULTS.md, segmentation job).

Scenes like `rpctrain prepare-data fashion-mnist-segmentation` writes (a re-implementation in numpy, same rules,
not the same random numbers): SIZE x SIZE, K items of 28 x scale px pasted by nearest-neighbour scaling, an item
pixel >= FOREGROUND labelled with its class, optionally no two items' boxes overlapping (20 tries per item).
The "perfect" decoder knows each patch's class fractions exactly (avg-pooled one-hot labels), upsamples them
bilinearly to the image (as the Segmenter does its logits) and takes the argmax: what is left is the error of
predicting at patch resolution only. Prints that mIoU (11 classes, mmseg's convention: classes absent from both
labels and predictions excluded).

  python bench/segmenter/scene_upper_bound.py [--size 56 --patch 7 --min-items 2 --max-items 3 --min-scale 1
      --max-scale 1.5 --foreground 10 --no-overlap --scenes 200]
"""
import argparse
import gzip

import numpy as np
import torch
import torch.nn.functional as F

CLASSES = 11  # background + 10 Fashion-MNIST classes
PLACEMENT_TRIES = 20  # tools/prepare_data.cpp kPlacementTries


def load_test_items(root):
    images = np.frombuffer(gzip.open(f"{root}/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels


def scene(rng, items, labels, a):
    lab = np.zeros((a.size, a.size), np.int64)
    boxes = []
    for _ in range(rng.integers(a.min_items, a.max_items + 1)):
        for _ in range(PLACEMENT_TRIES):
            scale = rng.uniform(a.min_scale, a.max_scale)
            side = int(round(28 * scale))
            y0, x0 = rng.integers(0, a.size - side + 1, size=2)
            free = all(y0 >= by + bs or by >= y0 + side or x0 >= bx + bs or bx >= x0 + side for by, bx, bs in boxes)
            if free or not a.no_overlap:
                break
        else:
            continue
        boxes.append((y0, x0, side))
        i = rng.integers(0, len(items))
        src = np.minimum(27, (np.arange(side) / scale).astype(int))
        item = items[i][src][:, src]
        lab[y0:y0 + side, x0:x0 + side][item >= a.foreground] = labels[i] + 1
    return lab


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--patch", type=int, default=7)
    p.add_argument("--min-items", type=int, default=2)
    p.add_argument("--max-items", type=int, default=3)
    p.add_argument("--min-scale", type=float, default=1.0)
    p.add_argument("--max-scale", type=float, default=1.5)
    p.add_argument("--foreground", type=int, default=10)
    p.add_argument("--no-overlap", action="store_true")
    p.add_argument("--scenes", type=int, default=200)
    a = p.parse_args()
    items, labels = load_test_items(a.source)
    rng = np.random.default_rng(0)
    conf = np.zeros((CLASSES, CLASSES))
    for _ in range(a.scenes):
        lab = scene(rng, items, labels, a)
        one_hot = F.one_hot(torch.from_numpy(lab), CLASSES).permute(2, 0, 1).float()[None]
        fractions = F.avg_pool2d(one_hot, a.patch)
        pred = F.interpolate(fractions, size=lab.shape, mode="bilinear", align_corners=False).argmax(1)[0].numpy()
        conf += np.bincount(lab.ravel() * CLASSES + pred.ravel(), minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    iou = inter[union > 0] / union[union > 0]
    print(f"patch-level upper bound: mIoU {iou.mean():.4f} over {a.scenes} scenes")


if __name__ == "__main__":
    main()
