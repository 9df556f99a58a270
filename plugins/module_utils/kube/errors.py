# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One clear message from an API error: what was asked, of which object, what the server said."""

from __future__ import annotations

import json


def describe_api_error(error, doing, obj):
    status = getattr(error, "status", None)
    body = getattr(error, "body", None)
    message = None
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError, TypeError):
            message = str(body)[:500]
    if status is None:
        return "%s %s: %s" % (doing, obj, error)
    return "%s %s: the API server answered %s: %s" % (doing, obj, status, message or getattr(error, "reason", error))
