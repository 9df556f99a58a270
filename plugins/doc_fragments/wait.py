# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wait options every waiting module shares (module_utils/args.py wait_argument_spec)."""

from __future__ import annotations


class ModuleDocFragment:

    # A module states what it waits for in its own wait description. A module whose defaults
    # differ restates the option in its own options (a module's option replaces the
    # fragment's whole entry), with the same default as its argument spec.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Whether to wait (watching the API server, not polling) until the object reaches the state the task is for.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds the wait may take at most, a hard limit that holds also when the API
        server stops answering (the watch is resumed with a bounded backoff within it).
      - Must be positive and at most 86400 (a day).
    type: int
    default: 300
"""

    # A module that always waits for what it does: no wait option, only its bound
    # (wait_argument_spec(wait=None)).
    TIMEOUT = r"""
options:
  wait_timeout:
    description:
      - How many seconds the task may wait at most, a hard limit that holds also when the API
        server stops answering (the watch is resumed with a bounded backoff within it).
      - Must be positive and at most 86400 (a day).
    type: int
    default: 300
"""
