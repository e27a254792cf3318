#!/usr/bin/env bash
# Every thread of a training job at once, under mpirun -np 2 (labels mpi, threads, slow): loader workers
# (data.workers 2, prefetch 2), GradSync's comm thread, the watchdog with its progress-board heartbeat, and the
# checkpoint barriers (every 4 steps and at the epoch end). Short (8 steps), so that
# `scripts/test.sh --sanitize thread` runs the whole threaded path of a real job in seconds. Asserts the result
# line, both checkpoints complete (DONE) and both ranks' progress files.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
# 512 samples / (2 ranks x 32) = 8 steps; checkpoints at steps 4 and 8.
mpirun -np 2 --oversubscribe --bind-to none "$bin" train --config "$src/configs/fmnist_quick.yaml" --run-dir "$tmp/run" \
  --set data.limit_train=512 --set data.limit_test=128 --set train.batch_size=32 --set train.threads=1 \
  --set data.workers=2 --set data.prefetch=2 --set ckpt.every_steps=4 --set train.device=cpu \
  --set dist.timeout_s=60 > "$tmp/out" 2>&1 || { fail "the run exited with $?"; tail -30 "$tmp/out"; }
[ "$(result_field "$tmp/out" train ok)" = true ] || fail "no {\"cmd\":\"train\",\"ok\":true} result line"
for step in 00000004 00000008; do
  [ -f "$tmp/run/ckpt/step_$step/DONE" ] || fail "checkpoint step_$step has no DONE"
done
for rank in 00000 00001; do
  [ -f "$tmp/run/progress/rank_$rank.progress" ] || fail "no progress file of rank $rank"
done
[ $fails = 0 ] && echo "ok: 8 steps on 2 ranks, checkpoints at steps 4 and 8 complete" || exit 1
