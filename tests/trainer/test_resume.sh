#!/usr/bin/env bash
# Checkpoint / resume under mpirun -np 2 (labels mpi, slow):
#  1. crash mid-epoch, resume auto: final params_sha256 and every logged step loss equal the
#     uninterrupted run's;
#  2. kill -9 of one rank at a random moment under `rpctrain launch --max-restarts`: the launcher
#     restarts it (asserted; the kill is retried earlier when the run outran it) and it completes
#     with the uninterrupted params_sha256;
#  3. a bit-flipped / truncated checkpoint file is named on load, and auto falls back;
#  4. resume 2 ranks -> 1 rank: every sample of the epoch seen exactly once.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
common=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=2048 --set data.limit_test=500
        --set train.epochs=2 --set train.batch_size=64 --set model.drop_path=0.1 --set train.log_every=1
        --set ckpt.every_steps=5 --set ckpt.keep=2 --set train.ema=0.9 --set train.device=cpu)  # mpi test: CPU (see test_faults.sh)
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
source "$(dirname "$0")/run_result.sh"  # sha, losses

# Reference: uninterrupted.
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/A" > "$tmp/A.out" 2>&1 || { fail "uninterrupted run"; tail "$tmp/A.out"; }
ref="$(sha "$tmp/A.out")"; [ -n "$ref" ] || fail "no params_sha256 in the uninterrupted run"
echo "uninterrupted: params_sha256 $ref"

# 1. Crash at step 13 (checkpoint at 10, mid-epoch 1 of 16 steps), then resume auto.
RPCT_FAULT=exit:1:13 "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" > "$tmp/B1.out" 2>&1 && fail "fault run exited 0"
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" --resume auto > "$tmp/B2.out" 2>&1 || { fail "resume"; tail "$tmp/B2.out"; }
grep -q "resumed from .*step_00000010: step 10, epoch 1, position 1280" "$tmp/B2.out" || fail "did not resume from step 10 mid-epoch"
[ "$(sha "$tmp/B2.out")" = "$ref" ] && echo "ok   resume mid-epoch: params_sha256 identical" || fail "resume: params_sha256 differs"
if diff <(losses "$tmp/A/metrics.jsonl") <(losses "$tmp/B/metrics.jsonl") > "$tmp/loss.diff"; then
  echo "ok   resume mid-epoch: all $(losses "$tmp/A/metrics.jsonl" | wc -l) logged step losses identical"
else fail "logged losses differ"; head "$tmp/loss.diff"; fi

# 2. kill -9 of one rank; the launcher must restart the job with --resume auto and finish with the
#    uninterrupted run's parameters. Try 1 kills at a random moment shortly after the first checkpoint
#    appears (the run writes one every 5 steps, so the kill often lands inside a write); if the run had
#    finished by then, try 2 kills as the first checkpoint appears, try 3 as soon as the ranks exist.
#    A run in which no rank was killed, or that the launcher did not restart, fails.
ranks_of() {  # ranks_of RUN_DIR LAUNCHER_PID: pids of the rpctrain rank processes of that run
  pgrep -f -- "--run-dir $1" | while read -r p; do
    [ "$p" != "$2" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = rpctrain ] && echo "$p"
  done
}
wait_until() {  # wait_until CMD...: poll every 50 ms for up to 60 s
  for _ in $(seq 1 1200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}
have_ckpt() { compgen -G "$1/ckpt/step_*" >/dev/null; }
have_ranks() { [ -n "$(ranks_of "$1" "$2")" ]; }
launch_restarts() {  # the "restarts" of the launcher's result line in $1
  "$py" - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(([r for r in rows if r.get("cmd") == "launch"] or [{}])[-1].get("restarts", 0))
PY
}
killed=""
for try in 1 2 3; do
  run="$tmp/C$try"
  "$bin" launch --procs-per-node 2 --oversubscribe --max-restarts 3 -- train "${common[@]}" --run-dir "$run" > "$run.out" 2>&1 &
  lpid=$!
  case $try in
    1) wait_until have_ckpt "$run"; delay=$("$py" -c 'import random; print(round(random.uniform(0.0, 0.4), 2))');
       when="${delay}s after the first checkpoint appeared" ;;
    2) wait_until have_ckpt "$run"; delay=0; when="as the first checkpoint appeared" ;;
    3) wait_until have_ranks "$run" "$lpid"; delay=0; when="as soon as the ranks started" ;;
  esac
  sleep "$delay"
  victim="$(ranks_of "$run" "$lpid" | shuf -n 1)"
  if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
    killed="$victim"; echo "     try $try: killed rank pid $victim $when"
  else
    echo "     try $try: the run finished before the kill $when"
  fi
  wait $lpid || { fail "launcher did not complete"; tail -20 "$run.out"; }
  [ -n "$killed" ] && break
