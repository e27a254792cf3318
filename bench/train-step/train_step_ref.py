"""PyTorch column of `bench/run train-step`: the same ViT, recipe and per-rank batch as `rpctrain train`
(models/vit.cpp, models/attention.cpp, trainer/trainer.cpp), trained with DistributedDataParallel over
gloo, one process per rank under mpirun, 1 intra-op thread each. Times `--steps` warm steps after
`--warmup-steps` and prints, last, one JSON line (rank 0): images/s over the timed steps, all ranks.

PyTorch runs as a performance-minded user would run it: fused AdamW (`--adamw`, default fused), SDPA for the
softmax and symmetric layers (bench/pyref/vit.py), tcmalloc preloaded (bench/train-step/run.sh); `--compile`
wraps the DDP module in torch.compile (inductor, default mode; DDP's graph breaks at bucket boundaries), whose
compilation happens in the warm-up steps and is reported apart (`compile_s`: the first step's seconds, the
warm-up steps' total in `warmup_s`); `--bf16` runs forward and loss under CPU bfloat16 autocast (weights,
gradients and optimizer float32), as train.precision bf16 does in rpctrain.

Data: the first data.limit_train real Fashion-MNIST training images, normalized as datasets/fashion_mnist.cpp
does (bench/pyref/fashion_mnist.py), held in memory as one float tensor; a step's batch is one index gather from
it in the training thread (~0.1 ms for 64 images), so data loading costs next to nothing here (rpctrain builds
its batches on a loader thread; see bench/train-step/run.sh).

The model is bench/pyref/vit.py's ViT of the run's config.json. It mirrors ours name for name (patch_embed.proj,
cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head: timm's names,
rpctrain's without the `mlp.`; vit.rpctrain_param); with `--check-against FILE` (rpctrain's model.safetensors) rank 0 first checks
that every parameter name and shape matches, so the two sides train the same model.

  PYTHONPATH=REPO python bench/train-step/train_step_ref.py --run RUN_DIR [--warmup-steps S] [--steps T]
      [--check-against RUN_DIR/model.safetensors] [--adamw fused|foreach|loop] [--compile] [--bf16]
  (one process per rank under mpirun, MASTER_ADDR / MASTER_PORT set; bench/run sets PYTHONPATH)
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from bench.pyref import config as rconfig
from bench.pyref import fashion_mnist, vit


def make_optimizer(model, a):
    """trainer.cpp make_optimizer: AdamW, no weight decay for 1-d params, cls_token and pos_embed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = p.dim() <= 1 or "cls_token" in name or "pos_embed" in name
        (no_decay if skip else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=a.lr,
                             fused=a.adamw == "fused" or None, foreach=a.adamw == "foreach" or None)


def check_against(model, path):
    from safetensors.torch import load_file
    theirs = {k: tuple(v.shape) for k, v in load_file(path).items()}
    ours = dict(vit.rpctrain_param(k, v.shape) for k, v in model.named_parameters())
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))
        raise SystemExit(f"train_step_ref: the PyTorch model differs from {path} (name, shape): {diff[:8]}")


def recipe_from_config(cfg):
    """The recipe of the C++ run (its resolved config); refuses what this reference does not implement."""
    t, d, at = cfg["train"], cfg["data"], cfg["attention"]
    if at["impl"] == "reference":  # softmax and sym layers run SDPA under every other attention.impl
        raise SystemExit("train_step_ref: attention.impl = reference; this reference implements only SDPA "
                         "(auto, fused, composed)")
    unsupported = {"train.accum_steps": (t["accum_steps"], 1), "train.ema": (t["ema"], 0),
                   "data.kind": (d["kind"], "fashion_mnist"), "data.augment": (d["augment"], False)}
    for key, (got, want) in unsupported.items():
        if got != want:
            raise SystemExit(f"train_step_ref: {key} = {json.dumps(got)}; this reference implements only "
                             f"{json.dumps(want)}")
    return argparse.Namespace(
        batch_size=t["batch_size"], lr=t["lr"], weight_decay=t["weight_decay"],
        label_smoothing=t["label_smoothing"], clip_grad=t["clip_grad"], seed=t["seed"],
        limit_train=d["limit_train"] or 60000, data_root=d["root"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="the C++ run: its run dir (or its config.json)")
    ap.add_argument("--warmup-steps", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--check-against", default="", help="rpctrain model.safetensors to compare names/shapes with")
    ap.add_argument("--adamw", choices=("fused", "foreach", "loop"), default="fused",
                    help="AdamW's implementation: fused (one kernel, the default), foreach, loop (per parameter)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the DDP model (inductor, default mode)")
    ap.add_argument("--bf16", action="store_true", help="forward and loss under CPU bfloat16 autocast")
    args = ap.parse_args()
    cfg = rconfig.load(args.run)
    a = recipe_from_config(cfg)
    a.adamw, a.warmup_steps, a.steps = args.adamw, args.warmup_steps, args.steps
    a.check_against = args.check_against

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # train.flush_denormal (default true) in ours
    torch.manual_seed(a.seed)
    dist.init_process_group("gloo", rank=rank, world_size=world)

    model = vit.from_config(cfg)
    if rank == 0 and a.check_against:
        check_against(model, a.check_against)
    # gradient_as_bucket_view: .grad are views into the buckets, as in GradSync; default bucket sizes
    # (1 MB first, then 25 MB) are also GradSync's defaults (dist.first_bucket_mb / dist.bucket_mb).
    ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    net = torch.compile(ddp) if args.compile else ddp
    opt = make_optimizer(model, a)
    x_all, y_all = fashion_mnist.load(a.data_root, "train", a.limit_train)
    global_batch = a.batch_size * world
    steps_per_epoch = x_all.shape[0] // global_batch
    assert steps_per_epoch > 0, "limit_train smaller than one global batch"
    order = torch.randperm(x_all.shape[0])

    def step(i):
        s = i % steps_per_epoch
        idx = order[s * global_batch + rank * a.batch_size:][:a.batch_size]
        x, y = x_all[idx], y_all[idx]
        opt.zero_grad(set_to_none=False)  # in place, as GradSync::zero_grad
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = F.cross_entropy(net(x), y, label_smoothing=a.label_smoothing)
        loss.backward()
        if a.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad)
        opt.step()
        return loss.item()

    ddp.train()
    warm0 = time.perf_counter()
    for i in range(a.warmup_steps):
        step(i)
        if i == 0:
            compile_s = time.perf_counter() - warm0
    warmup_s = time.perf_counter() - warm0
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
                          "adamw": a.adamw, "compile": args.compile, "bf16": args.bf16,
                          "compile_s": round(compile_s, 2) if args.compile else 0.0,
                          "warmup_s": round(warmup_s, 2)}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
