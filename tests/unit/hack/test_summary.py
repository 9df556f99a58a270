"""make test's closing line counts what the JUnit reports count, nothing added."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_the_summary_is_the_sum_of_the_reports(tmp_path):
    unit = tmp_path / "junit-unit.xml"
    unit.write_text('<testsuites><testsuite tests="10" failures="1" errors="1" skipped="2"/></testsuites>')
    package = tmp_path / "junit-package.xml"
    package.write_text('<testsuites><testsuite tests="4" failures="0" errors="0" skipped="0"/></testsuites>')
    done = subprocess.run([sys.executable, os.path.join(ROOT, "hack", "summary.py"), "--molecule", "6", str(unit),
                           str(package)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "summary: 10 passed, 2 failed, 2 skipped; molecule: 6 scenarios passed"
