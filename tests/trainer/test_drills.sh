#!/usr/bin/env bash
# Failure drills of a training job under mpirun -np 2 (labels mpi, slow), each asserting what the
# user sees and that nothing is lost:
#  1. disk full while writing a checkpoint (RLIMIT_FSIZE, `ulimit -f`: the write fails with EFBIG, as with
#     ENOSPC; rpctrain ignores SIGXFSZ): the error names the file, the previous checkpoint stays complete and
#     verified, `--resume auto` continues from it and ends with the uninterrupted run's parameters;
#  2. checkpoint directory not writable: an error at start naming it, before any training step;
#  3. NaN / inf loss on one rank (RPCT_FAULT nan/inf): train.on_nonfinite abort names the step and the rank;
#     skip drops that step on every rank (one skipped step, training goes on finite) and counts it;
#  4. the data directory (ImageNet layout from prepare-data) renamed away mid-run: an error naming the file;
#     the newest checkpoint is complete and verifies.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; mounted=""
cleanup() { [ -n "$mounted" ] && umount "$mounted"; rm -rf "$tmp"; }
trap cleanup EXIT
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
# 1024 samples / (2 ranks x 64) = 8 steps an epoch; a checkpoint every 2 steps.
common=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=1024 --set data.limit_test=200
        --set train.epochs=2 --set train.batch_size=64 --set train.log_every=1 --set ckpt.every_steps=2
        --set ckpt.keep=2)
kFileLimitKB=32      # bash `ulimit -f` (1024-byte blocks): above the rank files and meta.json (~5 KB), below model.safetensors (~110 KB)
kRunLimit=120        # seconds any one run of these small configs may take (they take a few)
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
expect() {  # expect NAME FILE PATTERN: grep -E PATTERN in FILE, else fail NAME with the file's tail
  grep -qE -- "$3" "$2" && return 0
  fail "$1: no '$3' in the output"; tail -15 "$2"; return 1
}

# Reference: uninterrupted.
timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/ref" > "$tmp/ref.out" 2>&1 || { fail "reference run"; tail "$tmp/ref.out"; }
ref="$(result_field "$tmp/ref.out" train params_sha256)"
[ -n "$ref" ] || fail "no params_sha256 in the reference run"

# 1. Disk full. A crash at step 5 leaves step 4 as the newest checkpoint; the resumed run under a file-size
#    limit fails writing step 6's model.safetensors.
run="$tmp/full"
RPCT_FAULT=exit:1:5 timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$run" > "$tmp/full1.out" 2>&1
# The limit is set in each rank only (not in mpirun, which writes the output file).
timeout $kRunLimit "${MPI[@]}" bash -c "ulimit -f $kFileLimitKB && exec \"\$0\" \"\$@\"" "$bin" train "${common[@]}" \
  --run-dir "$run" --resume auto > "$tmp/full2.out" 2>&1 && fail "disk full: the run under ulimit -f exited 0"
expect "disk full" "$tmp/full2.out" "resumed from $run/ckpt/step_00000004" &&
  expect "disk full" "$tmp/full2.out" "error: .*$run/ckpt/step_00000006/model.safetensors: write failed: File too large" &&
  echo "ok   disk full: the error names $run/ckpt/step_00000006/model.safetensors (File too large)"
[ ! -e "$run/ckpt/step_00000006/DONE" ] || fail "disk full: the failed checkpoint has a DONE"
"$bin" inspect "$run" > "$tmp/full.inspect" 2>&1 || fail "disk full: inspect of the run failed"
[ "$(result_field "$tmp/full.inspect" inspect step)" = 4 ] && echo "ok   disk full: step 4 is still the newest complete, verified checkpoint" \
  || { fail "disk full: inspect does not give step 4"; tail -3 "$tmp/full.inspect"; }
timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$run" --resume auto > "$tmp/full3.out" 2>&1 \
  || { fail "disk full: resume after freeing space"; tail "$tmp/full3.out"; }
expect "disk full resume" "$tmp/full3.out" "skipping $run/ckpt/step_00000006: .*DONE" &&
  expect "disk full resume" "$tmp/full3.out" "resumed from $run/ckpt/step_00000004" &&
  [ "$(result_field "$tmp/full3.out" train params_sha256)" = "$ref" ] &&
  echo "ok   disk full: --resume auto skips step 6, continues from step 4, params_sha256 = the uninterrupted run's" \
  || fail "disk full: the resumed run's params_sha256 differs from the uninterrupted run's"

