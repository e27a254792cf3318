#!/usr/bin/env bash
# The Segmenter recipe's loop under mpirun -np 2 (labels mpi, slow): a small Segmenter on Fashion-MNIST
# scenes with SGD (momentum) + poly LR + train.iters, 8 steps per epoch, 13 iterations, so the run stops
# mid-epoch 2:
#  1. uninterrupted: 13 steps, the LR of each logged step is mmseg's poly (1 - it/13)^0.9 closed form, it
#     evaluates at the end and writes the final checkpoint step_00000013 mid-epoch (epoch 2, position
#     80 of 128), whose optim.safetensors holds SGD momentum buffers;
#  2. crash at step 12, resume auto from step 10 (mid-epoch): the final params_sha256 and every logged step
#     loss equal the uninterrupted run's;
#  3. the checkpoint of the SGD run, resumed with train.optimizer adamw, is an error naming the file and
#     both optimizers.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
MPI=(mpirun -np 2 --oversubscribe --bind-to none)
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
source "$(dirname "$0")/run_result.sh"  # sha, losses

"$bin" prepare-data fashion-mnist-segmentation --out "$tmp/data" --train 128 --val 8 --size 64 > "$tmp/prep.out" 2>&1 \
  || { echo "FAIL prepare-data"; tail "$tmp/prep.out"; exit 1; }
# 2 ranks x batch 8 = 16 scenes per step: 128 / 16 = 8 steps per epoch; 13 iterations end at step 5 of epoch 2.
common=(--config "$src/configs/fmnist_seg.yaml" --set data.root="$tmp/data" --set model.img_size=64 --set model.patch=8
        --set data.seg_crop=64 --set data.seg_scale_short=64 --set model.dim=32 --set model.depth=2 --set model.heads=2
        --set train.batch_size=8 --set train.eval_batch_size=8 --set train.threads=1 --set train.log_every=1
        --set train.optimizer=sgd --set train.momentum=0.9 --set train.weight_decay=0.0 --set train.lr=0.01
        --set train.min_lr=1.0e-4 --set train.schedule=poly --set train.poly_power=0.9 --set train.warmup_epochs=0
        --set train.iters=13 --set ckpt.every_steps=5 --set ckpt.keep=5)

# 1. Uninterrupted.
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/A" > "$tmp/A.out" 2>&1 || { fail "uninterrupted run"; tail "$tmp/A.out"; }
ref="$(sha "$tmp/A.out")"; [ -n "$ref" ] || fail "no params_sha256 in the uninterrupted run"
echo "uninterrupted: params_sha256 $ref"
"$py" - "$tmp/A.out" "$tmp/A" <<'PY' || fails=$((fails+1))
import json, os, struct, sys
out, run = sys.argv[1:]
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
result = [json.loads(l) for l in open(out) if l.startswith("{") and '"cmd":"train"' in l.replace(" ", "")][-1]
check(result.get("steps") == 13, f"stopped after train.iters = 13 steps (result steps {result.get('steps')})")
records = [json.loads(l) for l in open(run + "/metrics.jsonl")]
steps = {r["step"]: r for r in records if r["kind"] == "step"}
check(sorted(steps) == list(range(1, 14)), "a step record for each of the 13 steps")
# The record of step s holds the LR its update used: iteration s - 1 of 13.
lr0, min_lr, power, iters = 0.01, 1.0e-4, 0.9, 13
kLrTolerance = 1e-12  # the JSON holds 17 significant digits of a double computed from the same closed form
worst = max(abs(steps[s]["lr"] - ((lr0 - min_lr) * (1 - (s - 1) / iters) ** power + min_lr)) for s in steps)
check(worst < kLrTolerance, f"each step's LR is the poly closed form (worst difference {worst:.3g})")
epochs = [r for r in records if r["kind"] == "epoch"]
check([(r["epoch"], r["step"]) for r in epochs] == [(1, 8), (2, 13)] and all("miou" in r for r in epochs),
      f"evaluated at the end of epoch 1 and at the run's end mid-epoch 2: {[(r['epoch'], r['step']) for r in epochs]}")
final = run + "/ckpt/step_00000013"
meta = json.load(open(final + "/meta.json")) if os.path.exists(final + "/meta.json") else {}
check(os.path.exists(final + "/DONE") and (meta.get("epoch"), meta.get("epoch_pos")) == (1, 80),
      f"final checkpoint step_00000013 mid-epoch 2 at position 80 (meta epoch {meta.get('epoch')}, "
      f"position {meta.get('epoch_pos')})")
# optim.safetensors: 8-byte header length, JSON header with __metadata__.
try:
    with open(final + "/optim.safetensors", "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
except OSError:
    header = {}
names = [k for k in header if k != "__metadata__"]
check(header.get("__metadata__", {}).get("optimizer") == "sgd" and names
      and all(n.startswith("momentum_buffer/") for n in names),
      f"optim.safetensors holds SGD momentum buffers ({len(names)} tensors)")
sys.exit(0 if ok else 1)
PY

# 2. Crash at step 12 (checkpoints at 5 and 10, both mid-epoch), then resume auto.
RPCT_FAULT=exit:1:12 "${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" > "$tmp/B1.out" 2>&1 && fail "fault run exited 0"
"${MPI[@]}" "$bin" train "${common[@]}" --run-dir "$tmp/B" --resume auto > "$tmp/B2.out" 2>&1 || { fail "resume"; tail "$tmp/B2.out"; }
grep -q "resumed from .*step_00000010: step 10, epoch 2, position 32" "$tmp/B2.out" \
  && echo "ok   resumed from step 10, mid-epoch 2" || fail "did not resume from step 10 mid-epoch"
[ "$(sha "$tmp/B2.out")" = "$ref" ] && echo "ok   SGD + poly + iters resume mid-epoch: params_sha256 identical" \
  || fail "resume: params_sha256 differs"
if diff <(losses "$tmp/A/metrics.jsonl") <(losses "$tmp/B/metrics.jsonl") > "$tmp/loss.diff"; then
  echo "ok   all $(losses "$tmp/A/metrics.jsonl" | wc -l) logged step losses identical"
else fail "logged losses differ"; head "$tmp/loss.diff"; fi

# 3. The SGD checkpoint resumed by an AdamW run.
"$bin" train "${common[@]}" --set train.optimizer=adamw --run-dir "$tmp/C" --resume "$tmp/A/ckpt/step_00000010" \
  > "$tmp/C.out" 2>&1 && fail "an AdamW run resumed from an SGD checkpoint"
grep -q "$tmp/A/ckpt/step_00000010/optim.safetensors: optimizer state of 'sgd', but this run's train.optimizer is 'adamw'" \
  "$tmp/C.out" && echo "ok   another optimizer's checkpoint: error names the file and both" \
  || { fail "optimizer mismatch not named"; tail -3 "$tmp/C.out"; }
[ $fails = 0 ] && echo "all SGD + poly + iters resume checks passed" && exit 0
exit 1
