#!/usr/bin/env bash
# `bench/run replicate --quick --seg` end to end (labels mpi, slow): all 5 attention variants x 2 seeds trained
# with mpirun -np 2 on a tiny subset (2 epochs) and benchmarked (clean, 15 corruptions x 5 severities, FGSM / PGD
# at 2 eps in both input spaces, 32 images), and the segmentation part (sym and rpc x 2 seeds, 1 epoch on 256
# scenes, bench segment); then every table cell must be present and finite, the Welch p-values in
# [0, 1], the SVGs well-formed with one line per variant; a rerun skips every finished (variant, seed) and
# `--tables-only` rebuilds the same tables from the results files alone.
set -u
bin="$1"; src="$RPCT_SOURCE_DIR"; py="${RPCT_PYTHON:-python3}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0; fail() { echo "FAIL $*"; fails=$((fails+1)); }
ok() { echo "ok   $*"; }
export RPCT_BUILD="$(dirname "$bin")" RPCT_PYTHON="$py"
out="$tmp/rep"

t0=$(date +%s)
bash "$src/bench/replicate/run.sh" --quick --seeds 2 --seg --out "$out" > "$tmp/run1.out" 2> "$tmp/run1.err" \
  || { fail "replicate --quick --seg"; tail -n 30 "$tmp/run1.err"; }
echo "replicate --quick --seg: $(( $(date +%s) - t0 )) s"
"$py" - "$out" <<'PY' && ok "every cell of the 5 x 2 table present and finite; p-values in [0, 1]" || fail "table cells"
import json, math, sys
t = json.load(open(sys.argv[1] + "/tables.json"))
variants = ["softmax", "sym", "kvpos", "rpc", "rpc_all"]
bad = []
if t["variants"] != variants: bad.append(f"variants {t['variants']}")
if any(t["seeds"][v] != 2 for v in variants): bad.append(f"seeds {t['seeds']}")
cols = t["columns"]
need = ["test-set top-1", "clean top-1", "C mean top-1", "mCE vs sym", "C noise", "C blur", "C weather", "C digital"] + \
       [f"{a}-{s} {e}" for a in ("FGSM", "PGD") for s in ("norm", "px") for e in ("2", "8")]
bad += [f"missing column {c}" for c in need if c not in cols]
for v in variants:
    for c in cols:
        for what in ("mean", "std"):
            x = t[what][v].get(c)
            if not isinstance(x, (int, float)) or not math.isfinite(x): bad.append(f"{what}[{v}][{c}] = {x}")
    if v != "sym":
        for c in cols:
            p = t["vs_sym"].get(v, {}).get(c, {}).get("p")
            if not isinstance(p, (int, float)) or not 0 <= p <= 1: bad.append(f"p[{v}][{c}] = {p}")
# The segmentation part: sym and rpc x 2 seeds, clean and corrupted mIoU, rpc - sym with p-values.
seg = t.get("seg") or {}
if seg.get("variants") != ["sym", "rpc"] or seg.get("seeds") != {"sym": 2, "rpc": 2}: bad.append(f"seg {seg.get('seeds')}")
for c in ("clean.miou", "clean.macc", "clean.aacc", "c.mean"):
    if c not in seg.get("columns", []): bad.append(f"seg: missing column {c}")
for c in seg.get("columns", []):
    for v in seg.get("variants", []):
        for what in ("mean", "std"):
            x = seg[what][v].get(c)
            if not isinstance(x, (int, float)) or not math.isfinite(x): bad.append(f"seg {what}[{v}][{c}] = {x}")
    p = seg.get("vs_sym", {}).get("rpc", {}).get(c, {}).get("p")
    if not isinstance(p, (int, float)) or not 0 <= p <= 1: bad.append(f"seg p[rpc][{c}] = {p}")