# 2. Checkpoint directory not writable. As root, permissions do not stop writes: a read-only tmpfs mounted
#    on ckpt/ does (EROFS); where mounting is not allowed, ckpt/ is a regular file; not root: chmod a-w.
run="$tmp/ro"; mkdir -p "$run/ckpt"
if [ "$(id -u)" != 0 ]; then chmod a-w "$run/ckpt"; how="chmod a-w ckpt/"
elif mount -t tmpfs -o ro,size=64k tmpfs "$run/ckpt" 2>/dev/null; then mounted="$run/ckpt"; how="read-only tmpfs on ckpt/"
else rmdir "$run/ckpt"; touch "$run/ckpt"; how="ckpt is a regular file"; fi
timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$run" > "$tmp/ro.out" 2>&1 && fail "not writable: exited 0"
expect "not writable ($how)" "$tmp/ro.out" "error: .*checkpoint directory not writable \(checked before training\): $run/ckpt" &&
  echo "ok   not writable ($how): error at start naming $run/ckpt"
if grep -q '"kind": *"step"' "$run/metrics.jsonl" 2>/dev/null || grep -q "epoch 1/2" "$tmp/ro.out"; then
  fail "not writable: training started before the error"
else echo "ok   not writable: no training step ran"; fi
[ -n "$mounted" ] && umount "$mounted" && mounted=""

# 3. Non-finite loss on rank 1 at step 3.
RPCT_FAULT=nan:1:3 timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/nan1" > "$tmp/nan1.out" 2>&1 \
  && fail "on_nonfinite abort: exited 0"
expect "on_nonfinite abort" "$tmp/nan1.out" "error: .*the loss is NaN at step 3 on rank 1 \(train.on_nonfinite = abort" &&
  echo "ok   on_nonfinite abort: the error names step 3 and rank 1"
RPCT_FAULT=inf:0:3 timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --set train.on_nonfinite=skip \
  --run-dir "$tmp/nan2" > "$tmp/nan2.out" 2>&1 || { fail "on_nonfinite skip: the run failed"; tail "$tmp/nan2.out"; }
# A rank that updated with the NaN-summed gradients would have NaN weights, so every later step would be
# non-finite too: exactly one skipped step shows that every rank dropped that step.
skipped="$(result_field "$tmp/nan2.out" train skipped_steps)"
loss="$(result_field "$tmp/nan2.out" train train_loss)"
expect "on_nonfinite skip" "$tmp/nan2.out" "step 3 skipped on every rank \(train.on_nonfinite = skip\): non-finite loss on rank\(s\) 0" &&
  [ "$skipped" = 1 ] && "$py" -c "import math, sys; sys.exit(0 if math.isfinite(float('$loss')) else 1)" &&
  grep -q '"skipped_steps": *1' "$tmp/nan2/metrics.jsonl" &&
  echo "ok   on_nonfinite skip: step 3 dropped on both ranks, skipped_steps 1 in the result line and metrics, final loss $loss" \
  || fail "on_nonfinite skip: skipped_steps '$skipped' (want 1), train_loss '$loss'"

# 4. The data directory renamed away after the first complete checkpoint.
"$bin" prepare-data fashion-mnist-imagenet --out "$tmp/data" --limit-train 1024 --limit-val 200 > "$tmp/prep.out" 2>&1 \
  || { fail "prepare-data"; tail "$tmp/prep.out"; }
run="$tmp/gone"
timeout $kRunLimit "${MPI[@]}" "$bin" train --config "$src/configs/fmnist_imagenet_layout.yaml" --set data.root="$tmp/data" \
  --set model.dim=32 --set model.depth=2 --set model.heads=2 --set train.epochs=4 --set train.batch_size=64 \
  --set ckpt.every_steps=2 --set train.log_every=1 --run-dir "$run" > "$tmp/gone.out" 2>&1 &
pid=$!
wait_until 60 compgen -G "$run/ckpt/step_*/DONE" && mv "$tmp/data" "$tmp/data.gone" || fail "data gone: no checkpoint within 60 s"
wait $pid && fail "data gone: the run exited 0 (finished before the rename?)"
expect "data gone" "$tmp/gone.out" "error: .*$tmp/data/(train|val)/[^ ]*\.JPEG: cannot open: No such file or directory" &&
  echo "ok   data gone: the error names $(grep -oE "$tmp/data/[^ ]*\.JPEG" "$tmp/gone.out" | head -1)"
newest="$(basename "$(ls -d "$run"/ckpt/step_*/DONE | sort | tail -1 | xargs dirname)")"
"$bin" inspect "$run" > "$tmp/gone.inspect" 2>&1 && grep -q "\"checkpoint\": *\"[^\"]*$newest\"" "$tmp/gone.inspect" \
  && echo "ok   data gone: the newest checkpoint ($newest) is complete and verifies" \
  || { fail "data gone: inspect of $newest"; tail -3 "$tmp/gone.inspect"; }

[ $fails = 0 ] && echo "all drills passed" && exit 0
exit 1
