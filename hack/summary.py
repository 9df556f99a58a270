"""The one summary line `make test` closes with: the tests of every JUnit report given
(unit, package, integration), as the reports count them, and the molecule scenarios that
passed (``--molecule N``: molecule writes no report)."""

import sys
from xml.etree import ElementTree


def counts(paths):
    passed = failed = skipped = 0
    for path in paths:
        for suite in ElementTree.parse(path).getroot().iter("testsuite"):
            tests, skips = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            passed, failed, skipped = passed + tests - bad - skips, failed + bad, skipped + skips
    return passed, failed, skipped


def main(args):
    scenarios = 0
    if args[:1] == ["--molecule"]:
        scenarios, args = int(args[1]), args[2:]
    line = "summary: %d passed, %d failed, %d skipped" % counts(args)
    return line + ("; molecule: %d scenarios passed" % scenarios if scenarios else "")


if __name__ == "__main__":
    print(main(sys.argv[1:]))
