#!/usr/bin/env bash
# The segmentation job (issue 12): a Segmenter on scenes of real Fashion-MNIST items, data-parallel over 2 MPI
# ranks on this CPU machine, in three steps, each skipped when its output exists:
#   1. prepare-data fashion-mnist-segmentation -> runs/data/fmnist_seg (84 x 84 scenes, 2-4 items of 28-56 px,
#      items of the training split in the training scenes, of the test split in the validation scenes);
#   2. pretrain the encoder: the main job's classifier (configs/fmnist_vit.yaml, patch 7, width 128) for
#      $RPCT_SEG_BACKBONE_EPOCHS epochs on Fashion-MNIST -> runs/fmnist_seg_backbone;
#   3. train configs/fmnist_seg.yaml with seg.backbone=runs/fmnist_seg_backbone.
# Prints the time of each step and ends with the segmentation run's JSON result line (miou, macc, aacc).
# Extra arguments go to step 3's `rpctrain train` (e.g. --set train.epochs=1).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(bash "$here/scripts/build.sh" rpctrain | tail -n 1)"  # only what it runs: no tests, benchmarks
cd "$here"
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpi=(mpirun -np "${RPCT_RANKS:-2}" --oversubscribe --bind-to none "$build/rpctrain")
data=runs/data/fmnist_seg backbone=runs/fmnist_seg_backbone
scenes="${RPCT_SEG_SCENES:-8000}" backbone_epochs="${RPCT_SEG_BACKBONE_EPOCHS:-3}"
elapsed() { echo $(( $(date +%s) - $1 )); }
mkdir -p runs

t=$(date +%s)
if [ ! -d "$data/ADEChallengeData2016" ]; then
  "$build/rpctrain" prepare-data fashion-mnist-segmentation --out "$data" --train "$scenes" --val 200 \
    --size 84 --min-items 2 --max-items 4 --min-scale 1 --max-scale 2 | tail -n 1
fi
data_s=$(elapsed "$t")
t=$(date +%s)
if [ ! -f "$backbone/model.safetensors" ]; then  # written when its training ends
  "${mpi[@]}" train --config configs/fmnist_vit.yaml --set train.epochs="$backbone_epochs" --run-dir "$backbone" --resume auto \
    > "$backbone.log"
  tail -n 1 "$backbone.log"
fi
backbone_s=$(elapsed "$t")
t=$(date +%s)
"${mpi[@]}" train --config configs/fmnist_seg.yaml --set seg.backbone="$backbone" "$@" | tee runs/fmnist_seg.log | grep -v '^{' || true
seg_s=$(elapsed "$t")
echo "# times: data ${data_s} s, backbone ${backbone_s} s, segmentation ${seg_s} s, total $((data_s + backbone_s + seg_s)) s"
tail -n 1 runs/fmnist_seg.log
