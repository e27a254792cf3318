#!/usr/bin/env bash
# Fault handling under mpirun -np 2: a stuck rank trips the watchdog on the other (naming rank,
# bucket and step), a rank that exits early ends the job, a config mismatch fails fast; a rank stopped
# with SIGSTOP: the watchdog ends the job within dist.timeout_s naming the rank that never arrived, and
# under `launch --max-restarts` (the stop sent from outside, mid-run) the job resumes and finishes.
set -u
bin="$1"; cfg="$RPCT_SOURCE_DIR/configs/fmnist_quick.yaml"; py="${RPCT_PYTHON:-python3}"
source "$RPCT_SOURCE_DIR/tests/script_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
MPIRUN="mpirun --oversubscribe --bind-to none"
kLimit=90   # seconds: the watchdog (5 s) plus start-up and mpirun's teardown, with margin
fails=0
run() {  # run NAME PATTERN -- cmd...
  local name="$1" pattern="$2"; shift 3
  local t0=$SECONDS
  timeout $kLimit "$@" >"$tmp/out" 2>&1; local rc=$?
  local dt=$((SECONDS - t0))
  if [ $rc = 0 ]; then echo "FAIL $name: exit 0"; fails=$((fails+1)); return; fi
  if [ $rc = 124 ]; then echo "FAIL $name: still running after ${kLimit}s (hang)"; tail -5 "$tmp/out"; fails=$((fails+1)); return; fi
  if ! grep -q -- "$pattern" "$tmp/out"; then echo "FAIL $name: no '$pattern'"; tail -20 "$tmp/out"; fails=$((fails+1)); return; fi
  echo "ok   $name (exit $rc after ${dt}s)"
}
# mpi-labelled: pinned to the CPU (on a 1-GPU machine `auto` would put two ranks on one GPU).
common=(--set train.epochs=1 --set data.limit_train=2048 --set dist.timeout_s=5 --set run.out_dir="$tmp" --set train.device=cpu)
run stuck-rank "rank 0 .*watchdog: all-reduce of bucket 0/[0-9]* (.*) at step 3 did not finish within dist.timeout_s = 5.0 s" -- \
  env RPCT_FAULT=hang:1:3 $MPIRUN -np 2 "$bin" train --config "$cfg" "${common[@]}"
run early-exit "RPCT_FAULT exit at step 3" -- \
  env RPCT_FAULT=exit:1:3 $MPIRUN -np 2 "$bin" train --config "$cfg" "${common[@]}"
run config-mismatch "the config of rank(s) 1 differs from rank 0's" -- \
  $MPIRUN -np 1 "$bin" train --config "$cfg" "${common[@]}" --set train.lr=1e-3 : \
          -np 1 "$bin" train --config "$cfg" "${common[@]}" --set train.lr=2e-3

# SIGSTOP of rank 1 at step 3 (it raises it itself, so the step is known): rank 0's watchdog names rank 1
# from the progress files (never entered step 3's bucket 0, no heartbeat), within dist.timeout_s of the stop
# (plus mpirun's teardown).
kTeardownSlack=20   # seconds: MPI_Abort's teardown of the stopped rank and polling, on a loaded 2-core machine
RPCT_FAULT=stop:1:3 $MPIRUN -np 2 "$bin" train --config "$cfg" "${common[@]}" > "$tmp/stop.out" 2>&1 &
pid=$!
wait_until $kLimit grep -q "RPCT_FAULT stop at step 3" "$tmp/stop.out"; t_stop=$SECONDS
gone() { ! kill -0 "$1" 2>/dev/null; }
if ! wait_until $kLimit gone $pid; then
  echo "FAIL stopped-rank: still running ${kLimit}s after the stop"; fails=$((fails+1)); kill -KILL $pid
fi
for p in $(rank_pids "run.out_dir=$tmp" | cut -d' ' -f1); do kill -KILL "$p"; done  # a stopped rank left behind
wait $pid; rc=$?; dt=$((SECONDS - t_stop))
pattern="rank 0 .*watchdog: all-reduce of bucket 0/[0-9]* (.*) at step 3 did not finish within dist.timeout_s = 5.0 s; rank\(s\) that never arrived: 1 \(last entered: bucket [0-9]+ of step 2; silent for [0-9.]+ s\)"
if [ $rc = 0 ]; then echo "FAIL stopped-rank: exit 0"; fails=$((fails+1))
elif ! grep -qE -- "$pattern" "$tmp/stop.out"; then echo "FAIL stopped-rank: no '$pattern'"; grep watchdog "$tmp/stop.out"; tail -8 "$tmp/stop.out"; fails=$((fails+1))
elif [ $dt -gt $((5 + kTeardownSlack)) ]; then echo "FAIL stopped-rank: ended ${dt}s after the stop"; fails=$((fails+1))
else echo "ok   stopped-rank (exit $rc ${dt}s after the stop): $(grep -oE 'rank\(s\) that never arrived: .* s\)' "$tmp/stop.out")"; fi

# The same from outside under the launcher: SIGSTOP to one rank after the first complete checkpoint, at
# whatever it is doing (computing, or inside a collective: then it is named by its missing heartbeat); the
# watchdog aborts, the launcher restarts with --resume auto, the job finishes.
run="$tmp/relaunch"
timeout $((3 * kLimit)) "$bin" launch --procs-per-node 2 --oversubscribe --max-restarts 2 -- train --config "$cfg" "${common[@]}" \
  --set data.limit_train=1024 --set train.epochs=2 --set ckpt.every_steps=2 --run-dir "$run" > "$tmp/relaunch.out" 2>&1 &
lpid=$!
victim=""
if wait_until $kLimit compgen -G "$run/ckpt/step_*/DONE"; then
  read -r victim vrank < <(rank_pids "--run-dir $run" | shuf -n 1)
  [ -n "$victim" ] && kill -STOP "$victim"
fi
wait $lpid; rc=$?
[ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null  # never leave a stopped process behind
if [ -z "$victim" ]; then echo "FAIL stop+launcher: no rank to stop (no checkpoint within ${kLimit}s?)"; fails=$((fails+1))
elif [ $rc != 0 ] || [ "$(result_field "$tmp/relaunch.out" train ok)" != true ]; then
  echo "FAIL stop+launcher: the relaunched job did not finish (exit $rc)"; tail -8 "$tmp/relaunch.out"; fails=$((fails+1))
elif ! grep -qE "rank\(s\) that (never arrived|stopped responding inside it): $vrank \(" "$tmp/relaunch.out" || ! grep -q "resumed from $run/ckpt/step_" "$tmp/relaunch.out" \
     || [ "$(result_field "$tmp/relaunch.out" launch restarts)" -lt 1 ]; then
  echo "FAIL stop+launcher: watchdog naming rank $vrank / resume / restart missing"; grep -E "watchdog|launch|resumed" "$tmp/relaunch.out"; fails=$((fails+1))
else echo "     $(grep -oE "watchdog: .*Aborting" "$tmp/relaunch.out" | head -1)"
  echo "ok   stop+launcher: rank $vrank stopped, named by the watchdog, job restarted $(result_field "$tmp/relaunch.out" launch restarts)x, resumed, finished"; fi

[ $fails = 0 ] && echo "all fault checks passed" && exit 0
exit 1
