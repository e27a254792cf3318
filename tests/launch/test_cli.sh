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
# report: training curves from metrics.jsonl (the file named on errors, file:line for a corrupt record); plot.
mkdir -p "$tmp/run_a" "$tmp/run_b"
printf '{"kind":"step","step":1,"epoch":1,"loss":2.0,"lr":0.1}\n{"kind":"epoch","epoch":1,"step":2,"train_loss":1.9,"top1":0.3,"lr":0.05}\n{"kind":"step","step":3,"epoch":2,"loss":1.5,"lr":0.05}\n{"kind":"epoch","epoch":2,"step":4,"train_loss":1.4,"top1":0.5,"lr":0.01}\n' \
  | tee "$tmp/run_a/metrics.jsonl" > "$tmp/run_b/metrics.jsonl"
check report 0 '"panels":\["train loss","test top-1 (end of epoch)","learning rate"\]' -- report "$tmp/run_a" "$tmp/run_b" --out "$tmp/c.svg"
[ "$(grep -c '<polyline' "$tmp/c.svg")" = 6 ] && grep -q '>run_b</text>' "$tmp/c.svg" && echo "ok   report svg: 3 panels x 2 runs" \
  || { echo "FAIL report svg"; fails=$((fails+1)); }
check report-missing 1 "$tmp/nope/metrics.jsonl: cannot read (no such file" -- report "$tmp/run_a" "$tmp/nope" --out "$tmp/c.svg"
printf '{"kind":"step","step":5,"lo\n' >> "$tmp/run_b/metrics.jsonl"
check report-corrupt 1 "run_b/metrics.jsonl:5: not a JSON object" -- report "$tmp/run_a" "$tmp/run_b" --out "$tmp/c.svg"
check report-no-out 1 "option '--out' is required" -- report "$tmp/run_a"
check report-help 0 "usage: rpctrain report" -- report --help
printf '{"panels": [{"series": [{"x": [1, 2], "y": [0.5, 0.7], "err": [0.1, 0.1]}]}, {"seris": []}]}' > "$tmp/spec.json"
check plot-bad-key 1 "spec.json: panels\[1\]: unknown key 'seris'" -- plot "$tmp/spec.json" --out "$tmp/p.svg"
printf '{"title": "t", "series": [{"label": "v", "x": [1, 2], "y": [0.5, 0.7], "err": [0.1, 0.1]}]}' > "$tmp/spec.json"
check plot 0 '"cmd":"plot","ok":true' -- plot "$tmp/spec.json" --out "$tmp/p.svg"
[ "$(grep -c 'class="errorbar"' "$tmp/p.svg")" = 2 ] && echo "ok   plot svg: 2 error bars" || { echo "FAIL plot svg"; fails=$((fails+1)); }
check help 0 "usage: rpctrain" -- --help
check train-help 0 "--config" -- train --help
check eval-help 0 "--checkpoint" -- eval --help
[ "$fails" = 0 ] && echo "all CLI checks passed" && exit 0
exit 1
