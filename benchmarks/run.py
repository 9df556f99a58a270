"""Benchmarks: `python benchmarks/run.py NAME [options]` (or `make bench` for all).

They print figures, each beside a baseline measured in the same run; none asserts a
time. See each module's docstring for what it measures.
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BENCHMARKS = ["cluster", "canary", "flux", "site", "vault", "concurrency", "code", "real_pods"]
# The module of each benchmark ("site" would be Python's own site module).
MODULES = {"site": "site_playbook"}


def main():
    names = [arg for arg in sys.argv[1:] if not arg.startswith("-") and arg in BENCHMARKS] or BENCHMARKS
    options = [arg for arg in sys.argv[1:] if arg not in names]
    for name in names:
        importlib.import_module(MODULES.get(name, name)).main(options)


if __name__ == "__main__":
    main()
