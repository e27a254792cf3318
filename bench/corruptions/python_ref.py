"""The imagecorruptions package's side of bench/run corruptions, and the benchmark's images.

usage: python_ref.py make OUT.u8 N SIZE     writes N (SIZE, SIZE, 3) uint8 images back to back: real
                                            Fashion-MNIST test items upscaled (bilinear) to SIZE and
                                            colour-tinted, alternating with synthetic natural-ish images
       python_ref.py run IMAGES.u8 N SIZE SECONDS
                                            corrupts image k % N with corruption k % 19 at severity
                                            (k // 19) % 5 + 1 (corruption_bench.cpp's schedule), whole
                                            rounds of 95 for at least SECONDS; prints one JSON line (with the
                                            mean ms per image of each corruption)
"""
import gzip
import json
import sys
import time

import cv2
import numpy as np

import imagecorruptions


def make(out, n, size):
    with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        items = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    rng = np.random.default_rng(0)
    images = []
    for k in range(n):
        if k % 2 == 0:
            up = cv2.resize(items[k], (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float64)
            tint = rng.uniform(0.5, 1.0, 3)
            img = up[..., None] * tint + (1 - tint) * 60
        else:
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
            f1, f2 = rng.uniform(3, 12, 2)
            img = np.stack([255 * xx / size, 255 * yy / size,
                            128 + 100 * np.sin(xx / f1) * np.cos(yy / f2)], axis=-1)
            cy, cx, r = rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size, rng.uniform(0.1, 0.3) * size
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2] = rng.uniform(0, 255, 3)
            img += rng.normal(0, 6, img.shape)
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    np.stack(images).tofile(out)


def run(path, n, size, seconds):
    images = np.fromfile(path, np.uint8).reshape(n, size, size, 3)
    names = imagecorruptions.get_corruption_names("all")
    for k in range(len(names)):  # warm-up: numba compiles glass blur's loop on first use
        imagecorruptions.corrupt(images[k % n], corruption_name=names[k], severity=1)
    rnd = len(names) * 5
    per = [0.0] * len(names)  # seconds spent in each corruption
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or k % rnd != 0:
        t = time.perf_counter()
        imagecorruptions.corrupt(images[k % n], corruption_name=names[k % len(names)],
                                 severity=(k // len(names)) % 5 + 1)
        per[k % len(names)] += time.perf_counter() - t
        k += 1
    elapsed = time.perf_counter() - t0
    ms = {name: round(1000 * p / (k // len(names)), 3) for name, p in zip(names, per)}
    print(json.dumps({"images": k, "seconds": round(elapsed, 3), "img_s": round(k / elapsed, 2), "ms_per_image": ms}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
