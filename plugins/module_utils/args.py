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


def check_wait_timeout(params, obj=None):
    """The error for a wait_timeout that cannot be honoured, naming ``obj`` when given, or None."""
    timeout = params.get("wait_timeout")
    if timeout is not None and timeout <= 0:
        return "wait_timeout must be a positive number of seconds%s, got %d" % (" for %s" % obj if obj else "", timeout)
    return None
