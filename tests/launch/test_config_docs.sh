#!/usr/bin/env bash
# `rpctrain config` (label unit): docs/configs.md is exactly what `rpctrain config --list` prints (so the reference
# cannot drift from the code that reads configs: regenerate it with `build/rpctrain config --list --out
# docs/configs.md`); every key of a resolved config.yaml is in it; --explain shows one key; an unknown key is a
# usage error (exit 2) naming it.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

"$bin" config --list --out "$tmp/configs.md" > "$tmp/list.out" 2>&1 || fail "config --list exited $?"
if diff -u "$src/docs/configs.md" "$tmp/configs.md" > "$tmp/diff"; then
  echo "ok   docs/configs.md = rpctrain config --list ($(grep -c '^| `' "$tmp/configs.md") keys)"
else
  fail "docs/configs.md differs from rpctrain config --list (regenerate: build/rpctrain config --list --out docs/configs.md):"
  head -n 30 "$tmp/diff"
fi
# The keys of a resolved config (every registered key, as train writes config.yaml) are the documented ones.
"$bin" config --list > "$tmp/stdout.md" 2>&1
[ "$(grep -v '^{' "$tmp/stdout.md")" = "$(cat "$tmp/configs.md")" ] || fail "--list on stdout differs from --out"
python3 - "$tmp/configs.md" "$src/configs/fmnist_quick.yaml" <<'PY' || fail "a key of a config file is not in the reference"
import re, sys
documented = set(re.findall(r"^\| `([a-z_.0-9]+)` \|", open(sys.argv[1]).read(), re.M))
assert len(documented) > 80, len(documented)
assert {"train.lr", "run.stop_signal", "attention.rpc.layers", "seg.eval_scales", "data.mean"} <= documented
PY
"$bin" config --explain train.lr > "$tmp/explain.out" 2>&1 && grep -q '^train.lr (number, default 0.001)' "$tmp/explain.out" \
  && grep -q '"key":"train.lr"' "$tmp/explain.out" && echo "ok   --explain train.lr" || { fail "--explain train.lr"; cat "$tmp/explain.out"; }
"$bin" config --explain train.lrr > "$tmp/bad.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "unknown key 'train.lrr' (in its section: .*train.lr," "$tmp/bad.out" && echo "ok   unknown key: exit 2, named" \
  || { fail "unknown key: exit $rc"; cat "$tmp/bad.out"; }
[ $fails = 0 ] && exit 0
exit 1
