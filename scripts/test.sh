#!/usr/bin/env bash
# The test command: set up, build (with tests), run the whole suite with ctest.
# Extra arguments go to ctest (e.g. -L unit, -R config). Tests labelled `long` (minutes even on a quiet
# machine) run only with RPCT_LONG_TESTS=1.
#
#   bash scripts/test.sh --sanitize address,undefined [ctest args]   (ASan + UBSan, build-asan/)
#   bash scripts/test.sh --sanitize thread [ctest args]              (TSan, build-tsan/)
# A sanitizer run configures its own build directory (RPCT_SANITIZE, CUDA off), builds only the
# executables the selected tests run (no benchmarks), and runs them with the options and suppressions of
# scripts/sanitizers/env.sh. Without ctest arguments it selects what CI runs: every quick unit test
# under ASan + UBSan (-L unit -LE 'slow|long'), the tests labelled `threads` under TSan.
# RPCT_TEST_BUILD_ONLY=1 (sanitizer runs): build what the selected tests need, run nothing (CI builds the
# sanitizer trees while the main suite runs).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
skip_long=(-LE long)
[ "${RPCT_LONG_TESTS:-0}" = 1 ] && skip_long=()

if [ "${1:-}" != --sanitize ]; then
  build="$(bash "$here/scripts/build.sh" | tail -n 1)"
  cd "$build"
  exec ctest --output-on-failure -j "${RPCT_TEST_JOBS:-2}" "${skip_long[@]}" "$@"
fi

if [ $# -lt 2 ]; then
  echo "usage: scripts/test.sh --sanitize address,undefined|thread [ctest args]" >&2; exit 2
fi
sanitize="$2"; shift 2
case "$sanitize" in
  address,undefined|undefined,address) kind=asan; selection=(-L unit -LE 'slow|long') ;;
  thread) kind=tsan; selection=(-L threads -LE long) ;;
  *) echo "scripts/test.sh: --sanitize '$sanitize': use address,undefined or thread" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && selection=("${skip_long[@]}" "$@")
export RPCT_BUILD_DIR="${RPCT_SANITIZE_BUILD_DIR:-$here/build-$kind}"
export RPCT_CMAKE_ARGS="-DRPCT_SANITIZE=$sanitize -DRPCT_WITH_CUDA=OFF"
build="$(bash "$here/scripts/build.sh" --configure | tail -n 1)"
cmake --build "$build" --target build.ninja >&2  # re-runs CMake if a CMake file changed, so the listing is current
# The executables the selected tests run: every absolute path in their commands that lies in the build tree
# (the test binary, mpirun's program, a script test's rpctrain and helper tools) is a target of that name;
# a test whose executable is not built yet has no command in ctest's listing, and its target is its name
# (rpct_add_test names the executable after the test).
mapfile -t targets < <(cd "$build" && ctest -N --show-only=json-v1 "${selection[@]}" | python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1]) + "/"
names = set()
for test in json.load(sys.stdin)["tests"]:
    command = test.get("command")
    if not command:
        names.add(test["name"])
    names.update(os.path.basename(a) for a in command or [] if os.path.isabs(a) and os.path.realpath(a).startswith(build))
print("\n".join(sorted(names)))' "$build")
if [ ${#targets[@]} -eq 0 ]; then
  echo "scripts/test.sh: no test matches: ${selection[*]}" >&2; exit 2
fi
bash "$here/scripts/build.sh" "${targets[@]}" >/dev/null
[ "${RPCT_TEST_BUILD_ONLY:-0}" = 1 ] && exit 0
# shellcheck source=sanitizers/env.sh
source "$here/scripts/sanitizers/env.sh" "$kind"
cd "$build"
exec ctest --output-on-failure -j "${RPCT_TEST_JOBS:-2}" "${selection[@]}"
