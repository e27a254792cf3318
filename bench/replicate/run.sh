#!/usr/bin/env bash
# bench/run replicate [--seeds N] [--epochs E] [--variants softmax,sym,kvpos,rpc,rpc_all] [--out DIR] [--quick]
#                     [--seg] [--shard K/N] [--tables-only DIR]
# The papers' claims replicated on Fashion-MNIST: every attention variant x seed trained with `mpirun -np 2`, then
# `rpctrain bench classify` on its final weights; tables (mean ± std, mCE vs sym, RPC - sym with Welch's
# t-test) and SVG plots in DIR (default runs/replicate). Resumable: rerun the same command to continue.
# Env (set by bench/run): RPCT_BUILD, RPCT_PYTHON. See replicate.py for the recipe.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
exec "${RPCT_PYTHON:-python3}" "$here/replicate.py" "$@"
