#!/usr/bin/env bash
# Graceful stops on a signal under mpirun -np 2 (labels mpi, slow). Each drill stops a run with a signal and
# asserts what the user sees (exit code 3, the "stopped by ... at step N" line, the JSON result with
# "stopped": true and the checkpoint), that both ranks stopped at the same step (the checkpoint is complete:
# every rank's file, DONE, checksums), and that `--resume auto` then ends with the uninterrupted run's
# params_sha256:
#  1. SIGTERM to one rank only; 2. SIGUSR1 to both ranks at different steps; 3. SIGINT to one rank;
#  4. SIGTERM during a checkpoint write (it completes; the stop follows at the next step);
#  5. SIGUSR1 during the evaluation (it completes, its epoch record is written; the stop follows between epochs);
#  6. a stop that cannot write its checkpoint within run.stop_grace_s: exit 3 without one, saying so; the
#     previous checkpoint stays valid and the resume takes it;
#  7. a real, asynchronous signal from outside: SIGTERM to one rank's pid at a random moment;
#  8. Ctrl-C twice (two SIGINTs to one rank, the stop's checkpoint made to hang): exit 130 at once; the resume
#     takes the last periodic checkpoint;
#  9. `rpctrain launch` under SIGTERM: forwarded to every rank (as SIGUSR1), exit 3, not restarted;
#     a second launch resumes; Ctrl-C twice to the launcher ends the job at once.
# In-process signals (1-6) come from RPCT_FAULT (trainer/test_hooks.h): `raise` at an exact step, a real
# delivery to the real handler. Without the ranks' agreement (each rank stopping on its own signal) drill 1
# hangs in the checkpoint's barrier until the watchdog (dist.timeout_s below) aborts it: red.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
source "$(dirname "$0")/run_result.sh"  # sha, losses
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
# 2048 samples / (2 ranks x 64) = 16 steps an epoch, 2 epochs; a checkpoint every 5 steps and at each epoch end.
common=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=2048 --set data.limit_test=500
        --set train.epochs=2 --set train.batch_size=64 --set model.drop_path=0.1 --set train.log_every=1
        --set ckpt.every_steps=5 --set ckpt.keep=3 --set train.ema=0.9 --set train.device=cpu
        --set dist.timeout_s=30)
kRunLimit=120   # seconds any one run may take (they take a few; a hang is killed at this limit)
kExitStopped=3  # core/stop_signal.h
kExitInterrupted=130
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
ok() { echo "ok   $*"; }
field() { result_field "$1" train "$2"; }

# Drills with signals from outside need runs long enough to be hit: 10 epochs (160 steps, a few seconds).
long=(--set train.epochs=10)

for cfg in ref long_ref; do
  extra=(); [ $cfg = long_ref ] && extra=("${long[@]}")
  timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" "${extra[@]}" --run-dir "$tmp/$cfg" > "$tmp/$cfg.out" 2>&1 \
    || { fail "$cfg: the uninterrupted run"; tail "$tmp/$cfg.out"; }
done
ref="$(sha "$tmp/ref.out")"; long_ref="$(sha "$tmp/long_ref.out")"
[ -n "$ref" ] && [ -n "$long_ref" ] || fail "no params_sha256 in the uninterrupted runs"
echo "uninterrupted: params_sha256 $ref (2 epochs), $long_ref (10 epochs)"

# complete_checkpoint DIR: inspect verifies its DONE and checksums (every rank's file is listed in DONE).
complete_checkpoint() { "$bin" inspect "$1" > /dev/null 2>&1; }

