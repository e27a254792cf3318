"""Reference: the torchvision/PIL DeiT-style train transform on the same files, one thread.
usage: torchvision_ref.py DIR SECONDS  -> prints one JSON line.
timm is not installed here; its DeiT transform is RandomResizedCropAndInterpolation(bicubic) + flip +
timm RandAugment(rand-m9-mstd0.5-inc1) + ToTensor + Normalize + RandomErasing(0.25); torchvision's
RandAugment(num_ops=2, magnitude=9) is the closest stock equivalent (same op family, PIL-based)."""
import json
import os
import sys
import time

import torch
from PIL import Image
from torchvision import transforms as T

torch.set_num_threads(1)
d, seconds = sys.argv[1], float(sys.argv[2])
files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".JPEG"))
tf = T.Compose([
    T.RandomResizedCrop(224, scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC),
    T.RandomHorizontalFlip(),
    T.RandAugment(num_ops=2, magnitude=9, interpolation=T.InterpolationMode.BICUBIC),
    T.ToTensor(),
    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    T.RandomErasing(p=0.25, value="random"),
])


def load(p):
    with open(p, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


for p in files[:8]:
    tf(load(p))
n, t0 = 0, time.perf_counter()
elapsed = 0.0
while elapsed < seconds:
    for _ in range(16):
        tf(load(files[n % len(files)]))
        n += 1
    elapsed = time.perf_counter() - t0
print(json.dumps({"images": n, "seconds": round(elapsed, 3), "img_s": round(n / elapsed, 1), "threads": 1}))
