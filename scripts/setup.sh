#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine of this kind (2 cores, no GPU).
# Installs the Debian packages the build needs and LibTorch (the PyPI torch wheel, pinned)
# into a cache OUTSIDE the clone, so that fresh clones (CI) reuse it. Seconds when done already.
# Prints, as its last line, the venv's python path (other scripts source this file instead).
set -euo pipefail

RPCT_TORCH_VERSION="${RPCT_TORCH_VERSION:-2.11.0}"   # CUDA 13.0 build on PyPI, matches nvcc 13.0
RPCT_CACHE="${RPCT_CACHE:-$HOME/.cache/rpctrain}"
RPCT_VENV="$RPCT_CACHE/venv-torch-$RPCT_TORCH_VERSION"

RPCT_DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  openmpi-bin libopenmpi-dev
  libboost-dev libboost-program-options-dev libboost-filesystem-dev libboost-context-dev
  libyaml-cpp-dev nlohmann-json3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopencv-imgproc-dev
  clang libclang-rt-dev
  libgoogle-perftools-dev
  dataset-fashion-mnist
  # A real Slurm for the tests labelled slurm (scripts/slurm_local.sh starts a one-machine cluster): the
  # controller and node daemons, the client commands (sbatch, srun, scancel, scontrol) and munge, Slurm's
  # authentication. slurmd brings slurm-wlm-basic-plugins, which has the pmix plugin (srun --mpi=pmix).
  slurmctld slurmd slurm-client munge
)

rpct_missing_debs() {
  local missing=()
  for p in "${RPCT_DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

missing="$(rpct_missing_debs)"
if [ -n "${missing// /}" ]; then
  echo "[setup] installing Debian packages: $missing" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing >&2
fi

# Python packages used by tests and benchmarks, as pip-name:module (safetensors: checks that exports load
# in Python; scikit-learn: the reference of the OOD metrics test; tensorboard, pinned: its own reader checks
# the event files rpctrain writes, and `tensorboard --logdir runs` shows them).
RPCT_PY_PACKAGES=(numpy:numpy safetensors:safetensors scikit-learn:sklearn tensorboard==2.21.0:tensorboard)
RPCT_PY_PIP=("${RPCT_PY_PACKAGES[@]%%:*}") RPCT_PY_MODULES=("${RPCT_PY_PACKAGES[@]##*:}")
if [ ! -f "$RPCT_VENV/.complete" ]; then
  echo "[setup] installing torch==$RPCT_TORCH_VERSION into $RPCT_VENV (once; reused by every clone)" >&2
  mkdir -p "$RPCT_CACHE"
  python3 -m venv "$RPCT_VENV"
  "$RPCT_VENV/bin/pip" install -q --disable-pip-version-check "torch==$RPCT_TORCH_VERSION" "${RPCT_PY_PIP[@]}" >&2
  touch "$RPCT_VENV/.complete"
fi
if ! "$RPCT_VENV/bin/python" -c "import $(IFS=,; echo "${RPCT_PY_MODULES[*]}")" 2>/dev/null; then
  "$RPCT_VENV/bin/pip" install -q --disable-pip-version-check "${RPCT_PY_PIP[@]}" >&2
fi

# The imagecorruptions package (maintained fork, same module name) in a venv of its own: the reference the
# C++ corruptions (robust/) are tested and benchmarked against, and the frost images they read. Versions
# pinned: the comparison is pixel-exact, so a new scipy/scikit-image/OpenCV release is a deliberate update.
RPCT_CORRUPT_VENV="$RPCT_CACHE/venv-corrupt"
RPCT_CORRUPT_PACKAGES=(imagecorruptions-imaug==1.1.5 numpy==2.4.6 scipy==1.17.1 scikit-image==0.26.0 numba==0.68.1
                       opencv-python-headless==5.0.0.93)
if [ ! -f "$RPCT_CORRUPT_VENV/.complete" ]; then
  echo "[setup] installing imagecorruptions into $RPCT_CORRUPT_VENV (once; reused by every clone)" >&2
  python3 -m venv "$RPCT_CORRUPT_VENV"
  "$RPCT_CORRUPT_VENV/bin/pip" install -q --disable-pip-version-check "${RPCT_CORRUPT_PACKAGES[@]}" >&2
  "$RPCT_CORRUPT_VENV/bin/python" -c "import imagecorruptions, cv2, numba, scipy, skimage" >&2
  touch "$RPCT_CORRUPT_VENV/.complete"
fi
echo "$RPCT_VENV/bin/python"
