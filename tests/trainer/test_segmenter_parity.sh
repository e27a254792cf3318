#!/usr/bin/env bash
# The Segmenter's export in PyTorch (labels unit, slow): short real runs of `rpctrain train` on synthetic
# ADE20K-layout scenes, `rpctrain export` (Segmenter key names), then
#   - the exported file in the independent PyTorch implementation (bench/segmenter/segmenter_ref.py, float64)
#     gives rpctrain's logits (segmenter_logits, float32) within segmenter_parity.py's tolerance, on an input
#     of another size than the training crop (the position embedding resized);
#   - the exported file loaded back into rpctrain gives bit-identical logits to the checkpoint, and
#     `rpctrain import` gives the trained parameters' params_sha256.
# Cases: mask decoder with RPC-Attention in encoder block 0 and decoder block 0 (sym elsewhere); linear
# decoder on a kvpos encoder (BEiT's table, at the training size: kvpos is tied to its grid); mask decoder
# with softmax attention.
# Arguments: the rpctrain binary, the segmenter_logits tool.
set -u
bin="$1"; logits_tool="$2"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }
source "$src/tests/script_lib.sh"
field() { result_field "$@"; }  # field FILE CMD KEY: KEY of the last result line of command CMD ("" when absent)
parity() { "$py" "$src/tests/trainer/segmenter_parity.py" "$@"; }

"$bin" prepare-data ade20k-synthetic --out "$tmp/data" --train 32 --val 4 --width 40 --height 40 --classes 5 \
  > "$tmp/data.out" 2>&1 || { fail "prepare-data"; tail -n 5 "$tmp/data.out"; }
base=(--config "$src/configs/fmnist_seg.yaml" --set data.root="$tmp/data" --set model.img_size=32
      --set model.patch=8 --set model.dim=64 --set model.depth=2 --set model.heads=2 --set model.num_classes=5
      --set data.seg_crop=32 --set data.seg_scale_short=32 --set train.epochs=1 --set train.batch_size=8
      --set train.eval_batch_size=4 --set train.warmup_epochs=0 --set train.threads=1
      --set seg.decoder_depth=2)  # 2 decoder blocks: RPC in decoder block 0 and not in block 1 is checked

# name | rpctrain overrides | parity input height x width | the attention of each block
cases=(
  "mask_rpc|attention.kind=rpc attention.rpc.layers=[0] attention.rpc.n_iter=3 seg.decoder=mask|32 48|\
rpc,sym,decoder:rpc,decoder:sym"
  "linear_kvpos|attention.kind=kvpos seg.decoder=linear|32 32|kvpos,kvpos"
  "mask_softmax|attention.kind=softmax seg.decoder=mask|48 40|softmax,softmax,decoder:softmax,decoder:softmax"
  "mask_rpc_ln_eps|attention.kind=rpc attention.rpc.layers=[0] attention.rpc.n_iter=6 seg.decoder=mask model.ln_eps=1e-5|\
32 48|rpc,sym,decoder:rpc,decoder:sym"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name overrides size kinds <<<"$c"
  sets=(); for o in $overrides; do sets+=(--set "$o"); done
  run="$tmp/$name"
  "$bin" train "${base[@]}" "${sets[@]}" --run-dir "$run" > "$tmp/$name.train" 2>&1 \
    || { fail "$name: train"; tail -n 5 "$tmp/$name.train"; continue; }
  "$bin" export "$run" --out "$tmp/$name.safetensors" > "$tmp/$name.export" 2>&1 \
    || { fail "$name: export"; tail -n 3 "$tmp/$name.export"; continue; }
  read -r h w <<<"$size"
  parity make-input "$tmp/$name.input" 2 "$h" "$w" 7
  "$logits_tool" "$run/config.yaml" "$tmp/$name.safetensors" "$tmp/$name.input" "$tmp/$name.exported.logits" \
    && "$logits_tool" "$run/config.yaml" "$run" "$tmp/$name.input" "$tmp/$name.ckpt.logits" \
    || { fail "$name: segmenter_logits"; continue; }
  [ -s "$tmp/$name.exported.logits" ] && cmp -s "$tmp/$name.exported.logits" "$tmp/$name.ckpt.logits" \
    && echo "ok   $name: exported weights give the checkpoint's logits bit for bit" || fail "$name: round-trip logits"
  "$bin" import "$tmp/$name.safetensors" --config "$run/config.yaml" --out "$tmp/$name.back" >"$tmp/$name.import" 2>&1 \
    || { fail "$name: import"; tail -n 3 "$tmp/$name.import"; }
  same "$(field "$tmp/$name.import" import params_sha256)" "$(field "$tmp/$name.train" train params_sha256)" \
    && echo "ok   $name: export -> import gives the trained parameters" || fail "$name: import params_sha256"
  parity compare "$run/config.yaml" "$tmp/$name.safetensors" "$tmp/$name.input" "$tmp/$name.exported.logits" "$kinds" \
    && echo "ok   $name: PyTorch reference gives rpctrain's logits" || fail "$name: PyTorch parity"
done
[ $fails = 0 ] && echo "all segmenter parity checks passed" && exit 0
exit 1
