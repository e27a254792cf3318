#!/usr/bin/env bash
# The main job: set up, build, and train a ViT on real Fashion-MNIST on this CPU machine.
# Extra arguments are passed to `rpctrain train` (e.g. --set train.epochs=2).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(bash "$here/scripts/build.sh" | tail -n 1)"
cd "$here"
exec "$build/rpctrain" train --config configs/fmnist_vit.yaml "$@"
