#!/usr/bin/env bash
# bench/run segmenter [steps_per_epoch] [epochs]: one training step of the Segmenter at the Seg-Tiny shape
# (crop 512 -> 32x32 patches + cls = 1025 tokens, batch 2 per rank, DeiT-Tiny encoder: width 192, depth 12,
# 3 heads, MLP 4x, patch 16; mask-transformer decoder, depth 2; RPC-Attention in encoder block 0 and decoder
# block 0, n_iter 6, lambda 4, symmetric KV attention elsewhere; 150 classes), `rpctrain train` vs the same
# model in PyTorch eager and under torch.compile (segmenter_ref.py, bench_segmenter.py: DDP over gloo), 2 ranks
# under mpirun, 1 intra-op thread per rank, warm steps only, and the peak memory (max RSS, GNU time) of each
# rank; achieved GFLOP/s (bench/pyref/flops.py) as a fraction of the float32 GEMM peak measured in the same run.
# rpctrain trains E epochs of S steps (default 2 x 3) on synthetic ADE20K-layout scenes (prepare-data
# ade20k-synthetic, 512x512, Segmenter augmentation); its metrics.jsonl gives the warm rate of epochs 2..E
# (bench/pyref/metrics.py). PyTorch starts from rpctrain's exported weights, runs S warm-up steps,
# then times (E-1) x S steps. Optimizer: the trainer's (train.optimizer where the config has one, else
# AdamW), on both sides. Env (set by bench/run): RPCT_BUILD, RPCT_PYTHON, RPCT_MALLOC (preloaded for PyTorch),
# PYTHONPATH (the repository root, for bench.pyref); RPCT_BENCH_SET: extra rpctrain overrides for both sides
# (e.g. "train.optimizer=sgd").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
S="${1:-2}"; E="${2:-3}"
ranks=2; batch=2; crop=512
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export MASTER_ADDR=127.0.0.1 MASTER_PORT="${RPCT_BENCH_PORT:-29643}"
[ -x "$RPCT_BUILD/rpctrain" ] || cmake --build "$RPCT_BUILD" --target rpctrain >&2
work="$(mktemp -d /tmp/rpct-segmenter.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Each rank under GNU time: its max RSS (KiB) into PREFIX.<rank>.
mpi=(mpirun -np "$ranks" --oversubscribe --bind-to none -x MASTER_ADDR -x MASTER_PORT
     bash -c '/usr/bin/time -f %M -o "$0.$OMPI_COMM_WORLD_RANK" "$@"')

"$RPCT_BUILD/rpctrain" prepare-data ade20k-synthetic --out "$work/data" --train $((S * batch * ranks)) --val "$ranks" \
  --width "$crop" --height "$crop" --classes 150 >"$work/data.log" 2>&1 || { tail -n 5 "$work/data.log" >&2; exit 1; }
sets=(--set model.img_size="$crop" --set model.patch=16 --set model.dim=192 --set model.depth=12 --set model.heads=3
      --set model.mlp_ratio=4.0 --set model.num_classes=150 --set model.drop_path=0.1
      --set attention.kind=rpc --set "attention.rpc.layers=[0]" --set attention.rpc.n_iter=6
      --set attention.rpc.lambda=4 --set train.optimizer=sgd --set train.momentum=0.9 --set train.weight_decay=0
      --set train.schedule=poly
      --set seg.decoder=mask --set seg.decoder_depth=2 --set data.root="$work/data" --set data.augment=true
      --set data.seg_crop="$crop" --set data.seg_scale_short="$crop" --set train.batch_size="$batch"
      --set train.eval_batch_size=1 --set train.epochs="$E" --set train.threads=1 --set train.log_every=1000000
      --set ckpt.epoch_end=false)
for o in ${RPCT_BENCH_SET:-}; do sets+=(--set "$o"); done
echo "[segmenter] rpctrain: $E epochs x $S steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
(cd "$repo" && "${mpi[@]}" "$work/cpp.rss" "$RPCT_BUILD/rpctrain" train --config configs/fmnist_seg.yaml "${sets[@]}" \
  --run-dir "$work/run") >"$work/cpp.log" 2>&1 || { tail -n 30 "$work/cpp.log" >&2; exit 1; }
grep -h "\] model:\|\] epoch $E/$E" "$work/cpp.log" | sed 's/^/  /' >&2 || true
"$RPCT_BUILD/rpctrain" export "$work/run/model.safetensors" --out "$work/segmenter.safetensors" \
  >"$work/export.log" 2>&1 \
  || { tail -n 5 "$work/export.log" >&2; exit 1; }
echo "[segmenter] GEMM peak, $ranks threads (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$RPCT_PYTHON" -m bench.pyref.peak --threads "$ranks" >"$work/peak.log"
# PyTorch columns (RPCT_BENCH_COLUMNS, default both): eager, and compiled (torch.compile, compile time apart).
for side in ${RPCT_BENCH_COLUMNS:-eager compiled}; do
  echo "[segmenter] PyTorch $side DDP: $S + $(((E - 1) * S)) steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  flags=(); [ "$side" = compiled ] && flags+=(--compile)
  LD_PRELOAD="$RPCT_MALLOC" "${mpi[@]}" "$work/$side.rss" "$RPCT_PYTHON" "$here/bench_segmenter.py" --run "$work/run" \
    --weights "$work/segmenter.safetensors" --warmup-steps "$S" --steps $(((E - 1) * S)) "${flags[@]}" \
    >"$work/$side.log" 2>&1 || { tail -n 30 "$work/$side.log" >&2; exit 1; }
  tail -n 1 "$work/$side.log" >"$work/$side.json"
done
"$RPCT_PYTHON" "$here/summarize.py" --metrics "$work/run/metrics.jsonl" --run "$work/run" --ranks "$ranks" \
  --batch "$batch" --cpp-rss "$work/cpp.rss" --work "$work" --peak "$(tail -n 1 "$work/peak.log")"
