#!/usr/bin/env bash
# bench/run loader: decode + DeiT train-augment throughput, images/s on one core, of the C++ pipeline
# (TurboJPEG with DCT-domain scaling + datasets/transforms) vs torchvision/PIL on the same files, same
# machine, same run. Photos: Debian's mate-backgrounds (nature/*.jpg), re-encoded to 500x375 JPEG q90
# in a temp dir (4 crops per photo). Env: RPCT_BUILD (build dir), RPCT_PYTHON (venv python).
# Options (env): SECONDS_PER_RUN (default 8).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${RPCT_BUILD:?run through bench/run loader}"
py="${RPCT_PYTHON:?run through bench/run loader}"
secs="${SECONDS_PER_RUN:-8}"

photos_dir=/usr/share/backgrounds/mate/nature
if [ ! -d "$photos_dir" ]; then
  echo "[loader] installing Debian package mate-backgrounds (photographs for the benchmark)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q mate-backgrounds >&2
fi
if ! "$py" -c "import torchvision, PIL" 2>/dev/null; then
  tv="0.26.0"  # the torchvision release paired with torch 2.11
  echo "[loader] installing torchvision==$tv + pillow into the venv (--no-deps: keep torch as is)" >&2
  "$py" -m pip install -q --disable-pip-version-check --no-deps "torchvision==$tv" pillow >&2
fi

tmp="$(mktemp -d /tmp/rpct-loader-bench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
n="$("$py" "$here/make_photos.py" "$tmp" "$photos_dir"/*.jpg)"
echo "[loader] $n JPEGs (500x375 / 375x500, q90) from $photos_dir in $tmp" >&2

echo "[loader] C++ train transform, 1 thread, DCT scaling on:" >&2
ours="$("$build/loader_bench" "$tmp" --seconds "$secs" --threads 1 | tail -n 1)"
echo "  $ours" >&2
echo "[loader] C++ train transform, 1 thread, DCT scaling off (full-size decode):" >&2
ours_nodct="$("$build/loader_bench" "$tmp" --seconds "$secs" --threads 1 --no-dct | tail -n 1)"
echo "  $ours_nodct" >&2
echo "[loader] C++ eval transform (resize 256, crop 224), 1 thread:" >&2
ours_eval="$("$build/loader_bench" "$tmp" --seconds "$secs" --threads 1 --eval | tail -n 1)"
echo "  $ours_eval" >&2
echo "[loader] torchvision/PIL train transform, 1 thread:" >&2
ref="$("$py" "$here/torchvision_ref.py" "$tmp" "$secs" | tail -n 1)"
echo "  $ref" >&2
echo "[loader] C++ DataLoader, $(nproc) workers, batch 64 (with Mixup/CutMix):" >&2
ours_mt="$("$build/loader_bench" "$tmp" --seconds "$secs" --threads "$(nproc)" | tail -n 1)"
echo "  $ours_mt" >&2

"$py" - "$ours" "$ours_nodct" "$ours_eval" "$ref" "$ours_mt" "$(nproc)" <<'PY'
import json, sys
ours, nodct, ev, ref, mt = (json.loads(a) for a in sys.argv[1:6])
cores = int(sys.argv[6])
print(json.dumps({
    "bench": "loader",
    "ours_img_s_per_core": ours["img_s"],
    "torchvision_img_s_per_core": ref["img_s"],
    "ratio": round(ours["img_s"] / ref["img_s"], 2),
    "ours_no_dct_img_s_per_core": nodct["img_s"],
    "ours_eval_img_s_per_core": ev["img_s"],
    "ours_loader_img_s": mt["img_s"], "loader_workers": cores,
}))
PY
