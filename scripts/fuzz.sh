#!/usr/bin/env bash
# Fuzzes the parsers of untrusted files with libFuzzer (fuzz/):
#   bash scripts/fuzz.sh TARGET SECONDS     one target for that long
#   bash scripts/fuzz.sh all SECONDS        every target, SECONDS each (RPCT_FUZZ_JOBS targets at a time, default 1)
#   bash scripts/fuzz.sh TARGET|all --build-only   only build them (CI builds them while other work runs)
# Targets: config idx decode safetensors checkpoint_meta. Builds them first when needed (clang,
# -fsanitize=fuzzer,address,undefined, into build-fuzz/ or $RPCT_FUZZ_BUILD_DIR; RPCT_JOBS compile jobs).
# Inputs: the committed seeds fuzz/corpus/TARGET/ and regressions fuzz/regressions/TARGET/ (read only) plus a
# working corpus build-fuzz/corpus/TARGET/ that keeps what the fuzzer finds interesting between runs. One
# process per target (libFuzzer's -jobs are not used; RPCT_FUZZ_JOBS=2 runs two targets side by side, as CI
# does on its 2 cores); limits per input: 10 s, 2048 MB RSS, 2048 MB in one malloc. A crash, hang, leak or
# huge allocation is written to fuzz/findings/TARGET/ (git-ignored), printed, and makes the script exit 1; turn
# each into a fix plus a committed input in fuzz/regressions/TARGET/ (tests/fuzz/ replays those in the normal
# build). Last line: a JSON summary per target.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
kTargets=(config idx decode safetensors checkpoint_meta)
usage() { echo "usage: bash scripts/fuzz.sh TARGET|all SECONDS|--build-only (targets: ${kTargets[*]})" >&2; exit 2; }
[ $# -eq 2 ] || usage
target="$1" seconds="$2" build_only=0
if [ "$seconds" = --build-only ]; then
  build_only=1
else
  [[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
fi
jobs="${RPCT_FUZZ_JOBS:-1}"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: RPCT_FUZZ_JOBS must be a positive integer, got '$jobs'" >&2; exit 2; }
if [ "$target" = all ]; then
  targets=("${kTargets[@]}")
else
  [[ " ${kTargets[*]} " == *" $target "* ]] || usage
  targets=("$target")
fi

py="$(bash "$here/scripts/setup.sh" | tail -n 1)"
build="${RPCT_FUZZ_BUILD_DIR:-$here/build-fuzz}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DRPCT_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DRPCT_PYTHON="$py" >&2
fi
cmake --build "$build" -j "${RPCT_JOBS:-2}" --target "${targets[@]/#/fuzz_}" >&2

[ $build_only = 1 ] && { echo "$build"; exit 0; }

# One target: fuzz it, print its outcome, leave "RC EXECUTIONS NEW_FINDINGS" in $build/fuzz-TARGET.result.
fuzz_one() {
  local t="$1" work="$build/corpus/$1" findings="$here/fuzz/findings/$1" log="$build/fuzz-$1.log" before rc execs new
  mkdir -p "$work" "$findings" "$here/fuzz/regressions/$t"
  before="$(ls "$findings" | wc -l)"
  local dict=()
  [ -f "$here/fuzz/dict/$t.dict" ] && dict=(-dict="$here/fuzz/dict/$t.dict")
  echo "[fuzz] $t: ${seconds}s (log $log)" >&2
  set +e
  "$build/fuzz/fuzz_$t" "$work" "$here/fuzz/corpus/$t" "$here/fuzz/regressions/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || echo 0)"
  new=$(( $(ls "$findings" | wc -l) - before ))
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
    echo "[fuzz] $t: FINDING (exit $rc, $new new file(s) in $findings):" >&2
    grep -E 'ERROR|runtime error|FuzzFinding|terminate called|what\(\)|Test unit written' "$log" | head -20 >&2 || tail -30 "$log" >&2
  else
    echo "[fuzz] $t: clean after $execs executions" >&2
  fi
  echo "$rc ${execs:-0} $new" > "$build/fuzz-$t.result"
}

running=0
for t in "${targets[@]}"; do
  rm -f "$build/fuzz-$t.result"
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait
status=0 summary=""
for t in "${targets[@]}"; do
  read -r rc execs new < "$build/fuzz-$t.result" || { rc=1 execs=0 new=0; echo "[fuzz] $t: no result" >&2; }
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then status=1; fi
  summary+="${summary:+,}{\"target\":\"$t\",\"seconds\":$seconds,\"executions\":$execs,\"exit\":$rc,\"new_findings\":$new}"
done
echo "{\"fuzz\":[$summary],\"ok\":$([ $status -eq 0 ] && echo true || echo false)}"
exit $status
