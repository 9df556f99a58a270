# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Events recorded on objects of one kind (``kubectl events --for``), oldest first."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import EVENT


def event_time(event):
    return (event.get("lastTimestamp") or event.get("eventTime") or
            (event.get("metadata") or {}).get("creationTimestamp") or event.get("time") or "")


def object_events(kube, kind, namespace=None, name=None, limit=20, key="object"):
    """Events on objects of ``kind`` (one name, or all) in ``namespace`` (or all).

    Each event names its object as ``namespace/name`` under ``key``. One request.
    """
    selector = "involvedObject.kind=%s" % kind
    if name:
        selector += ",involvedObject.name=%s" % name
    items = kube.list(EVENT, namespace, field_selector=selector)[0]
    items.sort(key=event_time)
    events = [{"time": event_time(item), "type": item.get("type"), "reason": item.get("reason"),
               "uid": (item.get("metadata") or {}).get("uid"),
               "message": item.get("message"), "count": item.get("count") or 1,
               key: "%s/%s" % (item["involvedObject"].get("namespace"), item["involvedObject"].get("name"))}
              for item in items]
    return events[-limit:] if limit else events


def group_events(events, key="object"):
    grouped = {}
    for event in events:
        grouped.setdefault(event[key], []).append(event)
    return grouped
