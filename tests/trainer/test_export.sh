#!/usr/bin/env bash
# inspect / export / import / eval round trip on a short real run (labels unit, slow).
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }
source "$src/tests/script_lib.sh"
field() { result_field "$@"; }  # field FILE CMD KEY: KEY of the last result line of command CMD ("" when absent)
cfg=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=1024 --set data.limit_test=300)
"$bin" train "${cfg[@]}" --run-dir "$tmp/run" > "$tmp/train.out" 2>&1 || { fail "train"; tail "$tmp/train.out"; }
train_sha="$(field "$tmp/train.out" train params_sha256)"
[ ${#train_sha} = 64 ] || fail "train: params_sha256 '$train_sha' is not 64 hex digits"
ckpt="$(ls -d "$tmp"/run/ckpt/step_* | sort | tail -n 1)"
[ -n "$ckpt" ] || fail "train wrote no checkpoint"
"$bin" inspect "$ckpt" > "$tmp/inspect.out" 2>&1 || fail "inspect"
same "$(field "$tmp/inspect.out" inspect params_sha256)" "$train_sha" \
  && echo "ok   inspect: params_sha256 equals the trained model's" || fail "inspect params_sha256"
same "$(field "$tmp/inspect.out" inspect world_size)" 1 && echo "ok   inspect: world_size" || fail "inspect world_size"
"$bin" export "$ckpt" --format safetensors --out "$tmp/vit.safetensors" > "$tmp/export.out" 2>&1 || fail "export"
"$py" - "$tmp/vit.safetensors" <<'PY' && echo "ok   export loads in Python (safetensors) with timm key names" || fail "python load"
import sys
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
assert "blocks.0.mlp.fc1.weight" in t and "blocks.1.attn.qkv.weight" in t, sorted(t)[:8]
assert t["cls_token"].shape == (1, 1, 32) and t["pos_embed"].shape == (1, 17, 32), t["cls_token"].shape
assert t["patch_embed.proj.weight"].shape == (32, 1, 7, 7) and t["head.weight"].shape == (10, 32)
PY
# A run directory means its newest complete checkpoint; a newer one without DONE (a crash) is skipped.
cp -r "$ckpt" "$tmp/run/ckpt/step_99999999" && rm "$tmp/run/ckpt/step_99999999/DONE"
"$bin" inspect "$tmp/run" > "$tmp/inspect_run.out" 2>&1 || { fail "inspect RUN_DIR"; tail -n 3 "$tmp/inspect_run.out"; }
same "$(field "$tmp/inspect_run.out" inspect checkpoint)" "$ckpt" \
  && grep -q "(skipped $tmp/run/ckpt/step_99999999: incomplete (no DONE marker))" "$tmp/inspect_run.out" \
  && echo "ok   inspect RUN_DIR: newest complete checkpoint, the incomplete one named" || fail "inspect RUN_DIR picked"
"$bin" export "$tmp/run" --out "$tmp/vit_run.safetensors" > "$tmp/export_run.out" 2>&1 || fail "export RUN_DIR"
[ -s "$tmp/vit.safetensors" ] && cmp -s "$tmp/vit_run.safetensors" "$tmp/vit.safetensors" \
  && echo "ok   export RUN_DIR writes the same file as export CKPT_DIR" || fail "export RUN_DIR differs"
"$bin" import "$tmp/vit.safetensors" "${cfg[@]}" --out "$tmp/back.safetensors" > "$tmp/import.out" 2>&1 || fail "import"
same "$(field "$tmp/import.out" import params_sha256)" "$train_sha" \
  && echo "ok   export -> import round trip is bit-exact" || fail "round trip"
"$bin" eval "${cfg[@]}" --checkpoint "$tmp/vit.safetensors" > "$tmp/eval.out" 2>&1 || fail "eval of exported weights"
same "$(field "$tmp/eval.out" eval top1)" "$(field "$tmp/train.out" train top1)" \
  && echo "ok   eval of the exported timm-named file gives the run's top-1" || fail "eval top1 differs"
"$bin" import "$tmp/vit.safetensors" --config "$src/configs/fmnist_vit.yaml" --out "$tmp/x.safetensors" > "$tmp/bad.out" 2>&1 \
  && fail "import into a mismatched model succeeded"
grep -q "vit.safetensors: tensor 'cls_token' has shape \[1, 1, 32\], the config's model expects \[1, 1, 128\]" "$tmp/bad.out" \
  && echo "ok   shape mismatch names the file and tensor" || { fail "mismatch message"; cat "$tmp/bad.out"; }
[ $fails = 0 ] && echo "all export checks passed" && exit 0
exit 1
