#!/usr/bin/env bash
# bench/run scaling: weak scaling on this machine. The same per-rank batch and 1 thread per rank:
# 1 rank vs 2 ranks (mpirun). efficiency = images/s(2 ranks) / (2 x images/s(1 rank)).
# images/s counts training steps only (not evaluation). Prints a table and a JSON line last.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
here="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
args=(train --config "$here/configs/fmnist_vit.yaml" --set train.epochs=1 --set data.limit_train="${RPCT_SCALING_SAMPLES:-16384}"
      --set data.limit_test=1000 --set train.threads=1 --set train.batch_size=64 --set run.out_dir="$tmp")
one="$("$RPCT_BUILD/rpctrain" "${args[@]}" | tail -n 1)"
two="$(mpirun -np 2 --oversubscribe --bind-to none "$RPCT_BUILD/rpctrain" "${args[@]}" | tail -n 1)"
"$RPCT_PYTHON" - "$one" "$two" <<'PY'
import json, sys
one, two = json.loads(sys.argv[1]), json.loads(sys.argv[2])
eff = two["images_per_s"] / (2 * one["images_per_s"])
print(f"{'ranks':>6} {'threads/rank':>13} {'batch/rank':>11} {'images/s':>10}")
print(f"{1:>6} {1:>13} {64:>11} {one['images_per_s']:>10.1f}")
print(f"{2:>6} {1:>13} {64:>11} {two['images_per_s']:>10.1f}")
print(f"weak-scaling efficiency: {eff:.3f}")
print(json.dumps({"bench": "scaling", "images_per_s_1rank": one["images_per_s"],
                  "images_per_s_2ranks": two["images_per_s"], "efficiency": eff}))
PY
