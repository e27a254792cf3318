#!/usr/bin/env bash
# bench/run corruptions: corruption generation, images/s on one core, of the C++ corruptions (robust/,
# corruption_bench) vs the imagecorruptions package (python_ref.py), same images (8 at 224x224: Fashion-MNIST
# items upscaled and tinted, synthetic natural-ish ones), same mix (each of the 19 corruptions at each of the
# 5 severities, whole rounds of 95), same run; both pinned to one core with taskset. Target: >= 5x.
# Env: RPCT_BUILD (build dir), set by bench/run. Options (env): SECONDS_PER_RUN (per side and round, default
# 10), ROUNDS (default 3), BENCH_SIZE (224).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${RPCT_BUILD:?run through bench/run corruptions}"
py="${RPCT_CORRUPT_PYTHON:-${RPCT_CACHE:-$HOME/.cache/rpctrain}/venv-corrupt/bin/python}"
secs="${SECONDS_PER_RUN:-10}"
size="${BENCH_SIZE:-224}"
n=8
[ -x "$py" ] || { echo "bench/corruptions: no imagecorruptions python at $py (run scripts/setup.sh)" >&2; exit 1; }
[ -x "$build/corruption_bench" ] || cmake --build "$build" --target corruption_bench >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" "$here/python_ref.py" make "$tmp/images.u8" "$n" "$size"
core="$(($(nproc) - 1))"
rounds="${ROUNDS:-3}"
# Alternating rounds (C++, Python, C++, ...) so that both sides see the same drift of a shared machine;
# the totals over all rounds give the ratio, each round's own ratio is listed too.
ours_all=(); ref_all=()
for r in $(seq "$rounds"); do
  echo "[corruptions] round $r/$rounds: C++ (robust::corrupt), core $core, ${secs}s:" >&2
  ours_all+=("$(OMP_NUM_THREADS=1 taskset -c "$core" "$build/corruption_bench" "$tmp/images.u8" "$n" "$size" "$size" --seconds "$secs" | tail -n 1)")
  echo "  ${ours_all[-1]}" >&2
  echo "[corruptions] round $r/$rounds: imagecorruptions $("$py" -c 'import importlib.metadata as m; print(m.version("imagecorruptions-imaug"))'), core $core, ${secs}s:" >&2
  ref_all+=("$(OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c "$core" "$py" "$here/python_ref.py" run "$tmp/images.u8" "$n" "$size" "$secs" | tail -n 1)")
  echo "  ${ref_all[-1]}" >&2
done
"$py" - "$size" "$rounds" "${ours_all[@]}" "${ref_all[@]}" <<'PY'
import json, sys
size, rounds = int(sys.argv[1]), int(sys.argv[2])
runs = [json.loads(a) for a in sys.argv[3:]]
ours, ref = runs[:rounds], runs[rounds:]
def total(side):
    images, secs = sum(r["images"] for r in side), sum(r["seconds"] for r in side)
    ms = {k: sum(r["ms_per_image"][k] * r["images"] for r in side) / images for k in side[0]["ms_per_image"]}
    return images / secs, ms
o_rate, o_ms = total(ours)
r_rate, r_ms = total(ref)
print(json.dumps({"bench": "corruptions", "size": size, "mix": "19 corruptions x 5 severities", "rounds": rounds,
                  "ours_img_s_per_core": round(o_rate, 2), "imagecorruptions_img_s_per_core": round(r_rate, 2),
                  "ratio": round(o_rate / r_rate, 2),
                  "ratio_per_round": [round(a["img_s"] / b["img_s"], 2) for a, b in zip(ours, ref)],
                  "ratio_per_corruption": {k: round(r_ms[k] / v, 1) for k, v in o_ms.items()}}))
PY
