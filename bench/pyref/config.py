"""An rpctrain run's resolved config: the config.json that `rpctrain train` writes in its run dir beside
config.yaml (nested sections as JSON objects, numbers as numbers, booleans as booleans, lists as lists;
attention.rpc.layers is a list of block indices or "all"). The one reader of it in bench/ and tests/.

  python -m bench.pyref.config RUN [KEY]    prints KEY (dotted, e.g. train.batch_size) of RUN's config as JSON
                                            (a string unquoted), or the whole config without KEY
RUN: the run directory, its config.json, or its config.yaml (the config.json beside it is read).
"""
import json
import os
import sys

_MISSING = object()


def config_path(run):
    """The config.json of RUN (a run directory, a config.json, or the config.yaml beside it)."""
    if os.path.isdir(run):
        return os.path.join(run, "config.json")
    if os.path.basename(run) == "config.yaml":
        return os.path.join(os.path.dirname(run), "config.json")
    if run.endswith(".json"):
        return run
    raise ValueError(f"{run}: not a run directory, config.json or a run's config.yaml")


def load(run):
    """RUN's resolved config as nested dicts."""
    path = config_path(run)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file (rpctrain train writes config.json in its run directory)")
    with open(path) as f:
        return json.load(f)


def get(cfg, key, default=_MISSING):
    """The value of a dotted KEY (e.g. "attention.rpc.n_iter") in a nested config; `default` when given and the
    key is absent, else KeyError naming the key."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _MISSING:
                return default
            raise KeyError(f"config has no key '{key}'")
        node = node[part]
    return node


def main(argv):
    if not 1 <= len(argv) <= 2:
        raise SystemExit("usage: python -m bench.pyref.config RUN [KEY]")
    value = load(argv[0]) if len(argv) == 1 else get(load(argv[0]), argv[1])
    print(value if isinstance(value, str) else json.dumps(value))


if __name__ == "__main__":
    main(sys.argv[1:])
