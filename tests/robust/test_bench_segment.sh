#!/usr/bin/env bash
# `rpctrain bench segment` end to end (labels mpi, slow): a tiny Segmenter trained here for a few seconds on
# scenes of real Fashion-MNIST items (prepare-data fashion-mnist-segmentation, ADE20K layout), then:
#   - clean + 2 corruptions x 2 severities: every cell present and finite, the summary follows from the items
#     (per-corruption mean mIoU, their mean), a strong corruption changes the mIoU, the JSON result is the last
#     stdout line; bench.json, bench.md (row per checkpoint), c_<family>.svg, one file per item, progress lines;
#   - mpirun -np 2 gives exactly the 1-rank items (images sharded, confusion matrices summed);
#   - --resume skips every finished item and reruns a missing one with the same result;
#   - usage errors (bad severity, unknown part, a classification config) exit 2 naming the option.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
check() { bench_check "$@"; }
# md_matches DIR HEADER...: DIR/bench.md's table equals DIR/bench.json, every cell (tests/robust/check_bench_md.py).
md_matches() { "$py" "$src/tests/robust/check_bench_md.py" "$@"; }
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }
ok() { echo "ok   $*"; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

val=8  # validation scenes: 4 per rank under mpirun -np 2, 2 batches of 2 on each (eval_batch_size 2)
"$bin" prepare-data fashion-mnist-segmentation --out "$tmp/data" --train 256 --val $val --size 56 \
  --min-items 1 --max-items 2 --min-scale 1 --max-scale 1.5 > "$tmp/prep.out" 2>&1 \
  || { fail "prepare-data"; tail -n 3 "$tmp/prep.out"; exit 1; }
cfg=(--config "$src/configs/fmnist_seg.yaml" --set data.root="$tmp/data" --set model.img_size=56 --set data.seg_crop=56
     --set data.seg_scale_short=56 --set model.dim=32 --set model.depth=1 --set model.heads=2 --set seg.decoder=linear
     --set train.epochs=2 --set train.lr=2e-3 --set train.warmup_epochs=0 --set train.eval_batch_size=2
     --set train.threads=1)
"$bin" train "${cfg[@]}" --run-dir "$tmp/run" > "$tmp/train.out" 2>&1 || { fail "train"; tail -n 5 "$tmp/train.out"; exit 1; }

base=(bench segment "${cfg[@]}" --checkpoint "$tmp/run" --suite clean,c --corruptions gaussian_noise,contrast)
bench=("${base[@]}" --severities 1,5)
items=(clean c/gaussian_noise/1 c/gaussian_noise/5 c/contrast/1 c/contrast/5)
"$bin" "${bench[@]}" --out "$tmp/b1" > "$tmp/b1.out" 2> "$tmp/b1.err" || { fail "bench (1 rank)"; tail "$tmp/b1.err"; }
check "$tmp/b1.out" 'r["ok"] and r["cmd"] == "bench" and r["bench"] == "segment" and r["items_run"] == 5' \
  'all(all(math.isfinite(items()[k][m]) and 0 <= items()[k][m] <= 1 for m in ("miou", "macc", "aacc")) and items()[k]["samples"] == '$val' for k in ('"$(printf '"%s",' "${items[@]}")"'))' \
  'r["checkpoints"][0]["clean_miou"] == items()["clean"]["miou"] and r["checkpoints"][0]["clean_aacc"] == items()["clean"]["aacc"]' \
  'summary()["c"]["severities"] == [1, 5] and summary()["c"]["miou"]["contrast"] == [items()["c/contrast/1"]["miou"], items()["c/contrast/5"]["miou"]]' \
  'abs(summary()["c"]["mean_miou"]["gaussian_noise"] - (items()["c/gaussian_noise/1"]["miou"] + items()["c/gaussian_noise/5"]["miou"]) / 2) < 1e-12' \
  'abs(r["checkpoints"][0]["c_mean_miou"] - sum(summary()["c"]["mean_miou"].values()) / 2) < 1e-12' \
  && ok "bench segment: clean + 2 corruptions x severities 1, 5: every cell finite in [0, 1], summary from the items" \
  || fail "bench segment results"
tail -n 1 "$tmp/b1.out" | grep -q '^{"bench":"segment",.*"ok":true' && ok "the JSON result is the last stdout line" \
  || { fail "last stdout line"; tail -n 2 "$tmp/b1.out"; }
# A trained model's mIoU is moved by severity-5 noise and contrast (the scenes' items lose their texture); the
# mIoU of the model must not be the same number corrupted and clean (a corruption never applied would be).
check "$tmp/b1.out" 'items()["c/gaussian_noise/5"]["miou"] != items()["clean"]["miou"]' \
  'items()["c/contrast/5"]["miou"] != items()["clean"]["miou"]' \
  && ok "severity-5 gaussian noise and contrast change the mIoU (clean $("$py" -c 'import json,sys; print(round(json.load(open(sys.argv[1]+"/items/run/clean.json"))["result"]["miou"], 4))' "$tmp/b1"))" \
  || fail "corruptions do not change the mIoU (not applied?)"
for f in bench.json bench.md c_noise.svg c_digital.svg items/run/clean.json items/run/c.contrast.5.json; do
  [ -s "$tmp/b1/$f" ] || fail "missing output $f"
done
"$py" -c 'import sys, xml.etree.ElementTree as E; [E.parse(f) for f in sys.argv[1:]]' "$tmp"/b1/*.svg \
  && grep -q "^| model | clean mIoU | gaussian_noise | contrast | mean |" "$tmp/b1/bench.md" && grep -q "^| run | " "$tmp/b1/bench.md" \
  && grep -q "class=\"errorbar\"" "$tmp/b1/c_noise.svg" \
  && ok "outputs: bench.md (clean mIoU, per-corruption mean mIoU, mean; a row per checkpoint), SVGs with error bars, one file per item" \
  || { fail "bench.md / svg content"; cat "$tmp/b1/bench.md"; }
md_matches "$tmp/b1" "clean mIoU" gaussian_noise contrast mean \
  && ok "bench.md: clean mIoU, each corruption's mean mIoU, their mean; every cell is bench.json's value" \
  || fail "bench.md table differs from bench.json"
grep -q "c/contrast/5 \[" "$tmp/b1.out" "$tmp/b1.err" && ok "a progress line per suite item" || fail "no progress line"
# corruption_predictions.png: one image clean and under the 2 corruptions at severity 3 (3 rows), each row image |
# ground truth | prediction; the noisy row's image panel differs from the clean row's.
PYTHONPATH="$src" "$py" - "$tmp/b1/corruption_predictions.png" <<'PY' && ok "corruption_predictions.png: 3 rows" || fail "corruption_predictions.png"
import sys
import numpy as np
from bench.pyref.png import read_png
p = read_png(sys.argv[1])
assert p.ndim == 3 and p.shape[2] == 3, p.shape
# The rows: white 4-px gaps between them; count the horizontal bands of non-white pixels in the right half,
# below the column caption (gap 4 + text 10 + gap 4 px: datasets/picture.cpp labelled_grid).
HEADER = 18
right = p[HEADER:, p.shape[1] // 2:]
ink = (right < 250).any(axis=2).any(axis=1)
bands = int(ink[0]) + int(((~ink[:-1]) & ink[1:]).sum())
assert bands == 3, f"{bands} rows of pictures, expected 3 (clean, gaussian_noise 3, contrast 3)"
PY

# --- 1 vs 2 ranks: the same numbers ---
"${MPI[@]}" "$bin" "${bench[@]}" --out "$tmp/b2" > "$tmp/b2.out" 2> "$tmp/b2.err" || { fail "bench (2 ranks)"; tail "$tmp/b2.err"; }
"$py" - "$tmp/b1/bench.json" "$tmp/b2/bench.json" <<'PY' && ok "1 and 2 ranks give identical items" || fail "1 vs 2 ranks differ"
import json, sys
a, b = (json.load(open(p))["checkpoints"][0]["items"] for p in sys.argv[1:3])
diff = [(k, a[k], b.get(k)) for k in a if a[k] != b.get(k)]
for d in diff[:5]: print("  ", d)
sys.exit(1 if diff or a.keys() != b.keys() or len(a) != 5 else 0)
PY
md_matches "$tmp/b2" "clean mIoU" gaussian_noise contrast mean \
  && ok "bench.md of the 2-rank run: every cell is bench.json's value" || fail "bench.md (2 ranks) differs from bench.json"

# --- resume: everything done is skipped; a missing item is run again ---
"$bin" "${bench[@]}" --out "$tmp/b1" --resume > "$tmp/r1.out" 2> "$tmp/r1.err" || fail "resume run"
check "$tmp/r1.out" 'r["items_run"] == 0 and r["items_resumed"] == 5' && ok "--resume skips all 5 finished items" \
  || fail "resume skipped"
rm "$tmp/b1/items/run/c.gaussian_noise.5.json"
cp "$tmp/b1/bench.json" "$tmp/before.json"
"$bin" "${bench[@]}" --out "$tmp/b1" --resume > "$tmp/r2.out" 2> "$tmp/r2.err" || fail "resume run 2"
check "$tmp/r2.out" 'r["items_run"] == 1 and r["items_resumed"] == 4' \
  'json.load(open(sys.argv[1].replace("r2.out", "before.json")))["checkpoints"][0]["items"] == items()' \
  && ok "--resume reruns only the missing item, with the same result" || fail "resume of a missing item"

# --- usage errors ---
"$bin" "${base[@]}" --severities 1,6 > "$tmp/u1.out" 2>&1
[ $? = 2 ] && grep -q "error: bench segment: --severities: 6 is not in 1..5" "$tmp/u1.out" \
  && ok "--severities 1,6: exit 2 naming it" || { fail "usage error severities"; tail -2 "$tmp/u1.out"; }
"$bin" bench segment "${cfg[@]}" --checkpoint "$tmp/run" --suite clean,pgd > "$tmp/u2.out" 2>&1
[ $? = 2 ] && grep -q "error: bench segment: --suite: unknown part 'pgd' (clean, c)" "$tmp/u2.out" \
  && ok "--suite clean,pgd: exit 2 naming the part" || { fail "usage error suite"; tail -2 "$tmp/u2.out"; }
"$bin" bench segment --config "$src/configs/fmnist_quick.yaml" --checkpoint "$tmp/run" > "$tmp/u3.out" 2>&1
[ $? = 2 ] && grep -q "fmnist_quick.yaml: data.kind 'fashion_mnist': bench segment needs a segmentation config" "$tmp/u3.out" \
  && ok "a classification config: exit 2 naming the file and data.kind" || { fail "usage error config"; tail -2 "$tmp/u3.out"; }

[ $fails = 0 ] && echo "all bench segment checks passed" && exit 0
exit 1
