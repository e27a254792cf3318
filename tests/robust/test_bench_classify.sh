#!/usr/bin/env bash
# `rpctrain bench classify` end to end on small real models (labels mpi, slow):
#   a Fashion-MNIST model: clean + generated corruptions + FGSM/PGD in pixel space; attack success rises with
#   eps; bench.json / bench.md / SVGs / the JSON result line; 1 and 2 ranks give identical results; --resume
#   skips finished items and reruns a missing one;
#   an ImageNet-layout model with small generated ImageNet-A / -R / -O / -C folders (the real layouts);
#   usage errors name the option.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }
ok() { echo "ok   $*"; }
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
source "$src/tests/script_lib.sh"
check() { bench_check "$@"; }
# md_matches DIR HEADER...: DIR/bench.md's table equals DIR/bench.json, every cell (tests/robust/check_bench_md.py).
md_matches() { "$py" "$src/tests/robust/check_bench_md.py" "$@"; }

# --- a small Fashion-MNIST model (seconds) ---
cfg=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=4096 --set train.epochs=2
     --set data.limit_test=256 --set train.threads=1 --set train.eval_batch_size=32)
"$bin" train "${cfg[@]}" --run-dir "$tmp/run" > "$tmp/train.out" 2>&1 || { fail "train"; tail "$tmp/train.out"; }
bench=(bench classify "${cfg[@]}" --checkpoint "$tmp/run" --suite clean,c,fgsm,pgd
       --corruptions gaussian_noise,contrast --space pixel --eps 2,8,32 --limit 128)
"$bin" "${bench[@]}" --out "$tmp/b1" > "$tmp/b1.out" 2>&1 || { fail "bench (1 rank)"; tail "$tmp/b1.out"; }
check "$tmp/b1.out" 'r["ok"] and r["cmd"] == "bench" and r["items_run"] == 1 + 10 + 6' \
  'abs(r["checkpoints"][0]["clean_top1"] - items()["clean"]["top1"]) == 0 and items()["clean"]["samples"] == 128' \
  'all(items()["c/contrast/%d" % s]["top1"] <= items()["clean"]["top1"] for s in (4, 5))' \
  '"mce" in b["checkpoints"][0]["summary"]["c"] and b["checkpoints"][0]["summary"]["c"]["mce_corruptions"] == 2' \
  && ok "bench: clean, 2 corruptions x 5 severities, FGSM/PGD x 3 eps; mCE over the 2; contrast 4-5 hurts" \
  || fail "bench results"
check "$tmp/b1.out" \
  'items()["pgd/pixel/2"]["top1"] >= items()["pgd/pixel/8"]["top1"] >= items()["pgd/pixel/32"]["top1"]' \
  'items()["pgd/pixel/32"]["top1"] < items()["pgd/pixel/2"]["top1"] - 0.2' \
  'items()["fgsm/pixel/32"]["flip_rate"] > items()["fgsm/pixel/2"]["flip_rate"]' \
  'items()["pgd/pixel/32"]["flip_rate"] >= items()["fgsm/pixel/32"]["flip_rate"]' \
  && ok "attack success rises with eps (PGD accuracy falls by > 20 points from 2/255 to 32/255; PGD >= FGSM)" \
  || fail "attack strength"
for f in bench.json bench.md c_noise.svg c_digital.svg fgsm_pixel.svg pgd_pixel.svg items/run/clean.json; do
  [ -s "$tmp/b1/$f" ] || fail "missing output $f"