# mCE is relative to sym: sym's own mean mCE is 100% up to its seed spread (summed errors / their seed mean).
if abs(t["mean"]["sym"]["mCE vs sym"] - 1) > 0.05: bad.append(f"sym mCE {t['mean']['sym']['mCE vs sym']}")
for b in bad[:10]: print("  ", b)
sys.exit(1 if bad else 0)
PY
# results_md_matches DIR: DIR/RESULTS.md's four tables (classification and segmentation: mean ± std per variant,
# difference to sym) against DIR/tables.json, every cell; the formats RESULTS.md promises are written out below.
results_md_matches() {
  "$py" - "$1" <<'PY'
import json, sys
# Formats: mean ± std in percent with 2 decimals; a difference in points with its sign and 2 decimals, then
# the Welch p-value with 3 decimals (scientific notation with 1 decimal under 0.001; n/a without one).
d = sys.argv[1]
t = json.load(open(d + "/tables.json"))
lines = open(d + "/RESULTS.md").read().splitlines()
def tables(first):  # every Markdown table whose header starts with `first`: (header cells, rows of cells)
    out = []
    for i, l in enumerate(lines):
        if l.startswith(first):
            cells = lambda s: [c.strip() for c in s.strip()[1:-1].split("|")]
            rows = []
            assert lines[i + 1].startswith("| --- |"), lines[i + 1]
            for r in lines[i + 2:]:
                if not r.startswith("|"): break
                rows.append(cells(r))
            out.append((cells(l), rows))
    return out
pm = lambda m, s: f"{100 * m:.2f} ± {100 * s:.2f}"
pv = lambda p: "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")
diff = lambda r: f"{100 * r['diff']:+.2f} (p {pv(r['p'])})"
bad, cells = [], 0
parts = [("classification", t)] + ([("segmentation", t["seg"])] if "seg" in t else [])
means, diffs = tables("| variant | seeds |"), tables("| variant - sym |")
if len(means) != len(parts): bad.append(f"{len(means)} mean ± std tables for {len(parts)} parts")
if len(diffs) != len(parts): bad.append(f"{len(diffs)} difference tables for {len(parts)} parts")
for (what, s), (head, rows), (dhead, drows) in zip(parts, means, diffs):
    if head != ["variant", "seeds"] + s["columns"]: bad.append(f"{what}: header {head}")
    if [r[0] for r in rows] != s["variants"]: bad.append(f"{what}: rows {[r[0] for r in rows]}")
    for r in rows:
        v = r[0]
        want = [v, str(s["seeds"].get(v))] + [pm(s["mean"][v][c], s["std"][v][c]) for c in s["columns"]]
        bad += [f"{what} {v} {h}: '{a}', tables.json gives '{b}'" for h, a, b in zip(head, r, want) if a != b]
        if len(r) != len(want): bad.append(f"{what} {v}: {len(r)} cells, expected {len(want)}")
        cells += len(r)
    if dhead != ["variant - sym"] + s["columns"]: bad.append(f"{what}: difference header {dhead}")
    dvars = [v for v in s["variants"] if v in s["vs_sym"]]
    if [r[0] for r in drows] != dvars or not dvars: bad.append(f"{what}: difference rows {[r[0] for r in drows]}")
    for r in drows:
        v = r[0]
        want = [v] + [diff(s["vs_sym"][v][c]) for c in s["columns"]]
        bad += [f"{what} {v} - sym {h}: '{a}', tables.json gives '{b}'" for h, a, b in zip(dhead, r, want) if a != b]
        if len(r) != len(want): bad.append(f"{what} {v} - sym: {len(r)} cells, expected {len(want)}")
        cells += len(r)
for b in bad[:10]: print("  ", b)
print(f"  {cells} cells compared")
sys.exit(1 if bad or cells == 0 else 0)
PY
}
results_md_matches "$out" && ok "RESULTS.md: every cell of its 4 tables equals tables.json's (mean ± std, difference, p)" \
  || fail "RESULTS.md tables differ from tables.json"
md="$out/RESULTS.md"
if [ -s "$md" ] && ! grep -qi "nan\|n/a\| inf" "$md" && grep -q "^| rpc_all | 2 | " "$md" && grep -q "^| rpc | .*(p " "$md" \
   && grep -q "^- RPC-SymViT beats SymViT on clean accuracy" "$md" && grep -q "^- RPC improves segmentation.*points, p " "$md" \
   && [ "$(grep -c "^| rpc | .*(p " "$md")" = 2 ]; then
  ok "RESULTS.md: table rows, differences with p-values (classification and segmentation), the claims, no nan"
else
  fail "RESULTS.md content"; head -n 30 "$md"
fi
"$py" - "$out" <<'PY' && ok "severity.svg / attacks.svg / curves.svg well-formed, one line per variant per panel" || fail "plots"
import sys, xml.etree.ElementTree as E
ns = "{http://www.w3.org/2000/svg}"
bad = []
for name, panels in (("severity.svg", 5), ("attacks.svg", 4), ("curves.svg", 3)):
    root = E.parse(f"{sys.argv[1]}/{name}").getroot()
    got = [p for p in root.iter(ns + "svg") if p.get("class") == "panel"]
    if len(got) != panels: bad.append(f"{name}: {len(got)} panels, expected {panels}")
    for p in got:
        lines = len(list(p.iter(ns + "polyline")))
        if lines != 5: bad.append(f"{name}: a panel with {lines} lines")
for b in bad[:10]: print("  ", b)
sys.exit(1 if bad else 0)
PY
for v in softmax sym kvpos rpc rpc_all; do for s in 0 1; do
  [ -s "$out/results/${v}_s$s.json" ] || fail "missing results/${v}_s$s.json"
done; done
# A training run from start to end is not marked as resumed (resumed ones are left out of the time means).
"$py" -c 'import glob, json, sys; sys.exit(any(json.load(open(f))["train"].get("resumed") is not False
                                              for f in glob.glob(sys.argv[1] + "/results/*.json")))' "$out" \
  && ok "no training marked as resumed" || fail "a training from scratch marked as resumed (or unmarked)"

