#!/usr/bin/env bash
# The test command: set up, build (with tests), run the whole suite with ctest.
# Extra arguments go to ctest (e.g. -L unit, -R config). Tests labelled `long` (minutes even on a quiet
# machine) run only with RPCT_LONG_TESTS=1.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(bash "$here/scripts/build.sh" | tail -n 1)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$build"
skip_long=(-LE long)
[ "${RPCT_LONG_TESTS:-0}" = 1 ] && skip_long=()
ctest --output-on-failure -j "${RPCT_TEST_JOBS:-2}" "${skip_long[@]}" "$@"
