#!/usr/bin/env bash
# Configure (once) and build into build/ (override with RPCT_BUILD_DIR). Runs setup first.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$here/scripts/setup.sh" | tail -n 1)"
build="${RPCT_BUILD_DIR:-$here/build}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRPCT_PYTHON="$py" >&2
fi
cmake --build "$build" -j "${RPCT_JOBS:-2}" >&2
echo "$build"
