#!/usr/bin/env bash
# bench/run tensorboard [ROUNDS]: what writing TensorBoard events costs a training step. The main job's model and
# recipe (configs/fmnist_vit.yaml) under mpirun -np 2, 2 epochs of 10240 images, trained with train.tensorboard
# true and false alternately, ROUNDS pairs (default 3); each run logs every step (train.log_every 1, the most
# events a run writes: 4 scalars a step). Reports the median images/s of each side and their ratio
# (tensorboard / none, 1.0 = free); the target is overhead < 1%, i.e. ratio >= 0.99. Last line: JSON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
work="$(mktemp -d /tmp/rpct-tb-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
sets=(--set train.epochs=2 --set data.limit_train=10240 --set data.limit_test=500 --set train.log_every=1
      --set ckpt.epoch_end=false --set train.threads=1)
for ((r = 1; r <= rounds; ++r)); do
  for tb in true false; do
    run="$work/$tb.$r"
    echo "[tensorboard] round $r/$rounds, train.tensorboard=$tb (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    (cd "$repo" && "${mpi[@]}" "$RPCT_BUILD/rpctrain" train --config configs/fmnist_vit.yaml "${sets[@]}" \
      --set train.tensorboard=$tb --run-dir "$run") > "$run.log" 2>&1 || { tail -n 20 "$run.log" >&2; exit 1; }
    # The run's training images/s (its last epoch record: training steps only, evaluation and start-up excluded).
    "$RPCT_PYTHON" - "$run/metrics.jsonl" >> "$work/$tb.txt" <<'PY'
import json, sys
e = [r for r in map(json.loads, open(sys.argv[1])) if r.get("kind") == "epoch"]
print(e[-1]["images_per_s"])
PY
  done
done
"$RPCT_PYTHON" - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]
on = [float(x) for x in open(w + "/true.txt")]
off = [float(x) for x in open(w + "/false.txt")]
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"tensorboard on:  {m_on:.1f} img/s (runs: {', '.join(f'{x:.1f}' for x in on)})")
print(f"tensorboard off: {m_off:.1f} img/s (runs: {', '.join(f'{x:.1f}' for x in off)})")
print(f"ratio on/off: {m_on / m_off:.4f} (target >= 0.99)")
print(json.dumps({"bench": "tensorboard", "images_per_s_on": m_on, "images_per_s_off": m_off,
                  "ratio": m_on / m_off, "rounds": len(on)}))
PY
