#!/usr/bin/env bash
# bench/run train-step [rounds]: the training loop of `rpctrain train` vs the same model, recipe and
# per-rank batch in PyTorch DistributedDataParallel (gloo, train_step_ref.py: eager, torch.compile, and
# torch.compile with bf16 autocast), 2 ranks under mpirun, 1 intra-op thread per rank, warm steps only; the
# achieved GFLOP/s (bench/pyref/flops.py) of each column as a fraction of the GEMM peak measured first in the
# same run (bench/pyref/peak.py, 2 threads). Two models:
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

# Columns (RPCT_BENCH_COLUMNS, default all): rpctrain in float32 and in bf16 (train.precision bf16: CPU bfloat16
# autocast), PyTorch DDP eager float32, compiled (torch.compile) float32, compiled with bf16 autocast.
columns="${RPCT_BENCH_COLUMNS:-rpctrain rpctrain_bf16 eager compiled compiled_bf16}"
has() { [[ " $columns " == *" $1 "* ]]; }
echo "[train-step] GEMM peak, $ranks threads (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$RPCT_PYTHON" -m bench.pyref.peak --threads "$ranks" >"$work/peak.log"
sed 's/^/  /' "$work/peak.log" | grep -v '^  {' >&2

for ((r = 1; r <= rounds; ++r)); do
  for m in "${models[@]}"; do
    IFS='|' read -r name overrides S E <<<"$m"
    [ -n "$only" ] && [[ " $only " != *" $name "* ]] && continue
    for side in rpctrain rpctrain_bf16; do
      has "$side" || continue
      run="$work/$name.$r.$side"
      sets=(--set train.epochs="$E" --set train.batch_size="$batch" --set data.limit_train=$((S * batch * ranks))
            --set data.limit_test=500
            --set ckpt.epoch_end=false --set train.threads=1 --set train.log_every=1000000)
      [ "$side" = rpctrain_bf16 ] && sets+=(--set train.precision=bf16)
      for o in $overrides $extra; do sets+=(--set "$o"); done
      echo "[train-step] round $r/$rounds $name: $side, $E epochs x $S steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      (cd "$repo" && "${mpi[@]}" "$RPCT_BUILD/rpctrain" train --config configs/fmnist_vit.yaml "${sets[@]}" \
        --run-dir "$run") >"$run.log" 2>&1 || { tail -n 30 "$run.log" >&2; exit 1; }
      grep -h "\] model:\|\] epoch $E/$E" "$run.log" | sed 's/^/  /' >&2 || true
      echo "$name $side $run" >>"$work/runs.txt"
      cpp_run="$run"
    done
    for side in eager compiled compiled_bf16; do
      has "$side" || continue
      [ -n "${cpp_run:-}" ] || { echo "train-step: the PyTorch columns read the recipe of an rpctrain column" >&2; exit 2; }
      flags=()
      [[ "$side" == compiled* ]] && flags+=(--compile)
      [[ "$side" == *bf16 ]] && flags+=(--bf16)
      echo "[train-step] round $r/$rounds $name: PyTorch DDP $side, $S + $(((E - 1) * S)) steps (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      LD_PRELOAD="$RPCT_MALLOC" "${mpi[@]}" -x MASTER_ADDR -x MASTER_PORT "$RPCT_PYTHON" "$here/train_step_ref.py" \
        --run "$cpp_run" --warmup-steps "$S" --steps $(((E - 1) * S)) --check-against "$cpp_run/model.safetensors" \
        "${flags[@]}" >"$work/$name.$r.$side.log" 2>&1 || { tail -n 30 "$work/$name.$r.$side.log" >&2; exit 1; }
      echo "$name $side $(tail -n 1 "$work/$name.$r.$side.log")" >>"$work/runs.txt"
    done
    unset cpp_run
  done
done
"$RPCT_PYTHON" "$here/summarize.py" "$work/runs.txt" "$ranks" "$batch" "$(tail -n 1 "$work/peak.log")"
