#!/usr/bin/env bash
# Configure (once) and build into build/ (override with RPCT_BUILD_DIR). Runs setup first.
# Arguments: the targets to build (default: all = libraries, rpctrain, tests; the benchmark executables are the
# target `benchmarks`, which bench/run adds), e.g.
# `bash scripts/build.sh rpctrain` builds only the binary and the libraries it links; `--configure` alone
# configures and builds nothing. RPCT_CMAKE_ARGS: extra CMake arguments of the first configure (e.g. the
# sanitizer builds of scripts/test.sh --sanitize).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$here/scripts/setup.sh" | tail -n 1)"
build="${RPCT_BUILD_DIR:-$here/build}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  # shellcheck disable=SC2086  # RPCT_CMAKE_ARGS is a list of -D arguments without spaces inside
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRPCT_PYTHON="$py" \
    -DRPCT_CORRUPT_PYTHON="${RPCT_CACHE:-$HOME/.cache/rpctrain}/venv-corrupt/bin/python" ${RPCT_CMAKE_ARGS:-} >&2
fi
if [ "${1:-}" = --configure ]; then
  echo "$build"; exit 0
fi
targets=()
if [ $# -gt 0 ]; then targets=(--target "$@"); fi
cmake --build "$build" -j "${RPCT_JOBS:-2}" "${targets[@]}" >&2
echo "$build"
