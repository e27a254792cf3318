#!/usr/bin/env bash
# CLI contract: config errors are one line naming the key/file, exit != 0, last stdout line is JSON.
set -u
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check NAME EXPECTED_EXIT_NONZERO(1/0) PATTERN -- args...
  local name="$1" want_fail="$2" pattern="$3"; shift 4
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local last; last="$(tail -n 1 "$tmp/out")"
  if [ "$want_fail" = 1 ] && [ "$rc" = 0 ]; then echo "FAIL $name: exit 0"; fails=$((fails+1)); return; fi
  if [ "$want_fail" = 0 ] && [ "$rc" != 0 ]; then echo "FAIL $name: exit $rc: $(cat "$tmp/err")"; fails=$((fails+1)); return; fi
  if ! grep -q -- "$pattern" "$tmp/err" "$tmp/out"; then echo "FAIL $name: no '$pattern' in output"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  if ! printf '%s' "$last" | python3 -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null; then
    echo "FAIL $name: last stdout line is not JSON: $last"; fails=$((fails+1)); return; fi
  if [ "$want_fail" = 1 ] && [ "$(grep -c . "$tmp/err")" != 1 ]; then echo "FAIL $name: error is not one line"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  echo "ok   $name"
}
printf 'train:\n  lrr: 0.1\n' > "$tmp/unknown.yaml"
printf 'train:\n  lr: fast\n' > "$tmp/type.yaml"
check unknown-key 1 "unknown.yaml: key 'train.lrr': unknown key" -- train --config "$tmp/unknown.yaml"
check wrong-type 1 "key 'train.lr': expected a number" -- train --config "$tmp/type.yaml"
check missing-file 1 "$tmp/nope.yaml: cannot open" -- train --config "$tmp/nope.yaml"
check bad-set 1 "key 'model.depth': expected an integer" -- train --config "$RPCT_SOURCE_DIR/configs/fmnist_quick.yaml" --set model.depth=x
check unknown-cmd 1 "unknown command" -- frobnicate
check missing-ckpt 1 "nope.pt: checkpoint not found" -- eval --config "$RPCT_SOURCE_DIR/configs/fmnist_quick.yaml" --checkpoint "$tmp/nope.pt"
mkdir -p "$tmp/not_a_run"
check inspect-not-ckpt 1 "not_a_run: neither a checkpoint directory" -- inspect "$tmp/not_a_run"
check export-bad-format 1 "only 'safetensors' is supported" -- export "$tmp/not_a_run" --format onnx --out "$tmp/x"
check help 0 "usage: rpctrain" -- --help
check train-help 0 "--config" -- train --help
check eval-help 0 "--checkpoint" -- eval --help
[ "$fails" = 0 ] && echo "all CLI checks passed" && exit 0
exit 1