# resume_matches NAME RUN [REF [train args]]: resume RUN with --resume auto; its final params_sha256 must be
# REF (default: the 2-epoch reference's).
resume_matches() {
  local name="$1" run="$2" want="${3:-$ref}"; shift 2; [ $# -gt 0 ] && shift
  timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" "$@" --run-dir "$run" --resume auto > "$run.resume.out" 2>&1 \
    || { fail "$name: the resume failed"; tail "$run.resume.out"; return; }
  local got; got="$(sha "$run.resume.out")"
  [ "$got" = "$want" ] && ok "$name: resumed ($(grep -o 'resumed from [^:]*' "$run.resume.out" | head -1)), params_sha256 identical" \
    || fail "$name: resumed params_sha256 '$got' differs from the uninterrupted '$want'"
}

# stop_drill NAME FAULT STEP BY [extra train args]: a run with RPCT_FAULT=FAULT must exit 3 after step STEP,
# stopped by BY (the "stop_signal" of the result), with a complete checkpoint of that step.
stop_drill() {
  local name="$1" fault="$2" step="$3" by="$4"; shift 4
  local run="$tmp/$name"
  RPCT_FAULT="$fault" timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" "$@" --run-dir "$run" > "$run.out" 2>&1
  local rc=$?
  [ $rc = $kExitStopped ] || { fail "$name: exit code $rc, expected $kExitStopped"; tail -20 "$run.out"; return; }
  local ckpt; ckpt="$(field "$run.out" checkpoint)"
  [ "$(field "$run.out" stopped)" = true ] && [ "$(field "$run.out" step)" = "$step" ] \
    && [ "$(field "$run.out" stop_signal)" = "$by" ] && [ "$ckpt" = "$run/ckpt/step_$(printf %08d "$step")" ] \
    || { fail "$name: result line $(grep '^{' "$run.out" | tail -1), expected stopped by '$by' at step $step"; return; }
  grep "stopped by $by at step $step (epoch " "$run.out" | grep -qF "; checkpoint $ckpt; resume with --resume auto" \
    || { fail "$name: no 'stopped by $by at step $step (epoch ...); checkpoint ...' line"; grep stopped "$run.out"; }
  complete_checkpoint "$ckpt" && ok "$name: exit 3 after step $step, stopped by '$by', checkpoint complete" \
    || fail "$name: the stop's checkpoint $ckpt does not verify"
}

# 1-3. One rank, both ranks at different steps (rank 1's signal would come later: the stop is at rank 0's),
#      SIGINT. A fault at step index i rides on that step's all-reduce: the stop is after step i + 1.
stop_drill one_rank_term "term:1:9" 10 "SIGTERM on rank 1 (none on rank 0)"
resume_matches one_rank_term "$tmp/one_rank_term"
stop_drill all_ranks_usr1 "usr1:0:6,usr1:1:6" 7 "SIGUSR1"
resume_matches all_ranks_usr1 "$tmp/all_ranks_usr1"
stop_drill different_steps "usr1:0:6,usr1:1:8" 7 "SIGUSR1 on rank 0 (none on rank 1)"
resume_matches different_steps "$tmp/different_steps"
stop_drill one_rank_int "int:0:12" 13 "SIGINT on rank 0 (none on rank 1)"
resume_matches one_rank_int "$tmp/one_rank_int"
# 4. During the write of the periodic checkpoint of step 10 (rank 1, after its own file): that checkpoint
#    completes, the stop comes after the next step.
stop_drill during_checkpoint "term@ckpt:1:10" 11 "SIGTERM on rank 1 (none on rank 0)"
complete_checkpoint "$tmp/during_checkpoint/ckpt/step_00000010" && ok "during_checkpoint: the checkpoint being written completed" \
  || fail "during_checkpoint: the checkpoint of step 10, written when the signal came, is not complete"
resume_matches during_checkpoint "$tmp/during_checkpoint"
# 5. As the evaluation after epoch 1 (step 16) starts: it completes (epoch record with top1), then the ranks stop
#    between epochs; the epoch-end checkpoint of step 16 is the stop's.
stop_drill during_eval "usr1@eval:0:16" 16 "SIGUSR1 on rank 0 (none on rank 1)"
resume_matches during_eval "$tmp/during_eval"
"$py" - "$tmp/during_eval/metrics.jsonl" <<'PY' && ok "during_eval: the evaluation finished before the stop (epoch 1 record with top1)" || fail "during_eval: no epoch-1 record with top1 before the stop record"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
kinds = [(r["kind"], r.get("epoch")) for r in recs]
ep = [i for i, r in enumerate(recs) if r["kind"] == "epoch" and r["epoch"] == 1 and "top1" in r]
st = [i for i, r in enumerate(recs) if r["kind"] == "stop"]
sys.exit(0 if ep and st and ep[0] < st[0] else 1)
PY

# 6. The stop's checkpoint cannot be written in time: rank 0 hangs in it; run.stop_grace_s = 2 s from the signal.
run="$tmp/no_time"
RPCT_FAULT="term:0:12,hang@ckpt:0:13" timeout $kRunLimit "${MPI[@]}" "$bin" train "${common[@]}" --set run.stop_grace_s=2 \
  --run-dir "$run" > "$run.out" 2>&1
rc=$?
if [ $rc = $kExitStopped ] && [ "$(field "$run.out" stopped)" = true ] && grep -q '^{"checkpoint":null,"cmd":"train"' "$run.out" \
   && grep -q "not complete within run.stop_grace_s = 2 s at step 13: exiting without a checkpoint" "$run.out"; then
  ok "no_time: exit 3 without a checkpoint, said so"
else
  fail "no_time: exit $rc; $(grep -E 'stop|^\{' "$run.out" | tail -3)"
fi
complete_checkpoint "$run/ckpt/step_00000013" && fail "no_time: the unfinished checkpoint of step 13 verifies"
complete_checkpoint "$run/ckpt/step_00000010" && ok "no_time: the previous checkpoint (step 10) is complete" \
  || fail "no_time: the previous checkpoint (step 10) does not verify"
resume_matches no_time "$run"
grep -q "resumed from $run/ckpt/step_00000010" "$run.resume.out" || fail "no_time: did not resume from step 10"

# 7. kill -TERM from outside to one rank, at a random moment of the 10-epoch run after its first checkpoint.
run="$tmp/external"
"${MPI[@]}" "$bin" train "${common[@]}" "${long[@]}" --run-dir "$run" > "$run.out" 2>&1 &
job=$!
wait_until 60 have_ckpt "$run"
delay=$("$py" -c 'import random; print(round(random.uniform(0.0, 1.0), 2))')
sleep "$delay"
victim="$(rank_pids "--run-dir $run" | shuf -n 1)"
[ -n "$victim" ] && kill -TERM "${victim%% *}"
wait $job; rc=$?
if [ -z "$victim" ] || [ $rc = 0 ]; then
  fail "external: the run ended before the signal ${delay}s after its first checkpoint (make it longer)"
elif [ $rc = $kExitStopped ] && [ "$(field "$run.out" stopped)" = true ]; then
  ok "external: SIGTERM to rank ${victim##* } ${delay}s after the first checkpoint: stopped at step $(field "$run.out" step)"
  complete_checkpoint "$(field "$run.out" checkpoint)" || fail "external: the stop's checkpoint does not verify"
  resume_matches external "$run" "$long_ref" "${long[@]}"
else
  fail "external: SIGTERM to rank ${victim##* }: exit $rc"; tail "$run.out"
fi

# 8. Ctrl-C twice to one rank: the first SIGINT starts a stop whose checkpoint hangs (RPCT_FAULT hang@stop,
#    run.stop_grace_s 60); the second, 0.3 s later, ends it at once (130). The periodic checkpoints stay.
run="$tmp/twice"
RPCT_FAULT="hang@stop:0:*" "${MPI[@]}" "$bin" train "${common[@]}" "${long[@]}" --set run.stop_grace_s=60 \
  --run-dir "$run" > "$run.out" 2>&1 &
job=$!
wait_until 60 have_ckpt "$run"
victim="$(rank_pids "--run-dir $run" | awk '$2 == 0 {print $1}')"
t0=$SECONDS
if [ -n "$victim" ]; then kill -INT "$victim"; sleep 0.3; kill -INT "$victim"; fi
wait $job; rc=$?
if [ $rc = $kExitInterrupted ] && [ $((SECONDS - t0)) -le 10 ] && grep -q "SIGINT while a stop is pending: exiting now" "$run.out"; then
  ok "twice: two SIGINTs to rank 0: exit $rc in $((SECONDS - t0)) s, said so"
  resume_matches twice "$run" "$long_ref" "${long[@]}"
else
  fail "twice: exit $rc after $((SECONDS - t0)) s, expected $kExitInterrupted at once"; tail "$run.out"
fi

# 9. The launcher: SIGTERM to it reaches every rank (as SIGUSR1 through mpirun): exit 3, no restart.
run="$tmp/launch"
"$bin" launch --procs-per-node 2 --oversubscribe --max-restarts 2 -- train "${common[@]}" --run-dir "$run" > "$run.out" 2>&1 &
lpid=$!
wait_until 60 have_ckpt "$run"
kill -TERM $lpid
wait $lpid; rc=$?
if [ $rc = $kExitStopped ]; then
  [ "$(result_field "$run.out" launch restarts)" = 0 ] && [ "$(result_field "$run.out" launch stopped)" = true ] \
    && grep -q "stopped by SIGUSR1 at step" "$run.out" && ok "launch: SIGTERM -> every rank stopped (SIGUSR1), exit 3, not restarted" \
    || { fail "launch: $(grep -E '^\{|launch' "$run.out" | tail -3)"; }
  "$bin" launch --procs-per-node 2 --oversubscribe -- train "${common[@]}" --run-dir "$run" --resume auto > "$run.2.out" 2>&1 \
    || fail "launch: the second launch failed"
  [ "$(sha "$run.2.out")" = "$ref" ] && ok "launch: the second launch resumed, params_sha256 identical" || fail "launch: resumed params_sha256 differs"
elif [ $rc = 0 ]; then
  echo "     launch: the run finished before the signal (not counted)"
else
  fail "launch: exit $rc, expected $kExitStopped"; tail "$run.out"
fi
# Ctrl-C twice to the launcher: the first starts a stop whose checkpoint hangs (run.stop_grace_s 60); the second
# (0.3 s later) has mpirun end the ranks within seconds; no restart.
run="$tmp/launch_twice"
RPCT_FAULT="hang@stop:0:*" "$bin" launch --procs-per-node 2 --oversubscribe --max-restarts 2 -- train "${common[@]}" \
  "${long[@]}" --set run.stop_grace_s=60 --run-dir "$run" > "$run.out" 2>&1 &
lpid=$!
wait_until 60 have_ckpt "$run"
t0=$SECONDS; kill -INT $lpid; sleep 0.3; kill -INT $lpid
wait $lpid; rc=$?
[ "$(result_field "$run.out" launch restarts)" = 0 ] && [ $rc != 0 ] && [ $((SECONDS - t0)) -le 10 ] \
  && ok "launch: Ctrl-C twice ended the job in $((SECONDS - t0)) s (exit $rc), not restarted" \
  || fail "launch: Ctrl-C twice: exit $rc after $((SECONDS - t0)) s; $(grep -E '^\{"cmd":"launch' "$run.out")"

[ $fails = 0 ] && echo "all stop drills passed" && exit 0
exit 1
