# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base of every error this collection raises on purpose.

A module or action plugin catches ``CollectionError`` once and turns it into one clean
failure; anything else is a bug and keeps its traceback. Each subclass carries a message
that already names the object and what was being done, so callers never reformat it.
"""

from __future__ import annotations


class CollectionError(Exception):
    """Base class: ``str(error)`` is the message to show; ``details`` goes into the result."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details