done
if [ -z "$killed" ]; then
  fail "kill -9: no rank was killed in 3 tries (the run always finished first)"
else
  restarts="$(launch_restarts "$run.out")"
  [ "$restarts" -ge 1 ] 2>/dev/null && echo "ok   kill -9: the launcher restarted the job ($restarts restart(s))" \
    || { fail "kill -9: the launcher reports $restarts restarts after a rank was killed"; tail -20 "$run.out"; }
  [ "$(sha "$run.out")" = "$ref" ] && echo "ok   kill -9 + launcher restart: params_sha256 identical" \
    || { fail "kill -9: params_sha256 differs"; grep -E "launch|resum|skipping" "$run.out"; }
fi

# 3. Corruption: flip a byte in the newest checkpoint of run A, truncate another copy.
newest="$(ls -d "$tmp"/A/ckpt/step_* | sort | tail -n 1)"
cp -r "$tmp/A" "$tmp/D"; newestD="$tmp/D/ckpt/$(basename "$newest")"
"$py" - "$newestD/model.safetensors" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x40; open(p, "wb").write(b)
PY
"$bin" inspect "$newestD" > "$tmp/D.out" 2>&1 && fail "inspect accepted a bit-flipped checkpoint"
grep -q "model.safetensors: checksum mismatch" "$tmp/D.out" && echo "ok   bit flip detected, file named" || fail "bit flip not named"
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/D" --resume auto > "$tmp/D2.out" 2>&1 || fail "auto fallback run"
grep -q "skipping $newestD: .*model.safetensors: checksum mismatch" "$tmp/D2.out" && grep -q "resumed from $tmp/D/ckpt/step_" "$tmp/D2.out" \
  && echo "ok   resume auto skips the corrupt one and falls back" || { fail "auto fallback"; grep -E "skipping|resumed" "$tmp/D2.out"; }
cp -r "$tmp/A" "$tmp/E"; newestE="$tmp/E/ckpt/$(basename "$newest")"
truncate -s 100 "$newestE/optim.safetensors"
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/E" --resume "$newestE" > "$tmp/E.out" 2>&1 && fail "resume from a truncated checkpoint succeeded"
grep -q "optim.safetensors: checksum mismatch" "$tmp/E.out" && echo "ok   truncated file named on explicit resume" || fail "truncation not named"

# 4. 2 ranks -> 1 rank: crash at step 7 (checkpoint at 5), resume with one rank of the same batch.
RPCT_SAMPLE_LOG="$tmp/F1" RPCT_FAULT=exit:0:7 "${MPI[@]}" "$bin" train "${common[@]}" --set train.epochs=1 --run-dir "$tmp/F" > "$tmp/F1.out" 2>&1
RPCT_SAMPLE_LOG="$tmp/F2" "$bin" train "${common[@]}" --set train.epochs=1 --run-dir "$tmp/F" --resume auto > "$tmp/F2.out" 2>&1 || { fail "1-rank resume"; tail "$tmp/F2.out"; }
"$py" - "$tmp" <<'PY' || fails=$((fails+1))
import glob, sys, collections
tmp = sys.argv[1]; seen = collections.Counter()
for f in glob.glob(tmp + "/F1.rank*"):
    for line in open(f):
        e, s, *idx = map(int, line.split())
        if s < 5: seen.update(idx)          # steps before the checkpoint at step 5
for line in open(tmp + "/F2.rank0"):
    e, s, *idx = map(int, line.split())
    seen.update(idx)
dup = [i for i, c in seen.items() if c > 1]
ok = not dup and sorted(seen) == list(range(2048))
print(("ok   2 ranks -> 1 rank: all 2048 samples of the epoch seen exactly once" if ok else
       f"FAIL 2->1 resume: {len(seen)} distinct, {len(dup)} repeated, missing {2048 - len(seen)}"))
sys.exit(0 if ok else 1)
PY
[ $fails = 0 ] && echo "all resume checks passed" && exit 0
exit 1
