"""Fashion-MNIST's IDX files (the gzip files in data.root) and the normalization of datasets/fashion_mnist.h."""
import gzip
import os

import numpy as np
import torch

# datasets/fashion_mnist.h: kFashionMnistMean / kFashionMnistStd (pixel / 255 over the 60k training images).
MEAN = 0.2860
STD = 0.3530
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
_FILES = {"train": "train", "test": "t10k"}


def load_raw(root, split, limit=None):
    """(n, 28, 28) uint8 images and (n,) uint8 labels of `split` (train | test), the first `limit` if given."""
    prefix = os.path.join(root, _FILES[split])
    with gzip.open(prefix + "-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:limit]
    with gzip.open(prefix + "-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    return images, labels


def normalize(pixels):
    """uint8 pixels (numpy or torch) -> float32 tensor (pixel / 255 - MEAN) / STD."""
    return (torch.as_tensor(np.asarray(pixels).astype(np.float32)) / 255.0 - MEAN) / STD


def load(root, split, limit=None):
    """(n, 1, 28, 28) float32 normalized images (contiguous) and (n,) int64 labels of `split`."""
    images, labels = load_raw(root, split, limit)
    return normalize(images[:, None]).contiguous(), torch.from_numpy(labels.astype(np.int64))
