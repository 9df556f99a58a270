# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One budget carries the task's deadline through every step of a release.

Each step asks it for time instead of computing its own: a wait gets what is left (or
less), a sleep never outlives the deadline, and the analysis floor is checked against
what is *left* right before the change is written, not against the whole timeout once
at the start (an in-flight release waited for, or a metric window, may have spent it).
"""

from __future__ import annotations

import math
import time

from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError


class Budget:
    """``timeout`` seconds from now, on ``clock`` (monotonic: no jumps)."""

    def __init__(self, timeout, clock=time.monotonic, sleep=time.sleep):
        self.timeout = float(timeout)
        self.clock, self._sleep = clock, sleep
        self.started = clock()
        self.deadline = self.started + self.timeout

    def spent(self):
        return self.clock() - self.started

    def left(self):
        return max(0.0, self.deadline - self.clock())

    def share(self, most, keep=0.0):
        """Seconds a step may take: at most ``most``, leaving ``keep`` for the steps after it."""
        return max(0.0, min(float(most), self.left() - keep))

    def require(self, seconds, what):
        """Refuse (before anything is written) when less than ``seconds`` is left for ``what``."""
        left = self.left()
        if left < seconds:
            raise ReleaseError("%s: %d s of wait_timeout (%d s) are left, and it needs %d s; nothing was "
                               "written. Raise wait_timeout to %d or more" % (
                                   what, math.floor(left), self.timeout, math.ceil(seconds),
                                   math.ceil(self.timeout - left + seconds)), left=round(left, 1))

    def sleep(self, seconds, keep=0.0):
        """Sleep ``seconds``, cut to what the budget allows while keeping ``keep``; the seconds slept."""
        chosen = self.share(seconds, keep)
        if chosen > 0:
            self._sleep(chosen)
        return chosen
