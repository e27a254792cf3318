"""PyTorch column of `bench/run train-step`: the same ViT, recipe and per-rank batch as `rpctrain train`
(models/vit.cpp, models/attention.cpp, trainer/trainer.cpp), trained with DistributedDataParallel over
gloo, one process per rank under mpirun, 1 intra-op thread each. Times `--steps` warm steps after
`--warmup-steps` and prints, last, one JSON line (rank 0): images/s over the timed steps, all ranks.

Data: the first `--limit-train` real Fashion-MNIST training images, normalized as datasets/fashion_mnist.cpp
does, held in memory as one float tensor; a step's batch is one index gather from it in the training
thread (~0.1 ms for 64 images), so data loading costs next to nothing here (rpctrain builds its batches
on a loader thread; see bench/train-step/run.sh).

The model mirrors ours name for name (patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv,
attn.proj, norm2, fc1, fc2}, norm, head); with `--check-against FILE` (rpctrain's model.safetensors)
rank 0 first checks that every parameter name and shape matches, so the two sides train the same model.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

# datasets/fashion_mnist.h: kFashionMnistMean / kFashionMnistStd (pixel / 255 over the 60k training images).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530
LAYER_NORM_EPS = 1e-6  # models/vit.cpp


class PatchEmbed(nn.Module):
    def __init__(self, img_size, patch, in_chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x):  # (B, Cin, H, W) -> (B, N, C)
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """models/attention.cpp, kind softmax with the fused path: one qkv Linear, SDPA, proj."""

    def __init__(self, dim, heads, attn_drop, proj_drop):
        super().__init__()
        self.heads, self.attn_drop = heads, attn_drop
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):  # (B, N, C) -> (B, N, C)
        B, N, C = x.shape
        H = self.heads
        q, k, v = self.qkv(x).reshape(B, N, 3, H, C // H).permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, D)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))


class Block(nn.Module):
    """Pre-LN block; drop_path is 0 in both benchmarked configs (identity, as in ours)."""

    def __init__(self, dim, heads, mlp_ratio, dropout, attn_drop):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, heads, attn_drop, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.mlp_drop = nn.Dropout(dropout)

    def forward(self, x):
        h = x + self.attn(self.norm1(x))
        return h + self.mlp_drop(self.fc2(self.mlp_drop(F.gelu(self.fc1(self.norm2(h))))))


class ViT(nn.Module):
    def __init__(self, a):
        super().__init__()
        grid = a.img_size // a.patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, a.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, a.dim))
        self.patch_embed = PatchEmbed(a.img_size, a.patch, a.in_chans, a.dim)
        self.pos_drop = nn.Dropout(a.dropout)
        self.blocks = nn.ModuleList(Block(a.dim, a.heads, a.mlp_ratio, a.dropout, a.attn_drop) for _ in range(a.depth))
        self.norm = nn.LayerNorm(a.dim, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(a.dim, a.num_classes)
        # timm init as in ViTImpl (values do not change the timing; kept so the run is the same recipe).
        for t in (self.pos_embed, self.cls_token):
            nn.init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                nn.init.zeros_(m.bias)

    def forward(self, x):  # (B, Cin, H, W) -> (B, classes)
        t = self.patch_embed(x)
        t = self.pos_drop(torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], 1) + self.pos_embed)
        for b in self.blocks:
            t = b(t)
        return self.head(self.norm(t)[:, 0])


def make_optimizer(model, a):
    """trainer.cpp make_optimizer: AdamW, no weight decay for 1-d params, cls_token and pos_embed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = p.dim() <= 1 or "cls_token" in name or "pos_embed" in name
        (no_decay if skip else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, fused=a.fused_adamw or None)


def load_fashion_mnist(root, limit):
    """(limit, 1, 28, 28) float32 normalized images and (limit,) int64 labels, the first `limit` of train."""
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    x = (torch.from_numpy(raw.astype(np.float32)) / 255.0 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def check_against(model, path):
    from safetensors.torch import load_file
    theirs = {k: tuple(v.shape) for k, v in load_file(path).items()}
    ours = {k: tuple(v.shape) for k, v in model.named_parameters()}
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))
        raise SystemExit(f"train_step_ref: the PyTorch model differs from {path} (name, shape): {diff[:8]}")


