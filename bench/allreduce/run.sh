#!/usr/bin/env bash
# bench/run allreduce [reps]: GradSync vs raw MPI_Allreduce, 2 ranks on this machine.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun -np 2 --oversubscribe --bind-to none "$RPCT_BUILD/bench_allreduce" "${1:-200}"
