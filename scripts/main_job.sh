#!/usr/bin/env bash
# The main job: set up, build the rpctrain binary (nothing else), and train a ViT on real
# Fashion-MNIST, data-parallel over 2 MPI ranks on this CPU machine (1 intra-op thread each); ends
# with the test accuracy (last line: JSON).
# Extra arguments are passed to `rpctrain train` (e.g. --set train.epochs=2).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(bash "$here/scripts/build.sh" rpctrain | tail -n 1)"  # only what it runs: no tests, benchmarks
cd "$here"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
exec mpirun -np "${RPCT_RANKS:-2}" --oversubscribe --bind-to none \
  "$build/rpctrain" train --config configs/fmnist_vit.yaml "$@"
