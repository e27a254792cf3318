#!/usr/bin/env bash
# The body of the sbatch templates (launch/slurm.sbatch for GPUs, launch/slurm_cpu.sbatch): trains CONFIG in the
# job's allocation and makes the job preemption-safe.
#
#   slurm_run.sh CONFIG [RUN_NAME] [train arguments...]     (from a batch script, in the repository root)
#
# - The ranks: `srun --mpi=pmix` (RPCT_LAUNCHER=srun, the default; Debian's slurm-wlm has the pmix plugin,
#   Open MPI finds PMIx in the task's environment) or Open MPI's mpirun inside the allocation
#   (RPCT_LAUNCHER=mpirun: `rpctrain launch`, whose mpirun reads the allocation's nodes and starts its
#   daemons with srun).
# - The run directory: run.out_dir/RUN_NAME, or without RUN_NAME run.out_dir/<config stem>-slurm-<job id>;
#   every start is `--resume auto`, so a requeued job (same job id) continues its own run.
# - Signals: Slurm sends the batch shell the warning signal of `#SBATCH --signal=B:USR1@SECONDS` before the
#   time limit or a preemption, and SIGTERM to every process on scancel / at the limit. This script forwards
#   USR1, TERM and INT to the ranks as SIGUSR1 (srun and mpirun pass it on at once): they agree on a step,
#   checkpoint and exit 3 (docs/distributed.md).
# - Requeue: exit 3 after the warning signal (USR1 reached this script) -> `scontrol requeue` (the job needs
#   `--requeue`); RPCT_REQUEUE=0 turns that off. After scancel or the time limit (SIGTERM) the job ends with
#   its checkpoint; submitting it again (same RUN_NAME) resumes.
# - mpirun and scancel: Slurm signals mpirun and its daemons (an srun step) too, and Open MPI then kills the
#   ranks within about 2 s, checkpoint written or not. The warning signal (USR1, forwarded by mpirun) stops
#   them cleanly; for scancel use `scancel --signal=USR1 --batch JOBID` with mpirun, or srun (the default).
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: slurm_run.sh CONFIG [RUN_NAME] [train arguments...]" >&2; exit 2
fi
config="$1"; shift
name=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then name="$1"; shift; fi
cd "${RPCT_HOME:-${SLURM_SUBMIT_DIR:-.}}"
rpctrain="${RPCT_BIN:-build/rpctrain}"
[ -x "$rpctrain" ] || { echo "slurm_run: $rpctrain not found (build it first: bash scripts/build.sh rpctrain)" >&2; exit 2; }
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

args=(train --config "$config" --resume auto "$@")
[ -n "$name" ] && args+=(--set "run.name=$name")
case "${RPCT_LAUNCHER:-srun}" in
  srun) cmd=(srun --mpi=pmix "$rpctrain" "${args[@]}") ;;
  mpirun)
    cmd=("$rpctrain" launch --nodes "${SLURM_JOB_NUM_NODES:-1}" --procs-per-node "${SLURM_NTASKS_PER_NODE:-${SLURM_NTASKS:-1}}"
         --oversubscribe -- "${args[@]}") ;;
  *) echo "slurm_run: RPCT_LAUNCHER must be srun or mpirun, got '$RPCT_LAUNCHER'" >&2; exit 2 ;;
esac

echo "[slurm_run] job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-?}: ${cmd[*]}"
warned=""  # the signal this script got, if any
forward() {  # forward SIG: pass a stop request on to the ranks
  [ -z "$warned" ] && warned="$1"
  echo "[slurm_run] SIG$1: asking the ranks to stop (SIGUSR1)"
  kill -USR1 "$child" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
trap 'forward INT' INT
"${cmd[@]}" &
child=$!
# `wait` returns early (> 128) when a trapped signal arrives; wait again until the ranks are gone.
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
[ "$rc" = 0 ] || echo "[slurm_run] exit code $rc"  # on success the last line is rpctrain's JSON result
if [ "$rc" = 3 ] && [ "$warned" = USR1 ] && [ "${RPCT_REQUEUE:-1}" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  echo "[slurm_run] stopped on the warning signal: requeueing job $SLURM_JOB_ID (it resumes with --resume auto)"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$rc"
