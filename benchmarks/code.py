"""Figures on the code's shape (issue 16's measures), from the tree as it is.

- code lines per module (plugins/modules/*.py, without DOCUMENTATION/EXAMPLES/RETURN,
  comments and blank lines): median and max, against the action plugins' (the baseline
  of "thin");
- the largest module_utils file;
- ``except Exception`` (broad catches) in plugins/, each marked with its reason or not;
- functions that parse Go durations (a function whose body matches Go's unit letters in a
  regular expression): the goal is one;
- error classes that do not derive from CollectionError (raised to users) among those a
  module or action plugin can meet.

    python benchmarks/run.py code
"""

import ast
import os
import re
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_NAMES = ("DOCUMENTATION", "EXAMPLES", "RETURN")
DURATION = re.compile(r"""(ms\|s\|m\|h|\[smh\]|\(s\|m\)|"ms": 0\.001|_GO_UNIT_NANOSECONDS\[)""")


def code_lines(path):
    with open(path) as handle:
        source = handle.read()
    documented = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") in DOC_NAMES for target in node.targets):
            documented.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if number not in documented and line.strip() and not line.strip().startswith("#"))


def python_files(*parts):
    base = os.path.join(ROOT, *parts)
    for directory, _dirs, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def data_only(path):
    """A file that only assigns literals (a vendored schema): data shipped as Python, not code."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    return any(isinstance(node, ast.Assign) for node in tree.body) and all(
        isinstance(node, (ast.Assign, ast.Expr, ast.Import, ast.ImportFrom)) for node in tree.body)


def duration_parsers():
    found = []
    for path in python_files("plugins"):
        with open(path) as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and DURATION.search(ast.unparse(node)):
                found.append("%s:%s" % (os.path.relpath(path, ROOT), node.name))
    return found


def main(_options):
    modules = {os.path.basename(path): code_lines(path) for path in python_files("plugins", "modules")}
    actions = {os.path.basename(path): code_lines(path) for path in python_files("plugins", "action")}
    print("code lines per module: median %.0f, max %d (%s); action plugins (baseline): median %.0f, max %d" % (
        statistics.median(modules.values()), max(modules.values()), max(modules, key=modules.get),
        statistics.median(actions.values()), max(actions.values())))
    utils = {os.path.relpath(path, ROOT): code_lines(path) for path in python_files("plugins", "module_utils")
             if not data_only(path)}
    data = [os.path.relpath(path, ROOT) for path in python_files("plugins", "module_utils") if data_only(path)]
    largest = max(utils, key=utils.get)
    print("largest module_utils file: %s, %d code lines (median %.0f over %d files; data-only files left out: %s)" % (
        largest, utils[largest], statistics.median(utils.values()), len(utils), ", ".join(data) or "none"))
    broad = []
    for path in python_files("plugins"):
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                if re.search(r"except (Exception|BaseException)\b", line):
                    broad.append("%s:%d" % (os.path.relpath(path, ROOT), number))
    print("except Exception in plugins/: %d" % len(broad))
    for place in broad:
        print("  %s" % place)
    parsers = duration_parsers()
    print("functions parsing Go durations: %d (%s)" % (len(parsers), ", ".join(parsers)))
