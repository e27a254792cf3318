#!/usr/bin/env bash
# Fault handling under mpirun -np 2: a stuck rank trips the watchdog on the other (naming rank,
# bucket and step), a rank that exits early ends the job, a config mismatch fails fast.
set -u
bin="$1"; cfg="$RPCT_SOURCE_DIR/configs/fmnist_quick.yaml"
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
[ $fails = 0 ] && echo "all fault checks passed" && exit 0
exit 1
