# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release engine's errors."""

from __future__ import annotations

import signal

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError


class ReleaseError(CollectionError):
    """The release cannot start, or could not be followed; the message names the object and why."""


class ReleaseInterrupted(BaseException):
    """SIGINT or SIGTERM arrived during a release (Ctrl-C, an AWX cancel).

    A BaseException, like KeyboardInterrupt: no ``except CollectionError`` on the way up
    may take it for an ordinary failure and carry on; the pipeline catches it, cleans up
    and reports what was left.
    """

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name
