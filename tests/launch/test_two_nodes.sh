#!/usr/bin/env bash
# Two "nodes" on one machine (labels mpi, slow): `rpctrain launch --nodes 2 --hostfile H
# --procs-per-node 2` where the hostfile names 127.0.0.2 and 127.0.0.3 (loopback addresses of this machine).
# Open MPI starts one orted daemon per node through its rsh agent (plm_rsh_agent = a script that runs the
# daemon here instead of over ssh) and the ranks talk over TCP (btl tcp,self on lo: no shared memory between
# the nodes). Every process of node 2 (its daemon and both ranks) is killed with SIGKILL after the first
# complete checkpoint; the launcher restarts the job, which resumes from the newest complete checkpoint
# and ends with the params_sha256 of an uninterrupted two-node run.
# What this does not simulate: separate kernels and filesystems (the run dir is one local directory, as a
# shared filesystem would make it), real NICs and their failures (partitions, timeouts), ssh, and a node
# that stays down (here the restart finds both "nodes" again).
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
kNode2=127.0.0.3
kRunLimit=300   # seconds for one launch (4 ranks on 2 cores, plus a restart)
printf '127.0.0.2 slots=2\n%s slots=2\n' "$kNode2" > "$tmp/hosts"
# Open MPI calls the agent as "AGENT [options] HOST COMMAND...". It runs COMMAND (the orted of HOST) here,
# with RPCT_TEST_NODE=HOST:<this test's folder> in its environment, which its ranks inherit: how the test
# finds node 2's processes (and only this test's). Each node gets its own session directory
# (orte_tmpdir_base), as separate machines would: with both daemons under /tmp/ompi.<host>.<uid>, one of them
# now and then failed to create its directory at start-up (session_dir.c, mpirun exit 213; seen in CI and
# here under a compile load).
cat > "$tmp/agent" <<'AGENT'
#!/usr/bin/env bash
while [ "${1#-}" != "$1" ]; do shift; done
host="$1"; shift
session="$(dirname "$0")/session-$host"
mkdir -p "$session"
exec env RPCT_TEST_NODE="$host:$(dirname "$0")" OMPI_MCA_orte_tmpdir_base="$session" /bin/sh -c "$*"
AGENT
chmod +x "$tmp/agent"
export OMPI_MCA_plm_rsh_agent="$tmp/agent" OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self \
       OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# 4 ranks x batch 32 = 128 a step; 1024 samples = 8 steps an epoch; a checkpoint every 2 steps.
train=(train --config "$src/configs/fmnist_quick.yaml" --set data.limit_train=1024 --set data.limit_test=200
       --set train.epochs=2 --set train.batch_size=32 --set ckpt.every_steps=2 --set dist.timeout_s=30)
launch=("$bin" launch --nodes 2 --hostfile "$tmp/hosts" --procs-per-node 2 --oversubscribe --max-restarts 2 --)
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

node_pids() {  # pids of the processes started for node $1 (its orted and its ranks): one grep over /proc
  grep -lzxF "RPCT_TEST_NODE=$1:$tmp" /proc/[0-9]*/environ 2>/dev/null | sed 's|^/proc/\([0-9]*\)/environ$|\1|'
}

timeout $kRunLimit "${launch[@]}" "${train[@]}" --run-dir "$tmp/ref" > "$tmp/ref.out" 2>&1 || { fail "uninterrupted two-node run"; tail -20 "$tmp/ref.out"; }
ref="$(result_field "$tmp/ref.out" train params_sha256)"
[ "$(result_field "$tmp/ref.out" train world_size)" = 4 ] && [ -n "$ref" ] && echo "ok   uninterrupted: 4 ranks on 2 nodes, params_sha256 $ref" \
  || fail "uninterrupted: no 4-rank result"
# A launch that fails by itself (an orted segfault or session directory at start-up: see build_mpirun_command
# and the agent above) shows as a restart. The launcher is there to absorb such failures, so they are printed,
# not failed on.
extra_restarts() {  # extra_restarts OUT EXPECTED: print what made the launcher restart more often than EXPECTED
  local n; n="$(result_field "$1" launch restarts)"
  [ "${n:-0}" -gt "$2" ] && { echo "note $1: $n restart(s), $2 expected; what failed:"
                              grep -E "job exited|Segmentation|ORTE_ERROR|unable to|lost communication" "$1" | sed 's/^/     /'; }
  return 0
}
extra_restarts "$tmp/ref.out" 0

run="$tmp/kill"
timeout $kRunLimit "${launch[@]}" "${train[@]}" --run-dir "$run" > "$run.out" 2>&1 &
lpid=$!
killed=""
if wait_until 120 compgen -G "$run/ckpt/step_*/DONE"; then
  killed="$(node_pids $kNode2 | tr '\n' ' ')"
  [ -n "$killed" ] && kill -KILL $killed 2>/dev/null
fi
wait $lpid || { fail "the launcher did not complete the job"; tail -20 "$run.out"; }
if [ -z "$killed" ]; then fail "no process of node $kNode2 found to kill"
else
  echo "     killed node $kNode2: pids $killed"
  restarts="$(result_field "$run.out" launch restarts)"
  [ "${restarts:-0}" -ge 1 ] && grep -q "resumed from $run/ckpt/step_" "$run.out" \
    && echo "ok   node 2 lost: the launcher restarted the job ($restarts restart(s)); $(grep -o "resumed from [^:]*: step [0-9]*" "$run.out" | tail -1)" \
    || { fail "node 2 lost: no restart + resume"; grep -E "launch|resum|skipping|Segmentation|ORTE_ERROR" "$run.out"; }
  extra_restarts "$run.out" 1
  [ "$(result_field "$run.out" train params_sha256)" = "$ref" ] && echo "ok   node 2 lost: params_sha256 = the uninterrupted run's" \
    || fail "node 2 lost: params_sha256 differs from the uninterrupted run's"
fi
[ $fails = 0 ] && echo "all two-node checks passed" && exit 0
exit 1
