# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option specs shared by several modules, documented by the doc fragments of the same names.

One naming across the collection: ``wait`` (bool) says whether to wait, ``wait_timeout``
(seconds) bounds it. A module that waits for something specific documents what it waits
for in its own ``wait`` description; the fragment ``gitops.progressive.wait`` carries the
rest.
"""

from __future__ import annotations


def wait_argument_spec(wait=True, wait_timeout=300):
    """``wait`` and ``wait_timeout`` with these defaults; only ``wait_timeout`` when ``wait`` is None.

    A module that always waits for what it does (it has no ``wait`` to turn the wait off)
    still bounds it with ``wait_timeout``: the fragment ``gitops.progressive.wait.timeout``.
    """
    spec = dict(wait_timeout=dict(type="int", default=wait_timeout))
    if wait is not None:
        spec = dict(wait=dict(type="bool", default=wait), **spec)
    return spec


# A day: longer than any wait a task is for, and far from what the clocks and socket
# timeouts underneath can hold (a timeout of 1e11 s overflows them).
WAIT_TIMEOUT_MAX = 86400


def check_wait_timeout(params, obj=None):
    """The error for a wait_timeout that cannot be honoured, naming ``obj`` when given, or None.

    Positive (a wait of 0 s could only time out) and at most WAIT_TIMEOUT_MAX seconds.
    """
    timeout = params.get("wait_timeout")
    where = " for %s" % obj if obj else ""
    if timeout is not None and timeout <= 0:
        return "wait_timeout must be a positive number of seconds%s, got %d" % (where, timeout)
    if timeout is not None and timeout > WAIT_TIMEOUT_MAX:
        return "wait_timeout must be at most %d seconds (a day)%s, got %d" % (WAIT_TIMEOUT_MAX, where, timeout)
    return None
