#!/usr/bin/env python3
"""Mutation testing by a list the project keeps (tests/mutations.txt): each mutation is one exact piece of product
code, the bug that replaces it, and the test that must then fail. For each selected mutation, in a scratch
worktree of HEAD (its own build directory, kept between runs so builds are incremental): apply it, build only what
the test needs, run the test, expect red, restore. First every named test runs once without a mutation and must
pass (else its mutations are not run: a red test kills nothing). Prints a table: killed (the test failed) or survived, seconds.
Exit code 1 when any survived, could not be applied or did not build (a mutation that does not compile is a
broken list entry, not a bug some test saw).

  bash scripts/mutate.sh --list          the mutations, numbered
  bash scripts/mutate.sh [N ...]         run mutations N (default: all)
  bash scripts/mutate.sh --rev REV [N ...]   the same against another commit's code and tests (e.g. the commit
                                         before a test was strengthened: the bug it now sees should survive there)

Env: RPCT_MUTATE_DIR (default ~/.cache/rpctrain/mutate): the scratch worktree and its build directory.
A mutation costs a rebuild of the library part it touches (one unity batch) and one test run: minutes each, so
this is not in CI; run it after changing a test or the code a mutation names (docs/testing.md).
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LIST = os.path.join(REPO, "tests", "mutations.txt")


def parse(path):
    """The blocks of tests/mutations.txt: '## title' then 'file:', 'test:', 'find:' + lines, 'replace:' + lines."""
    mutations, cur, section = [], None, None
    for line in open(path).read().split("\n"):
        if line.startswith("## "):
            cur = {"title": line[3:].strip(), "find": [], "replace": []}
            mutations.append(cur)
            section = None
        elif cur is None or line.startswith("#"):
            continue
        elif re.match(r"^(file|test):", line):
            key, value = line.split(":", 1)
            cur[key] = value.strip()
            section = None
        elif line in ("find:", "replace:"):
            section = line[:-1]
        elif section:
            cur[section].append(line)
    for i, m in enumerate(mutations, 1):
        for key in ("file", "test"):
            if key not in m:
                raise SystemExit(f"{path}: mutation {i} ({m['title']}) has no '{key}:'")
        m["find"] = "\n".join(m["find"]).strip("\n")
        m["replace"] = "\n".join(m["replace"]).strip("\n")
        if not m["find"]:
            raise SystemExit(f"{path}: mutation {i} ({m['title']}) has no 'find:' text")
    return mutations


def run(cmd, **kw):
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def worktree(rev):
    """The scratch worktree at `rev` (created once, reset to `rev` each run) and its configured build directory."""
    base = os.environ.get("RPCT_MUTATE_DIR", os.path.expanduser("~/.cache/rpctrain/mutate"))
    tree = os.path.join(base, "tree")
    head = run(["git", "-C", REPO, "rev-parse", rev]).stdout.strip()
    if not head:
        raise SystemExit(f"git rev-parse {rev}: no such commit")
    if not os.path.isdir(tree):
        os.makedirs(base, exist_ok=True)
        run(["git", "-C", REPO, "worktree", "prune"])
        r = run(["git", "-C", REPO, "worktree", "add", "--detach", tree, head])
        if r.returncode:
            raise SystemExit(f"git worktree add {tree}: {r.stderr}")
    r = run(["git", "-C", tree, "checkout", "--detach", "--force", head])
    if r.returncode:
        raise SystemExit(f"git checkout {head} in {tree}: {r.stderr}")
    run(["git", "-C", tree, "reset", "--hard", "-q", head])
    build = os.path.join(tree, "build")
    env = dict(os.environ, RPCT_BUILD_DIR=build)
    r = run(["bash", os.path.join(tree, "scripts", "build.sh"), "--configure"], env=env)
    if r.returncode:
        raise SystemExit(f"configure {build}: {r.stderr[-2000:]}")
    return tree, build, env, head


def targets_of(build, test):
    """The build targets a test runs: every absolute path in its command inside the build tree (the test binary,
    rpctrain, helper tools), by name; a test whose binary is not built yet has no command: its own name."""
    run(["cmake", "--build", build, "--target", "build.ninja"])
    listing = json.loads(run(["ctest", "-N", "--show-only=json-v1", "-R", f"^{test}$"], cwd=build).stdout)
    tests = listing["tests"]
    if not tests:
        return None
    names = set()
    real_build = os.path.realpath(build) + "/"
    for t in tests:
        command = t.get("command")
        if not command:
            names.add(t["name"])
        for a in command or []:
            if os.path.isabs(a) and os.path.realpath(a).startswith(real_build):
                names.add(os.path.basename(a))
    return sorted(names)


def build_targets(build, targets, env):
    """Builds `targets` in `build` (RPCT_JOBS jobs, default 2)."""
    return run(["cmake", "--build", build, "-j", os.environ.get("RPCT_JOBS", "2"), "--target"] + targets, env=env)


def main(argv):
    mutations = parse(LIST)
    if argv[:1] == ["--list"]:
        for i, m in enumerate(mutations, 1):
            print(f"{i:3d}  {m['title']}  [{m['file']} -> {m['test']}]")
        return 0
    rev = "HEAD"
    if argv[:1] == ["--rev"]:
        if len(argv) < 2:
            raise SystemExit("--rev needs a commit")
        rev, argv = argv[1], argv[2:]
    chosen = [int(a) for a in argv] if argv else list(range(1, len(mutations) + 1))
    tree, build, env, head = worktree(rev)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # Baseline: each named test must pass without a mutation, or its failures would count as kills.
    baseline = {}
    for test in sorted({mutations[n - 1]["test"] for n in chosen}):
        targets = targets_of(build, test)
        if targets is None:
            baseline[test] = f"no test {test} at this commit"
            continue
        b = build_targets(build, targets, env)
        t = run(["ctest", "-R", f"^{test}$"], cwd=build, env=env) if b.returncode == 0 else b
        baseline[test] = "green" if t.returncode == 0 else "fails without a mutation"
        print(f"[mutate] baseline {test}: {baseline[test]}", file=sys.stderr, flush=True)
    rows = []
    for n in chosen:
        m = mutations[n - 1]
        path = os.path.join(tree, m["file"])
        t0 = time.time()
        if baseline[m["test"]] != "green":
            rows.append((n, m, f"not run: {m['test']} {baseline[m['test']]}", 0.0))
            continue
        source = open(path).read()
        count = source.count(m["find"])
        if count != 1:
            rows.append((n, m, f"not applied ({count} matches of the find text)", 0.0))
            continue
        try:
            open(path, "w").write(source.replace(m["find"], m["replace"]))
            targets = targets_of(build, m["test"])
            if targets is None:
                rows.append((n, m, f"no test {m['test']} at this commit", time.time() - t0))
                continue
            b = build_targets(build, targets, env)
            if b.returncode:
                verdict = "does not build (fix the mutation)"  # a compile error is not a test seeing the bug
            else:
                t = run(["ctest", "-R", f"^{m['test']}$", "--output-on-failure"], cwd=build, env=env)
                verdict = "killed" if t.returncode else "SURVIVED"
        finally:
            open(path, "w").write(source)
        rows.append((n, m, verdict, time.time() - t0))
        print(f"[mutate] {n}: {verdict} ({time.time() - t0:.0f} s) {m['title']}", file=sys.stderr, flush=True)
    print(f"mutations of {head[:10]} ({len(rows)} run)")
    print("| # | mutation | file | test | result | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, m, verdict, secs in rows:
        print(f"| {n} | {m['title']} | {m['file']} | {m['test']} | {verdict} | {secs:.0f} |")
    killed = sum(1 for r in rows if r[2].startswith("killed"))
    print(f"{killed} of {len(rows)} killed")
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
