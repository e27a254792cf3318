"""PyTorch eager column of `bench/run segmenter`: the Segmenter of the C++ run (its run dir's config.json) in
segmenter_ref.py, trained with DistributedDataParallel over gloo, one process per rank under mpirun, the same
intra-op threads, the same per-rank batch and loss (pixel cross-entropy, ignore 255) and optimizer
(trainer/trainer.cpp: AdamW with SegmentationTask's no-weight-decay set, gradient clipping; SGD with momentum
0.9 where the config has train.optimizer: sgd). Starts from the C++ run's exported weights (so the two sides
also have the same parameter names and shapes). Times `--steps` warm steps after `--warmup-steps` and prints,
last, one JSON line (rank 0): images/s of all ranks over the timed steps.

Data: one random batch per rank held in memory (images (b, 3, crop, crop) ~ N(0, 1), labels uniform over the
classes with 5% ignore pixels), reused every step: the values do not change the work done. rpctrain decodes
and augments its synthetic ADE20K scenes on a loader thread instead (bench/segmenter/run.sh).

  PYTHONPATH=REPO python bench/segmenter/bench_segmenter.py --run RUN_DIR --weights EXPORT.safetensors
      [--warmup-steps S] [--steps T] [--compile]   (one process per rank under mpirun; bench/run sets PYTHONPATH)
`--compile`: the DDP model under torch.compile (inductor, default mode); compilation happens in the warm-up
steps, its seconds (the first step's) reported apart as `compile_s`.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

from bench.pyref import config as rconfig
from bench.segmenter import segmenter_ref

IGNORE_LABEL = 255            # trainer/segmentation.cpp kIgnoreLabel
IGNORED_PIXEL_FRACTION = 0.05
SGD_MOMENTUM = 0.9            # the Segmenter recipe's (configs/segmenter_tiny_ade20k_*.yaml)


def no_weight_decay(name, p):
    """SegmentationTask::no_weight_decay: 1-d parameters, cls_token, pos_embed and the mask decoder's cls_emb."""
    return p.dim() <= 1 or name.endswith(("cls_token", "pos_embed", "cls_emb"))


def make_optimizer(model, config):
    decay = [p for n, p in model.named_parameters() if not no_weight_decay(n, p)]
    rest = [p for n, p in model.named_parameters() if no_weight_decay(n, p)]
    lr, wd = config["train"]["lr"], config["train"]["weight_decay"]
    groups = [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
    if rconfig.get(config, "train.optimizer", "adamw") == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=SGD_MOMENTUM)
    return torch.optim.AdamW(groups, lr=lr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="the C++ run: its run dir (or its config.json)")
    ap.add_argument("--weights", required=True, help="the C++ run's model, exported (rpctrain export)")
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--compile", action="store_true", help="torch.compile the DDP model (inductor, default mode)")
    args = ap.parse_args()
    config = rconfig.load(args.run)
    train = config["train"]

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    threads = train["threads"] or 1
    torch.set_num_threads(threads)
    torch.set_flush_denormal(bool(train["flush_denormal"]))
    torch.manual_seed(train["seed"] + rank)
    dist.init_process_group("gloo", rank=rank, world_size=world)

    model = segmenter_ref.Segmenter(segmenter_ref.segmenter_spec(config))
    segmenter_ref.load_exported(model, load_file(args.weights), args.weights)
    ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    net = torch.compile(ddp) if args.compile else ddp
    opt = make_optimizer(model, config)
    batch, crop, n_cls = train["batch_size"], config["data"]["seg_crop"], config["model"]["num_classes"]
    images = torch.randn(batch, config["model"]["in_chans"], crop, crop)
    labels = torch.randint(0, n_cls, (batch, crop, crop))
    labels[torch.rand(batch, crop, crop) < IGNORED_PIXEL_FRACTION] = IGNORE_LABEL
    clip = train["clip_grad"]

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(net(images), labels, ignore_index=IGNORE_LABEL)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss.item()

    ddp.train()
    warm0 = time.perf_counter()
    for i in range(args.warmup_steps):
        step()
        if i == 0:
            compile_s = time.perf_counter() - warm0
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    seconds = time.perf_counter() - t0
    if rank == 0:
        print(json.dumps({"side": "pytorch_compiled_ddp" if args.compile else "pytorch_eager_ddp",
                          "compile_s": round(compile_s, 2) if args.compile else 0.0, "torch": torch.__version__, "ranks": world, "threads": threads,
                          "batch_per_rank": batch, "crop": crop, "warmup_steps": args.warmup_steps, "steps": args.steps,
                          "images_per_s": round(args.steps * batch * world / seconds, 3),
                          "seconds": round(seconds, 2), "last_loss": round(loss, 4),
                          "optimizer": type(opt).__name__}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
