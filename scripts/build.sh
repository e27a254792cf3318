#!/usr/bin/env bash
# Configure (once) and build into build/ (override with RPCT_BUILD_DIR). Runs setup first.
# Arguments: the targets to build (default: all, tests and benchmarks included), e.g.
# `bash scripts/build.sh rpctrain` builds only the binary and the libraries it links.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$here/scripts/setup.sh" | tail -n 1)"
build="${RPCT_BUILD_DIR:-$here/build}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRPCT_PYTHON="$py" \
    -DRPCT_CORRUPT_PYTHON="${RPCT_CACHE:-$HOME/.cache/rpctrain}/venv-corrupt/bin/python" >&2
fi
targets=()
if [ $# -gt 0 ]; then targets=(--target "$@"); fi
cmake --build "$build" -j "${RPCT_JOBS:-2}" "${targets[@]}" >&2
echo "$build"
