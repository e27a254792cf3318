#!/usr/bin/env bash
# `rpctrain eval` on a segmentation config (labels mpi, slow): a tiny Segmenter trained for one epoch on
# scenes of real Fashion-MNIST items, evaluated with multi-scale + flip by 1 process and by mpirun -np 2:
#   - both print the same miou / macc / aacc and write byte-identical per-class JSON tables (confusion
#     matrix included): the evaluation is sharded over the ranks and summed exactly;
#   - the last stdout line names the table files, which exist in the run directory;
#   - the JSON line, the JSON table and the Markdown table agree, and every metric in them follows from the
#     table's confusion matrix (recomputed here with mmseg's nanmean rules); the class names are the data
#     set's (background + the 10 Fashion-MNIST names); every pixel of every label, at its original size,
#     is counted once;
#   - --save-predictions / --save-logits write the per-image pictures, label PNGs and scores, which agree;
#     the training run showed 4 validation pictures in TensorBoard.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }

size=56; val=7  # 7 scenes: 4 + 3 on two ranks; items up to 2 x 28 px need 56
"$bin" prepare-data fashion-mnist-segmentation --out "$tmp/data" --train 16 --val $val --size $size \
  > "$tmp/prepare.out" 2>&1 || { fail "prepare-data"; tail -n 3 "$tmp/prepare.out"; exit 1; }
cfg=(--config "$src/configs/fmnist_seg.yaml" --set data.root="$tmp/data" --set data.seg_crop=32
     --set data.seg_scale_short=$size --set model.img_size=32 --set model.patch=8 --set model.dim=32 --set model.depth=1
     --set model.heads=2 --set seg.decoder_depth=1 --set train.epochs=1 --set train.batch_size=8
     --set train.warmup_epochs=0 --set train.eval_batch_size=3 --set seg.window=32 --set seg.stride=24)
"$bin" train "${cfg[@]}" --run-dir "$tmp/run" > "$tmp/train.out" 2>&1 || { fail "train"; tail -n 5 "$tmp/train.out"; exit 1; }

# Multi-scale (0.5 -> 28 px: one window, under the window size and not a multiple of the patch 8;
# 1.0 -> 56 px and 1.25 -> 70 px: overlapping windows of 32, stride 24) and flip.
aug=(--set "seg.eval_scales=[0.5, 1.0, 1.25]" --set seg.eval_flip=true)
"$bin" eval "${cfg[@]}" "${aug[@]}" --checkpoint "$tmp/run" > "$tmp/eval1.out" 2>&1 \
  || { fail "eval (1 process)"; tail -n 5 "$tmp/eval1.out"; }
cp "$tmp/run/eval_per_class.json" "$tmp/one_rank.json" 2>/dev/null || fail "no eval_per_class.json after eval"
"${MPI[@]}" "$bin" eval "${cfg[@]}" "${aug[@]}" --checkpoint "$tmp/run" > "$tmp/eval2.out" 2>&1 \
  || { fail "eval (mpirun -np 2)"; tail -n 5 "$tmp/eval2.out"; }

"$py" - "$tmp" "$val" "$size" <<'PY' || fail "consistency checks"
import json, math, os, re, sys
tmp, val, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def result(name):
    lines = [l for l in open(os.path.join(tmp, name)).read().splitlines() if l.strip()]
    return json.loads(lines[-1])  # the last stdout line is the JSON result
one, two = result("eval1.out"), result("eval2.out")
for r in (one, two):
    assert r["cmd"] == "eval" and r["ok"] is True, r
    assert r["samples"] == val, r
for k in ("miou", "macc", "aacc"):
    assert one[k] == two[k], f"{k}: 1 rank {one[k]!r}, 2 ranks {two[k]!r}"
print("ok   mpirun -np 2 gives the 1-process miou / macc / aacc exactly")
assert open(os.path.join(tmp, "one_rank.json")).read() == open(os.path.join(tmp, "run/eval_per_class.json")).read(), \
    "per-class JSON tables differ between 1 and 2 ranks"
print("ok   per-class JSON table (confusion matrix included) identical for 1 and 2 ranks")

files = two["files"]
assert sorted(os.path.basename(f) for f in files) == ["eval_per_class.json", "eval_per_class.md"], files
for f in files:
    assert os.path.dirname(os.path.abspath(f)) == os.path.abspath(os.path.join(tmp, "run")), f
    assert os.path.isfile(f), f
print("ok   the JSON line names the two table files, in the run directory")

