#!/usr/bin/env python3
"""The floor rule (label unit): every `#include "folder/..."` in the source folders named by cmake/floors.txt
names a folder of the same floor or a lower one; an include that runs up a floor fails, naming the file, the
line and both floors. First a self-check: the same checker must reject a made-up tree with one upward include
(so a checker that sees nothing cannot pass).

usage: check_floors.py SOURCE_DIR
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/[^"]+"', re.M)
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh", ".inc")


def read_floors(path):
    floors = {}
    for line in open(path):
        line = line.split("#", 1)[0].split()
        if line:
            floors[line[0]] = int(line[1])
    return floors


def upward_includes(root, floors):
    """(file, line number, included folder) for every include that names a higher floor."""
    bad = []
    for folder, floor in sorted(floors.items()):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                text = open(path, errors="replace").read()
                for m in INCLUDE.finditer(text):
                    target = m.group(1)
                    if target in floors and floors[target] > floor:
                        line = text.count("\n", 0, m.start()) + 1
                        bad.append((os.path.relpath(path, root), line, folder, target))
    return bad


def self_check(floors):
    with tempfile.TemporaryDirectory() as tmp:
        low = min(floors, key=floors.get)
        high = max(floors, key=floors.get)
        os.makedirs(os.path.join(tmp, low))
        with open(os.path.join(tmp, low, "x.h"), "w") as f:
            f.write('#pragma once\n#include "%s/y.h"\n' % high)
        found = upward_includes(tmp, floors)
        return found == [(os.path.join(low, "x.h"), 2, low, high)]


def main():
    root = sys.argv[1]
    floors = read_floors(os.path.join(root, "cmake", "floors.txt"))
    if not self_check(floors):
        print("FAIL the checker did not see a made-up upward include")
        return 1
    bad = upward_includes(root, floors)
    for path, line, folder, target in bad:
        print("FAIL %s:%d: %s/ (floor %d) includes %s/ (floor %d), a higher floor"
              % (path, line, folder, floors[folder], target, floors[target]))
    if bad:
        return 1
    print("ok   no include runs up a floor (%s)" % ", ".join("%s %d" % kv for kv in sorted(floors.items(), key=lambda kv: kv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