def read_resolved_config(path):
    """The two-level `section: {key: value}` maps of rpctrain's resolved config.yaml (yaml-cpp block
    style; list items are skipped: no key used here is a list). Values as int, float or str."""
    cfg, section = {}, None
    for line in open(path):
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip().strip('"')
        if not line.startswith(" "):
            section = cfg.setdefault(key, {})
            continue
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        section[key] = value
    return cfg


def recipe_from_config(cfg):
    """The model and recipe of the C++ run; refuses what this reference does not implement."""
    m, t, d, at = cfg["model"], cfg["train"], cfg["data"], cfg["attention"]
    if at["impl"] == "reference":  # softmax layers run SDPA under every other attention.impl
        raise SystemExit("train_step_ref: attention.impl = reference; this reference implements only SDPA "
                         "(auto, fused, composed)")
    unsupported = {"attention.kind": (at["kind"], "softmax"),
                   "model.drop_path": (m["drop_path"], 0), "train.accum_steps": (t["accum_steps"], 1),
                   "train.ema": (t["ema"], 0), "data.kind": (d["kind"], "fashion_mnist"),
                   "data.augment": (d["augment"], "false")}
    for key, (got, want) in unsupported.items():
        if got != want:
            raise SystemExit(f"train_step_ref: {key} = {got}; this reference implements only {want}")
    return argparse.Namespace(
        img_size=m["img_size"], patch=m["patch"], in_chans=m["in_chans"], num_classes=m["num_classes"],
        dim=m["dim"], depth=m["depth"], heads=m["heads"], mlp_ratio=m["mlp_ratio"], dropout=m["dropout"],
        attn_drop=at["attn_drop"], batch_size=t["batch_size"], lr=t["lr"], weight_decay=t["weight_decay"],
        label_smoothing=t["label_smoothing"], clip_grad=t["clip_grad"], seed=t["seed"],
        limit_train=d["limit_train"] or 60000, data_root=d["root"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="the C++ run's resolved config.yaml (its run dir)")
    ap.add_argument("--warmup-steps", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--check-against", default="", help="rpctrain model.safetensors to compare names/shapes with")
    ap.add_argument("--fused-adamw", action="store_true", help="AdamW(fused=True) instead of the default")
    args = ap.parse_args()
    a = recipe_from_config(read_resolved_config(args.config))
    a.fused_adamw, a.warmup_steps, a.steps = args.fused_adamw, args.warmup_steps, args.steps
    a.check_against = args.check_against

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # train.flush_denormal (default true) in ours
    torch.manual_seed(a.seed)
    dist.init_process_group("gloo", rank=rank, world_size=world)

    model = ViT(a)
    if rank == 0 and a.check_against:
        check_against(model, a.check_against)
    # gradient_as_bucket_view: .grad are views into the buckets, as in GradSync; default bucket sizes
    # (1 MB first, then 25 MB) are also GradSync's defaults (dist.first_bucket_mb / dist.bucket_mb).
    ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    opt = make_optimizer(model, a)
    x_all, y_all = load_fashion_mnist(a.data_root, a.limit_train)
    global_batch = a.batch_size * world
    steps_per_epoch = x_all.shape[0] // global_batch
    assert steps_per_epoch > 0, "limit_train smaller than one global batch"
    order = torch.randperm(x_all.shape[0])

    def step(i):
        s = i % steps_per_epoch
        idx = order[s * global_batch + rank * a.batch_size:][:a.batch_size]
        x, y = x_all[idx], y_all[idx]
        opt.zero_grad(set_to_none=False)  # in place, as GradSync::zero_grad
        loss = F.cross_entropy(ddp(x), y, label_smoothing=a.label_smoothing)
        loss.backward()
        if a.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad)
        opt.step()
        return loss.item()

    ddp.train()
    for i in range(a.warmup_steps):
        step(i)
    dist.barrier()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(a.warmup_steps, a.warmup_steps + a.steps):
        loss = step(i)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    if rank == 0:
        print(json.dumps({"side": "pytorch_ddp", "torch": torch.__version__, "ranks": world, "threads": 1,
                          "params": sum(p.numel() for p in model.parameters()), "warmup_steps": a.warmup_steps,
                          "steps": a.steps, "images_per_s": round(a.steps * global_batch / seconds, 1),
                          "seconds": round(seconds, 3),
                          "rank0_cpu_ms_per_step": round(1e3 * cpu_seconds / a.steps, 2), "last_loss": round(loss, 4),
                          "fused_adamw": a.fused_adamw}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
