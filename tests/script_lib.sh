# Helpers for the script tests (bash, sourced after setting $py to a python3): the result line every
# command prints last, polling, rank processes. Each script keeps its own `fail` and counters.

# result_field FILE CMD KEY: KEY of the last {"cmd": CMD, ...} result line in FILE ("" when absent).
result_field() {
  "$py" - "$@" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
row = ([r for r in rows if r.get("cmd") == sys.argv[2]] or [{}])[-1]
value = row.get(sys.argv[3], "")
print(json.dumps(value) if isinstance(value, (bool, dict, list)) else value)
PY
}

# same A B: A equals B and is not empty (a missing field or file gives "", and "" = "" must not pass); prints both
# when they differ.
same() { [ -n "$1" ] && [ "$1" = "$2" ] || { echo "  '$1' vs '$2'"; return 1; }; }

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds (0) or SECONDS pass (1).
wait_until() {
  local limit="$1"; shift
  local tries=$((limit * 20))
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}

# have_ckpt RUN_DIR: a checkpoint directory exists (complete or not).
have_ckpt() { compgen -G "$1/ckpt/step_*" >/dev/null; }

# rank_pids PATTERN: pids of the rpctrain rank processes (not the launcher: it is no MPI process) whose
# command line contains PATTERN, as "pid rank" lines (the rank from Open MPI's environment).
rank_pids() {
  pgrep -f -- "$1" | while read -r p; do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = rpctrain ] || continue
    local r
    r="$(tr '\0' '\n' 2>/dev/null < /proc/"$p"/environ | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')"
    [ -n "$r" ] && echo "$p $r"
  done
}

# bench_check FILE PYTHON_EXPR...: for the `rpctrain bench` tests. Evaluates each expression with r = the last
# JSON line of FILE (the command's result), b = bench.json of r["out"], items(k) / summary(k) = checkpoint k's
# items / summary in it (json, math and sys imported); prints the ones that do not hold; 1 if any.
bench_check() {
  "$py" - "$@" <<'PY'
import json, math, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r = json.loads(lines[-1])
b = json.load(open(r["out"] + "/bench.json")) if r.get("ok") and "out" in r else None
def items(k=0): return b["checkpoints"][k]["items"]
def summary(k=0): return b["checkpoints"][k]["summary"]
bad = [e for e in sys.argv[2:] if not eval(e)]
for e in bad: print("  not true:", e, "\n  result:", json.dumps(r)[:600])
sys.exit(1 if bad else 0)
PY
}
