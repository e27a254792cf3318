#!/usr/bin/env bash
# Mutation testing by the project's list, tests/mutations.txt (one mutation at a time in a scratch worktree of
# HEAD: apply, build what the test needs, run it, expect red, restore; a table of killed / survived):
#   bash scripts/mutate.sh --list        the mutations, numbered
#   bash scripts/mutate.sh [N ...]       run them (default: all; minutes each, so not in CI: docs/testing.md)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/setup.sh" >/dev/null
exec python3 "$here/mutate.py" "$@"
