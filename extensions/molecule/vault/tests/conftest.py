"""The shared checks (extensions/molecule/platform_checks.py) on the import path."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
