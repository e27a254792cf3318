# Helpers for the trainer's script tests (sourced; needs $py, a Python 3):
#   sha OUT        the params_sha256 of the last `train` result line in the output file OUT
#   losses METRICS "step loss" for every step record of a metrics.jsonl (a step logged twice, before and
#                  after a crash, must have the same loss: else it prints INCONSISTENT and fails)
sha() {
  "$py" - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(([r for r in rows if r.get("cmd") == "train"] or [{}])[-1].get("params_sha256", ""))
PY
}
losses() { "$py" - "$1" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") != "step": continue
    if r["step"] in seen and seen[r["step"]] != r["loss"]: print("INCONSISTENT", r["step"]); sys.exit(1)
    seen[r["step"]] = r["loss"]
for k in sorted(seen): print(k, repr(seen[k]))
PY
}