done
"$py" -c 'import sys, xml.etree.ElementTree as E; [E.parse(f) for f in sys.argv[1:]]' "$tmp"/b1/*.svg \
  && grep -q "^| run | " "$tmp/b1/bench.md" && grep -q "class=\"errorbar\"" "$tmp/b1/c_noise.svg" \
  && ok "outputs: bench.json, bench.md (row per checkpoint), well-formed SVGs with error bars, one file per item" \
  || fail "bench.md / svg content"
md_matches "$tmp/b1" "clean top-1" mCE "rel. mCE" "FGSM 2" "FGSM 8" "FGSM 32" "PGD 2" "PGD 8" "PGD 32" \
  && ok "bench.md: clean top-1, mCE, relative mCE, FGSM / PGD at each eps; every cell is bench.json's value" \
  || fail "bench.md table differs from bench.json"
grep -q "pgd/pixel/8 \[" "$tmp/b1.out" && ok "a progress line per suite item" || fail "no progress line"
# The pictures: corruptions.png (2 corruptions x clean + 5 severities, 28-px images enlarged to 84 px) and
# attacks.png (FGSM, PGD: clean | adversarial | perturbation); the adversarial image differs from the clean one.
PYTHONPATH="$src" "$py" - "$tmp/b1" <<'PY' && ok "corruptions.png (2 x 6 cells) and attacks.png (2 x 3 cells) drawn" || fail "bench pictures"
import sys
import numpy as np
from bench.pyref.png import read_png
d = sys.argv[1]
c = read_png(d + "/corruptions.png")
a = read_png(d + "/attacks.png")
CELL = 84  # robust/bench_pictures.h kPictureMinSide: 28 px x 3
assert c.shape[2] == 3 and c.shape[0] >= 2 * CELL and c.shape[1] >= 6 * CELL, c.shape
assert a.shape[2] == 3 and a.shape[0] >= 2 * CELL and a.shape[1] >= 3 * CELL, a.shape
# The last row of cells (PGD), its cells found as the runs of columns that are not all white (white gaps
# between cells; the row's caption is the first run): clean, adversarial, perturbation.
GAP = 4
row = a[a.shape[0] - GAP - CELL:a.shape[0] - GAP]
inked = (row < 255).any(axis=2).any(axis=0)
edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(int), [0]])))
runs = [(b, e) for b, e in zip(edges[::2], edges[1::2])]
assert len(runs) >= 4 and all(e - b == CELL for b, e in runs[-3:]), runs
clean, adv, pert = (row[:, b:e].astype(int) for b, e in runs[-3:])
assert np.abs(adv - clean).max() > 0, "the PGD image equals the clean one"
assert pert.std() > 0, "the perturbation panel is flat"
PY

# --- 1 vs 2 ranks: the same numbers ---
"${MPI[@]}" "$bin" "${bench[@]}" --out "$tmp/b2" > "$tmp/b2.out" 2>&1 || { fail "bench (2 ranks)"; tail "$tmp/b2.out"; }
"$py" - "$tmp/b1/bench.json" "$tmp/b2/bench.json" <<'PY' && ok "1 and 2 ranks give identical results" || fail "1 vs 2 ranks differ"
import json, sys
a, b = (json.load(open(p))["checkpoints"][0]["items"] for p in sys.argv[1:3])
diff = [(k, a[k], b.get(k)) for k in a if a[k] != b.get(k)]
for d in diff[:5]: print("  ", d)
sys.exit(1 if diff or a.keys() != b.keys() else 0)
PY
md_matches "$tmp/b2" "clean top-1" mCE "rel. mCE" "FGSM 2" "FGSM 8" "FGSM 32" "PGD 2" "PGD 8" "PGD 32" \
  && ok "bench.md of the 2-rank run: every cell is bench.json's value" || fail "bench.md (2 ranks) differs from bench.json"

# --- resume: everything done is skipped; a missing item is run again ---
"$bin" "${bench[@]}" --out "$tmp/b1" --resume > "$tmp/r1.out" 2>&1 || fail "resume run"
check "$tmp/r1.out" 'r["items_run"] == 0 and r["items_resumed"] == 17' && ok "--resume skips all 17 finished items" \
  || fail "resume skipped"
rm "$tmp/b1/items/run/pgd.pixel.8.json"
cp "$tmp/b1/bench.json" "$tmp/before.json"
"$bin" "${bench[@]}" --out "$tmp/b1" --resume > "$tmp/r2.out" 2>&1 || fail "resume run 2"
check "$tmp/r2.out" 'r["items_run"] == 1 and r["items_resumed"] == 16' \
  'json.load(open(sys.argv[1].replace("r2.out", "before.json")))["checkpoints"][0]["items"] == items()' \
  && ok "--resume reruns only the missing item, with the same result" || fail "resume of a missing item"
"$bin" "${bench[@]}" --out "$tmp/b1" --resume --set train.seed=1 > "$tmp/r3.out" 2>&1 || fail "resume run 3"
check "$tmp/r3.out" 'r["items_run"] == 17' && ok "--resume with other settings runs everything again" \
  || fail "resume ignored changed settings"

# --- ImageNet layout: A / R / O / C folders ---
"$bin" prepare-data fashion-mnist-imagenet --out "$tmp/in" --limit-train 2000 --limit-val 300 > "$tmp/prep.out" 2>&1 \
  || { fail "prepare-data"; tail "$tmp/prep.out"; }
icfg=(--config "$src/configs/fmnist_imagenet_layout.yaml" --set "data.root=$tmp/in" --set train.epochs=2
      --set model.dim=32 --set model.depth=2 --set model.heads=2 --set train.threads=1 --set data.workers=1)
"$bin" train "${icfg[@]}" --run-dir "$tmp/irun" > "$tmp/itrain.out" 2>&1 || { fail "train (imagenet layout)"; tail "$tmp/itrain.out"; }
mapfile -t wnids < <(ls "$tmp/in/val")
for k in 0 1 2 3; do mkdir -p "$tmp/A/${wnids[$k]}"; cp "$tmp/in/val/${wnids[$k]}"/* "$tmp/A/${wnids[$k]}/"; done
for k in 4 5 6 7 8 9; do mkdir -p "$tmp/R/${wnids[$k]}"; cp "$tmp/in/val/${wnids[$k]}"/* "$tmp/R/${wnids[$k]}/"; done
# ImageNet-O: folders of 5 wnids holding images of the other 5 classes (out of distribution for them).
for k in 0 1 2 3 4; do mkdir -p "$tmp/O/${wnids[$k]}"; cp "$tmp/in/val/${wnids[$((k + 5))]}"/* "$tmp/O/${wnids[$k]}/"; done
# A pre-made ImageNet-C folder holding the clean images: each of its items must score the clean accuracy.
for s in 1 2 3 4 5; do mkdir -p "$tmp/C/contrast/$s"; cp -r "$tmp/in/val"/* "$tmp/C/contrast/$s/"; done
"$bin" bench classify "${icfg[@]}" --checkpoint "$tmp/irun" --suite clean,c,a,r,o --corruptions contrast \
  --imagenet-c "$tmp/C" --imagenet-a "$tmp/A" --imagenet-r "$tmp/R" --imagenet-o "$tmp/O" --out "$tmp/bi" \
  > "$tmp/bi.out" 2>&1 || { fail "bench (imagenet layout)"; tail "$tmp/bi.out"; }
check "$tmp/bi.out" 'all(items()["c/contrast/%d" % s]["top1"] == items()["clean"]["top1"] for s in range(1, 6))' \
  'items()["c/contrast/1"]["source"].endswith("/C/contrast/1")' \
  'items()["a"]["classes"] == 4 and items()["a"]["samples"] > 0 and items()["a"]["top1"] > 0.25' \
  'items()["r"]["classes"] == 6 and items()["r"]["top1"] > 1 / 6' \
  'items()["o"]["in_samples"] > 0 and items()["o"]["ood_samples"] > 0 and items()["o"]["auroc"] > 0.5' \
  'r["checkpoints"][0]["o_aupr"] == items()["o"]["aupr"]' \
  && ok "ImageNet-C folder (clean copies score the clean top-1), A / R (logits masked, above chance), O (AUROC > 0.5)" \
  || fail "imagenet-layout suites"
md_matches "$tmp/bi" "clean top-1" mCE "rel. mCE" "IN-A top-1" "IN-R top-1" "IN-O AUPR" \
  && ok "bench.md (ImageNet layout): clean top-1, mCE, IN-A / IN-R top-1, IN-O AUPR; every cell is bench.json's value" \
  || fail "bench.md (imagenet layout) differs from bench.json"

# --- usage errors ---
"$bin" bench classify "${cfg[@]}" --checkpoint "$tmp/run" --suite clean,a > "$tmp/u1.out" 2>&1
[ $? = 2 ] && grep -q "error: bench classify: --suite a needs --imagenet-a DIR" "$tmp/u1.out" \
  && ok "--suite a without its folder: exit 2 naming --imagenet-a" || { fail "usage error a"; tail -2 "$tmp/u1.out"; }
"$bin" bench classify "${cfg[@]}" --checkpoint "$tmp/run" --eps 1,x > "$tmp/u2.out" 2>&1
[ $? = 2 ] && grep -q "error: --eps: 'x' is not a number" "$tmp/u2.out" && ok "--eps 1,x: exit 2" || fail "usage error eps"
"$bin" bench classify "${cfg[@]}" --checkpoint "$tmp/run" --suite clean,c --corruptions fogg > "$tmp/u3.out" 2>&1
[ $? = 2 ] && grep -q "fogg" "$tmp/u3.out" && ok "--corruptions fogg: exit 2 naming it" || fail "usage error corruption"

[ $fails = 0 ] && echo "all bench classify checks passed" && exit 0
exit 1
