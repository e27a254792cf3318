"""check_bench_md.py DIR HEADER...: DIR/bench.md's table against DIR/bench.json, every cell.

The columns are `model` and exactly the HEADERs, one row per checkpoint (its label), each cell the checkpoint
summary's value that the header names, in percent with 2 decimals, or "-" where that summary has none. The
headers' meaning is written out here, not taken from robust/bench_report.cpp:
  bench classify: "clean top-1", "mCE", "rel. mCE", "IN-A top-1", "IN-R top-1", "IN-O AUPR"; an attack column
    "FGSM 8" is the top-1 under FGSM at eps 8/255 in the one input space benchmarked, "FGSM-px 8" /
    "FGSM-norm 8" name the space;
  bench segment: "clean mIoU" = clean.miou, "mean" = c.mean (over the corruptions), any other header a
    corruption's name = c.mean_miou.<name> (its mean over the severities).
Exits 1 on any difference, or when no cell holds a value (an empty table must not pass).
"""
import json
import re
import sys

FIXED = {"clean top-1": ["clean_top1"], "mCE": ["c", "mce"], "rel. mCE": ["c", "relative_mce"],
         "IN-A top-1": ["a_top1"], "IN-R top-1": ["r_top1"], "IN-O AUPR": ["o", "aupr"],
         "clean mIoU": ["clean", "miou"], "mean": ["c", "mean"]}
SPACES = {"px": "pixel", "norm": "normalized"}


def cells(line):
    return [c.strip() for c in line.strip()[1:-1].split("|")]


def main(d, headers):
    checkpoints = json.load(open(d + "/bench.json"))["checkpoints"]
    lines = open(d + "/bench.md").read().splitlines()
    at = [i for i, l in enumerate(lines) if l.startswith("| model |")]
    if len(at) != 1:
        print(f"  {len(at)} tables in bench.md")
        return 1
    head, rule = cells(lines[at[0]]), cells(lines[at[0] + 1])
    body = lines[at[0] + 2:]
    rows = [cells(l) for l in body[:len(checkpoints)]]
    spaces = {sp for c in checkpoints for by_space in c["summary"].get("attacks", {}).values() for sp in by_space}

    def path(h):
        if h in FIXED:
            return FIXED[h]
        m = re.fullmatch(r"(FGSM|PGD|SPSA)(?:-(px|norm))? (\S+)", h)
        if not m:
            return ["c", "mean_miou", h]
        assert (m[2] is None) == (len(spaces) == 1), f"column {h!r} with spaces {spaces}"
        space = SPACES[m[2]] if m[2] else next(iter(spaces))
        return ["attacks", m[1].lower(), space, m[3], "top1"]

    def value(summary, keys):
        for k in keys:
            if not isinstance(summary, dict) or k not in summary:
                return "-"
            summary = summary[k]
        return f"{100 * summary:.2f}"

    bad = []
    if head != ["model"] + headers:
        bad.append(f"header {head}, expected {['model'] + headers}")
    if rule != ["---"] + ["---:"] * len(headers):
        bad.append(f"rule {rule}")
    if len(rows) != len(checkpoints) or (len(body) > len(checkpoints) and body[len(checkpoints)].startswith("|")):
        bad.append(f"{len(checkpoints)} checkpoints but other rows: {body}")
    n = 0
    for c, row in zip(checkpoints, rows):
        want = [c["label"]] + [value(c["summary"], path(h)) for h in headers]
        bad += [f"{c['label']} {h}: bench.md '{a}', bench.json '{w}'" for h, a, w in zip(head, row, want) if a != w]
        if len(row) != len(want):
            bad.append(f"{c['label']}: {len(row)} cells, expected {len(want)}")
        n += sum(x != "-" for x in row[1:])
    for b in bad[:10]:
        print("  ", b)
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
