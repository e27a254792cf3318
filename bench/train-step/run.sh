#!/usr/bin/env bash
# bench/run train-step [rounds]: the training loop of `rpctrain train` vs the same model, recipe and
# per-rank batch in PyTorch DistributedDataParallel (gloo, train_step_ref.py), 2 ranks under mpirun,
# 1 intra-op thread per rank, warm steps only. Two models:
#   fmnist_vit       the main job's model and recipe, configs/fmnist_vit.yaml as it is
#                    (28x28x1, patch 7 -> 17 tokens, dim 128, depth 4, heads 4, MLP 2x, softmax).
#   deit_tiny_28     DeiT-Tiny's transformer (dim 192, depth 12, heads 3, MLP 4x) on the same 28x28
#                    Fashion-MNIST images with patch 4 -> 7x7 grid + cls = 50 tokens (the C++ trainer's
#                    Fashion-MNIST source is 28x28; 50 tokens is the size of a 32x32 input at patch 4-5),
#                    the main job's recipe otherwise.
# Warm steps: rpctrain runs E epochs of S steps (data.limit_train = S x global batch); its metrics.jsonl
# gives the cumulative images/s after each epoch, from which summarize.py takes the rate of epochs
# 2..E (epoch 1 = warm-up, S steps). PyTorch runs S warm-up steps, then times (E-1) x S steps.
# Both print images/s of all ranks together; ratio = rpctrain / PyTorch. `rounds` (default 1) repeats
# the pair, alternating sides, and the medians are reported (the machine may be shared).
# PyTorch reads the recipe from the rpctrain run's config.json.
# Env (set by bench/run): RPCT_BUILD = build dir, RPCT_PYTHON = python with torch, RPCT_MALLOC =
# the malloc rpctrain links (preloaded for PyTorch), PYTHONPATH = the repository root (bench.pyref).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rounds="${1:-1}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export MASTER_ADDR=127.0.0.1 MASTER_PORT="${RPCT_BENCH_PORT:-29641}"
[ -x "$RPCT_BUILD/rpctrain" ] || cmake --build "$RPCT_BUILD" --target rpctrain >&2
work="$(mktemp -d /tmp/rpct-train-step.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
ranks=2
# The per-rank batch of configs/fmnist_vit.yaml, as rpctrain resolves it (data.limit_train below is a multiple of it).
batch="$("$RPCT_BUILD/rpctrain" config --resolve --config "$repo/configs/fmnist_vit.yaml" | tail -n 1 |
         "$RPCT_PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.read())["config"]["train"]["batch_size"])')"

# name | extra rpctrain --set overrides | steps per epoch S | epochs E
models=(
  "fmnist_vit||50|5"
  "deit_tiny_28|model.dim=192 model.depth=12 model.heads=3 model.mlp_ratio=4.0 model.patch=4|6|4"
)
only="${RPCT_BENCH_MODELS:-}"   # e.g. fmnist_vit: run one model only
extra="${RPCT_BENCH_SET:-}"     # extra rpctrain overrides for an A/B, e.g. "dist.bucket_mb=1000"

for ((r = 1; r <= rounds; ++r)); do
  for m in "${models[@]}"; do
    IFS='|' read -r name overrides S E <<<"$m"
    [ -n "$only" ] && [[ " $only " != *" $name "* ]] && continue
    run="$work/$name.$r"
    sets=(--set train.epochs="$E" --set train.batch_size="$batch" --set data.limit_train=$((S * batch * ranks))
          --set data.limit_test=500
          --set ckpt.epoch_end=false --set train.threads=1 --set train.log_every=1000000)
    for o in $overrides $extra; do sets+=(--set "$o"); done
    echo "[train-step] round $r/$rounds $name: rpctrain, $E epochs x $S steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    (cd "$repo" && "${mpi[@]}" "$RPCT_BUILD/rpctrain" train --config configs/fmnist_vit.yaml "${sets[@]}" \
      --run-dir "$run") >"$run.cpp.log" 2>&1 || { tail -n 30 "$run.cpp.log" >&2; exit 1; }
    grep -h "\] model:\|\] epoch $E/$E" "$run.cpp.log" | sed 's/^/  /' >&2 || true
    echo "[train-step] round $r/$rounds $name: PyTorch DDP, $S + $(((E - 1) * S)) steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    LD_PRELOAD="$RPCT_MALLOC" "${mpi[@]}" -x MASTER_ADDR -x MASTER_PORT "$RPCT_PYTHON" "$here/train_step_ref.py" --run "$run" \
      --warmup-steps "$S" --steps $(((E - 1) * S)) --check-against "$run/model.safetensors" >"$run.py.log" 2>&1 \
      || { tail -n 30 "$run.py.log" >&2; exit 1; }
    echo "$name $run/metrics.jsonl $(tail -n 1 "$run.py.log")" >>"$work/runs.txt"
  done
done
"$RPCT_PYTHON" "$here/summarize.py" "$work/runs.txt" "$ranks" "$batch"