# Rerun: every (variant, seed) is skipped; --tables-only rebuilds the same numbers.
cp "$out/tables.json" "$tmp/tables1.json"
bash "$src/bench/replicate/run.sh" --quick --seeds 2 --out "$out" > "$tmp/run2.out" 2> "$tmp/run2.err" || fail "rerun"
[ "$(grep -c 'done before' "$tmp/run2.err")" = 10 ] && ! grep -q "rpctrain train\|bench classify" "$tmp/run2.err" \
  && ok "a rerun skips all 10 finished (variant, seed) jobs" || { fail "rerun skipped"; tail -n 5 "$tmp/run2.err"; }
# Another recipe in the same folder is refused, naming the results file.
bash "$src/bench/replicate/run.sh" --quick --seeds 1 --epochs 3 --variants sym --out "$out" > "$tmp/o.out" 2> "$tmp/o.err"
[ $? = 1 ] && grep -q "sym_s0.json: trained with .*use another --out" "$tmp/o.err" \
  && ok "another --epochs in the same --out: refused, naming the results file" || { fail "other recipe"; tail -n 3 "$tmp/o.err"; }
rm -rf "$out/runs" "$out/logs"/*.train.json
bash "$src/bench/replicate/run.sh" --tables-only "$out" > "$tmp/run3.out" 2> "$tmp/run3.err" || { fail "--tables-only"; tail "$tmp/run3.err"; }
same_tables() {  # same_tables A.json B.json: the same means, stds and differences vs sym (both tasks)
  "$py" - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda t: (t["mean"], t["std"], t["vs_sym"], t.get("seg"))
sys.exit(0 if key(a) == key(b) else 1)
PY
}
same_tables "$tmp/tables1.json" "$out/tables.json" && ok "--tables-only (training runs deleted) rebuilds identical tables" \
  || fail "tables-only differs"
tail -n 1 "$tmp/run3.out" | grep -q '"ok": true' || fail "tables-only result line"
# The README's sharding recipe: a new folder holding only the collected results/*.json.
mkdir -p "$tmp/collected/results" && cp "$out"/results/*.json "$tmp/collected/results/"
bash "$src/bench/replicate/run.sh" --tables-only "$tmp/collected" > "$tmp/run4.out" 2> "$tmp/run4.err" \
  || { fail "--tables-only on collected results"; tail -n 5 "$tmp/run4.err"; }
same_tables "$tmp/tables1.json" "$tmp/collected/tables.json" \
  && ok "--tables-only on a folder of collected results/ only: identical tables" || fail "collected tables differ"

# The published replication (bench/replicate/fmnist): its tables are the ones its committed results give.
pub="$src/bench/replicate/fmnist"
mkdir -p "$tmp/pub" && cp -r "$pub/results" "$pub/runs" "$tmp/pub/"
bash "$src/bench/replicate/run.sh" --tables-only "$tmp/pub" > "$tmp/run5.out" 2> "$tmp/run5.err" \
  || { fail "--tables-only on bench/replicate/fmnist"; tail -n 5 "$tmp/run5.err"; }
same_tables "$pub/tables.json" "$tmp/pub/tables.json" && [ -s "$tmp/pub/curves.svg" ] \
  && ok "bench/replicate/fmnist: its committed tables.json is what its committed results give" \
  || fail "bench/replicate/fmnist/tables.json differs from its results (rebuild: bench/run replicate --tables-only bench/replicate/fmnist)"
results_md_matches "$tmp/pub" && results_md_matches "$pub" \
  && ok "bench/replicate/fmnist: RESULTS.md's tables, rebuilt and committed, equal tables.json cell by cell" \
  || fail "bench/replicate/fmnist/RESULTS.md tables differ from its tables.json"

# Bad input: an unknown variant is named.
bash "$src/bench/replicate/run.sh" --variants sym,qkv --out "$tmp/x" > "$tmp/u.out" 2>&1
[ $? = 2 ] && grep -q "unknown qkv" "$tmp/u.out" && ok "--variants qkv: exit 2 naming it" || fail "usage error"

[ $fails = 0 ] && echo "all replicate checks passed" && exit 0
exit 1
