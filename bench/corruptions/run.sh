#!/usr/bin/env bash
# bench/run corruptions: corruption generation, images/s on one core, of the C++ corruptions (robust/,
# corruption_bench) vs the imagecorruptions package (python_ref.py), same images (8 at 224x224: Fashion-MNIST
# items upscaled and tinted, synthetic natural-ish ones), same mix (each of the 19 corruptions at each of the
# 5 severities, whole rounds of 95), same run; both pinned to one core with taskset. Target (issue 14): >= 5x.
# Env: RPCT_BUILD (build dir), set by bench/run. Options (env): SECONDS_PER_RUN (default 20), BENCH_SIZE (224).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${RPCT_BUILD:?run through bench/run corruptions}"
py="${RPCT_CORRUPT_PYTHON:-${RPCT_CACHE:-$HOME/.cache/rpctrain}/venv-corrupt/bin/python}"
secs="${SECONDS_PER_RUN:-20}"
size="${BENCH_SIZE:-224}"
n=8
[ -x "$py" ] || { echo "bench/corruptions: no imagecorruptions python at $py (run scripts/setup.sh)" >&2; exit 1; }
[ -x "$build/corruption_bench" ] || cmake --build "$build" --target corruption_bench >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" "$here/python_ref.py" make "$tmp/images.u8" "$n" "$size"
core="$(($(nproc) - 1))"
echo "[corruptions] C++ (robust::corrupt), core $core, ${secs}s:" >&2
ours="$(OMP_NUM_THREADS=1 taskset -c "$core" "$build/corruption_bench" "$tmp/images.u8" "$n" "$size" "$size" --seconds "$secs" | tail -n 1)"
echo "  $ours" >&2
echo "[corruptions] imagecorruptions $("$py" -c 'import importlib.metadata as m; print(m.version("imagecorruptions-imaug"))'), core $core, ${secs}s:" >&2
ref="$(OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c "$core" "$py" "$here/python_ref.py" run "$tmp/images.u8" "$n" "$size" "$secs" | tail -n 1)"
echo "  $ref" >&2
"$py" - "$ours" "$ref" "$size" <<'PY'
import json, sys
ours, ref = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "corruptions", "size": int(sys.argv[3]), "mix": "19 corruptions x 5 severities",
                  "ours_img_s_per_core": ours["img_s"], "imagecorruptions_img_s_per_core": ref["img_s"],
                  "ratio": round(ours["img_s"] / ref["img_s"], 2),
                  "ratio_per_corruption": {k: round(ref["ms_per_image"][k] / v, 1) for k, v in ours["ms_per_image"].items()}}))
PY
