#!/usr/bin/env bash
# TensorBoard events of a 2-rank run (labels mpi, slow), read with TensorBoard's own reader (EventAccumulator,
# the pinned tensorboard package of the project's venv; tests/trainer/check_tensorboard.py):
#  1. every scalar of metrics.jsonl is in <run>/tb at the same step with the same float32 value, and nothing else;
#  2. a run that crashed after its checkpoint and resumed writes a second events file whose curve continues:
#     no step appears twice (the earlier attempt's points after the checkpoint are dropped);
#  3. a truncated last record (a killed process) still reads up to the last whole record;
#  4. train.tensorboard=false writes no events.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
check="$src/tests/trainer/check_tensorboard.py"
common=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=2048 --set data.limit_test=500
        --set train.epochs=2 --set train.batch_size=64 --set train.log_every=1 --set ckpt.every_steps=5
        --set train.device=cpu)
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

# 1.
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/A" > "$tmp/A.out" 2>&1 || { fail "run A"; tail "$tmp/A.out"; }
[ "$(ls "$tmp/A/tb" | grep -c tfevents)" = 1 ] || fail "run A: expected one events file in tb/, got: $(ls "$tmp/A/tb")"
"$py" "$check" match "$tmp/A" || fail "run A: events differ from metrics.jsonl"

# 2. Crash at step 13 (checkpoint at 10), resume: two events files, one continuous curve.
RPCT_FAULT=exit:1:13 "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" > "$tmp/B1.out" 2>&1 && fail "the fault run exited 0"
sleep 1  # the resumed run's file name (its time) sorts after the first's
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" --resume auto > "$tmp/B2.out" 2>&1 || { fail "resume B"; tail "$tmp/B2.out"; }
[ "$(ls "$tmp/B/tb" | grep -c tfevents)" = 2 ] || fail "run B: expected two events files after the resume, got: $(ls "$tmp/B/tb")"
"$py" "$check" match "$tmp/B" && echo "ok   resumed run: one continuous curve per tag" || fail "run B: the resumed curve"

# 3. A truncated last record: everything before it still reads.
mkdir -p "$tmp/T"
f="$(ls "$tmp/A/tb"/*tfevents*)"
cp "$f" "$tmp/T/"
whole="$("$py" "$check" count "$tmp/T")"
truncate -s -3 "$tmp/T/$(basename "$f")"
cut_short="$("$py" "$check" count "$tmp/T" 2>/dev/null)"
[ -n "$cut_short" ] && [ "$cut_short" -ge 1 ] && [ "$cut_short" -lt "$whole" ] \
  && echo "ok   truncated last record: $cut_short of $whole points read" \
  || fail "truncated file: read '$cut_short' points of $whole"

# 4.
"${MPI[@]}" "$bin" train "${common[@]}" --set train.epochs=1 --set train.tensorboard=false --run-dir "$tmp/C" > "$tmp/C.out" 2>&1 \
  || fail "run C"
[ ! -e "$tmp/C/tb" ] && echo "ok   train.tensorboard=false: no tb/" || fail "train.tensorboard=false wrote $tmp/C/tb"

[ $fails = 0 ] && echo "all TensorBoard checks passed" && exit 0
exit 1
