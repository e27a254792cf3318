"""How well a Fashion-MNIST classifier (an `rpctrain export` of a configs/fmnist_vit.yaml run, patch 7, width 128,
depth 4, softmax) classifies test items that lie on a larger canvas at offsets to its 7-px patch grid, as items
lie in the segmentation scenes (scripts/seg_job.sh). Each of the first 2000 test items is put on a 42 x 42
zero background at (oy, ox); the encoder runs at 42 (position embedding resized bilinearly, as the Segmenter's
encoder does); the head is applied to the mean of the normalized patch tokens whose centers lie on the item
(global_pool avg's head; a cls-token classifier is read the same way). Prints accuracy and per-class accuracy
per offset, and at the classifier's own size.

    python -m bench.segmenter.backbone_offsets EXPORT.safetensors [IMG_SIZE]   (from the repository root;
        IMG_SIZE: its model.img_size)
"""
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from bench.pyref import fashion_mnist
from bench.pyref.vit import ViT, load_exported

ITEMS, CANVAS, PATCH = 2000, 42, 7
OFFSETS = [(7, 7), (8, 8), (9, 9), (10, 10), (11, 11), (10, 7), (9, 12)]


def main():
    tensors = load_file(sys.argv[1])
    img_size = int(sys.argv[2]) if len(sys.argv) > 2 else 28
    m = dict(patch=PATCH, in_chans=1, dim=128, img_size=img_size, dropout=0.0, mlp_ratio=2.0, drop_path=0.0,
             depth=4, heads=4)
    a = dict(kind="softmax", rpc_layers=[0], attn_drop=0.0, rpc_n_iter=4, rpc_lambda=4.0)
    enc = ViT(m, a, head=False)
    load_exported(enc, tensors, sys.argv[1])
    enc.eval()
    w, b = tensors["head.weight"], tensors["head.bias"]
    images, labels = fashion_mnist.load_raw(fashion_mnist.DEFAULT_ROOT, "test", ITEMS)
    items, labels = fashion_mnist.normalize(images), torch.from_numpy(labels.astype(np.int64))
    background = (0 - fashion_mnist.MEAN) / fashion_mnist.STD
    own = (img_size - 28) // 2
    for canvas, offsets in [(img_size, [(own, own)]), (CANVAS, OFFSETS)]:
        for oy, ox in offsets:
            x = torch.full((ITEMS, 1, canvas, canvas), background)
            x[:, 0, oy:oy + 28, ox:ox + 28] = items
            centers = torch.arange(canvas // PATCH) * PATCH + PATCH / 2
            on_item = ((centers >= oy) & (centers < oy + 28))[:, None] & ((centers >= ox) & (centers < ox + 28))[None]
            with torch.no_grad():
                tokens = enc(x)[:, 1:][:, on_item.flatten()]
                pred = (tokens.mean(1) @ w.T + b).argmax(1)
            per_class = [((pred == labels) & (labels == k)).sum().item() / (labels == k).sum().item() for k in range(10)]
            print(f"canvas {canvas} offset ({oy:2d}, {ox:2d}): accuracy {(pred == labels).float().mean().item():.3f}; "
                  "per class " + " ".join(f"{p:.2f}" for p in per_class))


if __name__ == "__main__":
    main()
