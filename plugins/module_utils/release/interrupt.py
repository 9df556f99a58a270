# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIGINT and SIGTERM during a release become :class:`~.errors.ReleaseInterrupted`.

ansible-core's worker installs handlers that kill the worker at once (``os._exit``), so
no ``finally`` of an action plugin runs: a gate opened with ``approval=auto`` would stay
open and approve the next release, a pushed commit would be neither followed nor
reverted. The worker runs in a session of its own, so Ctrl-C reaches it as the SIGTERM
that ansible-playbook sends its workers when it is interrupted; an AWX cancel arrives
the same way. For the length of a release both signals raise instead, so the engine's
cleanup runs; a second signal while it runs is ignored (the cleanup is bounded: each
of its requests has a timeout). The previous handlers come back afterwards.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Guard:
    """What the block is given: ``quiet()`` ignores any further signal (for the cleanup,
    which must run to its end once started), and ``signals`` records what arrived."""

    def __init__(self):
        self.signals = []
        self.quieted = False

    def quiet(self):
        self.quieted = True


@contextmanager
def interrupts_raise():
    """Within the block, SIGINT and SIGTERM raise ReleaseInterrupted (once, and never
    after ``guard.quiet()``)."""
    guard = _Guard()
    if threading.current_thread() is not threading.main_thread():
        # Signal handlers can only be set from the main thread; there, nothing is delivered either.
        yield guard
        return

    def handler(signum, _frame):
        guard.signals.append(signum)
        if guard.quieted or len(guard.signals) > 1:
            return
        raise ReleaseInterrupted(signum)

    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield guard
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
