#!/usr/bin/env bash
# The segmentation job (issue 12): a Segmenter on scenes of real Fashion-MNIST items, data-parallel over 2 MPI
# ranks on this CPU machine, in three steps, each skipped when its output exists:
#   1. prepare-data fashion-mnist-segmentation -> runs/data/fmnist_seg ($RPCT_SEG_SCENES training scenes of the
#      scene arguments below, items of the training split; 200 validation scenes of test-split items);
#   2. pretrain the encoder: the main job's classifier (configs/fmnist_vit.yaml, patch 7, width 128) for
#      $RPCT_SEG_BACKBONE_EPOCHS epochs on Fashion-MNIST -> runs/fmnist_seg_backbone;
#   3. train configs/fmnist_seg.yaml with seg.backbone=runs/fmnist_seg_backbone.
# Prints the time of each step and ends with the segmentation run's JSON result line (miou, macc, aacc).
# Extra arguments go to step 3's `rpctrain train` (e.g. --set train.epochs=1).
#   bash scripts/seg_job.sh --data-only DIR [N_TRAIN N_VAL]  writes only step 1's scenes into DIR (for other
#   scripts that train on the same scenes, e.g. bench/run replicate --seg) and prints prepare-data's JSON line.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# The scenes configs/fmnist_seg.yaml is made for: 56 x 56 (its model.img_size), 2-3 items of 28-42 px whose
# boxes never overlap, an item pixel >= 10 of 255 labelled with its class (the rest of its box is background).
scene_args=(--size 56 --min-items 2 --max-items 3 --min-scale 1 --max-scale 1.5 --foreground 10 --no-overlap)
# only what it runs (no tests, benchmarks); RPCT_BUILD_DIR: another build directory
build="$(bash "$here/scripts/build.sh" rpctrain | tail -n 1)"

# prepare DIR N_TRAIN N_VAL: the scenes, unless DIR already holds these (its scene_args file records them).
prepare() {
  local dir="$1" stamp="${scene_args[*]} --train $2 --val $3"
  if [ -d "$dir/ADEChallengeData2016" ] && [ "$(cat "$dir/scene_args" 2>/dev/null)" = "$stamp" ]; then
    echo "{\"cmd\":\"prepare-data\",\"ok\":true,\"root\":\"$dir/ADEChallengeData2016\",\"skipped\":\"already there\"}"
    return
  fi
  rm -rf "$dir"
  "$build/rpctrain" prepare-data fashion-mnist-segmentation --out "$dir" --train "$2" --val "$3" "${scene_args[@]}" |
    tail -n 1
  echo "$stamp" > "$dir/scene_args"
}
if [ "${1:-}" = "--data-only" ]; then
  prepare "${2:?--data-only DIR}" "${3:-20000}" "${4:-200}"
  exit 0
fi

cd "$here"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpi=(mpirun -np "${RPCT_RANKS:-2}" --oversubscribe --bind-to none "$build/rpctrain")
data=runs/data/fmnist_seg backbone=runs/fmnist_seg_backbone
scenes="${RPCT_SEG_SCENES:-20000}" backbone_epochs="${RPCT_SEG_BACKBONE_EPOCHS:-3}"
elapsed() { echo $(( $(date +%s) - $1 )); }
mkdir -p runs

t=$(date +%s)
prepare "$data" "$scenes" 200
data_s=$(elapsed "$t")
t=$(date +%s)
if [ ! -f "$backbone/model.safetensors" ]; then  # written when its training ends
  "${mpi[@]}" train --config configs/fmnist_vit.yaml --set train.epochs="$backbone_epochs" --run-dir "$backbone" --resume auto \
    > "$backbone.log"
  tail -n 1 "$backbone.log"
fi
backbone_s=$(elapsed "$t")
t=$(date +%s)
"${mpi[@]}" train --config configs/fmnist_seg.yaml --set seg.backbone="$backbone" --set data.root="$data" "$@" |
  tee runs/fmnist_seg.log | grep -v '^{' || true
seg_s=$(elapsed "$t")
echo "# times: data ${data_s} s, backbone ${backbone_s} s, segmentation ${seg_s} s, total $((data_s + backbone_s + seg_s)) s"
tail -n 1 runs/fmnist_seg.log