table = json.load(open(os.path.join(tmp, "run/eval_per_class.json")))
cm = table["confusion"]
n = len(cm)
names = ["background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"]
assert [c["name"] for c in table["classes"]] == names, [c["name"] for c in table["classes"]]
assert sum(map(sum, cm)) == val * size * size, (sum(map(sum, cm)), val * size * size)
tp = [cm[c][c] for c in range(n)]
label_area = [sum(cm[c]) for c in range(n)]
pred_area = [sum(cm[l][c] for l in range(n)) for c in range(n)]
iou = [tp[c] / (label_area[c] + pred_area[c] - tp[c]) if label_area[c] + pred_area[c] > 0 else None for c in range(n)]
acc = [tp[c] / label_area[c] if label_area[c] > 0 else None for c in range(n)]
nanmean = lambda v: sum(x for x in v if x is not None) / len([x for x in v if x is not None])
TOL = 1e-12  # float64 sums of at most 11 fractions, taken in another order than the C++ code's
expect = {"miou": nanmean(iou), "macc": nanmean(acc), "aacc": sum(tp) / sum(label_area)}
for k, v in expect.items():
    assert abs(table[k] - v) <= TOL and abs(two[k] - v) <= TOL, (k, table[k], two[k], v)
for c, row in enumerate(table["classes"]):
    for k, v in (("iou", iou[c]), ("acc", acc[c])):
        assert (row[k] is None) == (v is None) and (v is None or abs(row[k] - v) <= TOL), (c, k, row[k], v)
print("ok   JSON line and JSON table agree with the metrics recomputed from the confusion matrix")

md = open(os.path.join(tmp, "run/eval_per_class.md")).read().splitlines()
rows = [l for l in md if l.startswith("| ") and not l.startswith("| class") and not l.startswith("| ---")]
assert len(rows) == n, md
for c, line in enumerate(rows):
    cells = [x.strip() for x in line.strip("|").split("|")]
    assert cells[0] == names[c], (cells, names[c])
    for cell, v in ((cells[1], table["classes"][c]["iou"]), (cells[2], table["classes"][c]["acc"])):
        assert cell == ("-" if v is None else f"{100 * v:.2f}"), (c, cell, v)
print("ok   Markdown table rows match the JSON table (names, IoU %, Acc %)")
PY
# Per-image outputs (single scale): --save-predictions writes image | ground truth | prediction pictures and the
# predictions as ADE20K-convention label PNGs; --save-logits the class scores; the label PNGs are the scores'
# argmax + 1, ids are the scenes' file stems. And the training run showed 4 validation pictures in TensorBoard.
limit=3
"$bin" eval "${cfg[@]}" --checkpoint "$tmp/run" --save-predictions "$tmp/pred" --save-logits "$tmp/scores.safetensors" \
  --limit $limit > "$tmp/eval3.out" 2>&1 || { fail "eval --save-predictions"; tail -n 5 "$tmp/eval3.out"; }
PYTHONPATH="$src" "$py" - "$tmp" $limit $size <<'PY' || fail "saved predictions / logits / TensorBoard pictures"
import glob, json, os, sys
import numpy as np
from safetensors.numpy import load_file
from bench.pyref.png import read_png
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
tmp, limit, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = json.loads(open(os.path.join(tmp, "eval3.out")).read().splitlines()[-1])
ids = r["logits"]["images"]
assert r["predictions"]["images"] == limit == len(ids), r
scores = load_file(os.path.join(tmp, "scores.safetensors"))
assert sorted(scores) == sorted(ids), (sorted(scores), ids)
names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(tmp, "data/ADEChallengeData2016/images/validation/*.jpg")))
for i in ids:
    assert i in names, (i, names[:3])
    s = scores[i]
    assert s.shape == (11, size, size) and s.dtype == np.float32, (s.shape, s.dtype)
    label = read_png(os.path.join(tmp, "pred/labels", i + ".png"))
    assert label.shape == (size, size), label.shape  # 8-bit grayscale
    assert (label == s.argmax(0) + 1).all(), f"{i}: the label PNG is not the scores' argmax + 1"
    pic = read_png(os.path.join(tmp, "pred", i + ".png"))
    assert pic.ndim == 3 and pic.shape[2] == 3 and pic.shape[1] >= 3 * size, pic.shape  # three panels side by side
print(f"ok   --save-predictions / --save-logits: {limit} images, label PNGs = argmax(scores) + 1, ids = file stems")
acc = EventAccumulator(os.path.join(tmp, "run/tb"), size_guidance={"images": 0})
acc.Reload()
tags = acc.Tags()["images"]
assert len(tags) == 4 and all(t.startswith("test/prediction/") for t in tags), tags
img = acc.Images(tags[0])[-1]
assert img.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and img.width >= 3 * size, (img.width, img.height)
print(f"ok   TensorBoard: {len(tags)} prediction pictures ({img.width}x{img.height})")
PY
"$bin" eval --config "$src/configs/fmnist_quick.yaml" --checkpoint "$tmp/run" --save-predictions "$tmp/x" > "$tmp/eval4.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "for segmentation configs" "$tmp/eval4.out" && echo "ok   --save-predictions on a classification config: usage error" \
  || fail "--save-predictions on a classification config: exit $rc"

[ $fails = 0 ] && echo "all segmentation eval checks passed" && exit 0
exit 1
