#!/usr/bin/env bash
# train.eval_every (labels unit, slow): a tiny classifier, 3 epochs of 2 steps each, one process.
#  - eval_every 2: epochs 2 and 3 (the run's last) are evaluated, epoch 1 is not: metrics.jsonl's epoch
#    records carry test_loss / top1 only for those, the log says "not evaluated" once, and the result line
#    has top1 (the last evaluation's);
#  - eval_every 0: only epoch 3; the trained weights equal eval_every 2's (an evaluation changes no state).
#  - eval_every -1: an error naming the key.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
source "$src/tests/script_lib.sh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
# 128 samples / batch 64 = 2 steps per epoch.
common=(--config "$src/configs/fmnist_quick.yaml" --set data.limit_train=128 --set data.limit_test=64
        --set train.epochs=3 --set train.threads=1 --set data.workers=0 --set train.device=cpu)
for every in 2 0; do
  "$bin" train "${common[@]}" --set train.eval_every=$every --run-dir "$tmp/e$every" > "$tmp/e$every.out" 2>&1 ||
    { fail "eval_every $every: the run exited with $?"; tail -20 "$tmp/e$every.out"; continue; }
  [ -n "$(result_field "$tmp/e$every.out" train top1)" ] || fail "eval_every $every: no top1 in the result line"
  expected="[2, 3]"; [ $every = 0 ] && expected="[3]"
  got="$("$py" - "$tmp/e$every/metrics.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"epoch"' in l.replace(" ", "")]
print([r["epoch"] for r in recs if "top1" in r and "test_loss" in r], len(recs))
PY
)"
  [ "$got" = "$expected 3" ] || fail "eval_every $every: evaluated epochs (of 3 epoch records) $got, expected $expected 3"
  n_not="$(grep -c "not evaluated" "$tmp/e$every.out")"
  [ "$n_not" = $((every == 2 ? 1 : 2)) ] || fail "eval_every $every: $n_not epoch lines say 'not evaluated'"
done
a="$(result_field "$tmp/e2.out" train params_sha256)" b="$(result_field "$tmp/e0.out" train params_sha256)"
[ -n "$a" ] && [ "$a" = "$b" ] || fail "eval_every 2 and 0 trained different weights: '$a' vs '$b'"
if "$bin" train "${common[@]}" --set train.eval_every=-1 --run-dir "$tmp/bad" > "$tmp/bad.out" 2>&1; then
  fail "eval_every -1 was accepted"
else
  grep -q "train.eval_every" "$tmp/bad.out" || { fail "the error does not name train.eval_every"; tail -3 "$tmp/bad.out"; }
fi
[ $fails = 0 ] && echo "ok: eval_every 2 evaluates epochs 2 and 3, 0 only the last, same weights; -1 refused" || exit 1
