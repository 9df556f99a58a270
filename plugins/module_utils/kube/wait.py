# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wait engine: list, then watch from that resourceVersion, until a predicate holds.

Every wait in the collection goes through :func:`wait_for`. It keeps a local copy of
the watched objects (keyed by namespace/name), applies each watch event to it, and
asks ``predicate(objects)`` after every change. The predicate returns a :class:`Verdict`
(or None to keep waiting); a verdict with ``done=True`` ends the wait at once, whether
it reports success or a terminal failure. A watch that ends (server timeout, dropped
connection) is resumed from the last resourceVersion seen; a ``410 Gone`` (that
version was compacted away) starts over with a fresh list.

Transport stays outside: ``lister(resource_version=None)`` returns
``(items, resource_version)`` and ``watcher(resource_version, timeout_seconds)`` yields
``(event_type, object)``. :func:`dynamic_source` builds both from a kubernetes.dynamic
resource; unit tests pass plain functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Verdict:
    done: bool
    ok: bool = True
    message: str = ""
    data: dict = field(default_factory=dict)


class WaitTimeout(Exception):
    def __init__(self, message, last=None):
        super().__init__(message)
        self.last = last


class Gone(Exception):
    """The resourceVersion a watch resumed from is too old (HTTP 410)."""


def object_key(obj):
    metadata = obj.get("metadata") or {}
    return "%s/%s" % (metadata.get("namespace") or "", metadata.get("name"))


@dataclass
class WaitStats:
    lists: int = 0
    watches: int = 0
    events: int = 0


def wait_for(lister, watcher, predicate, timeout, on_change=None, clock=time.monotonic, stats=None):
    """Wait until ``predicate(objects)`` returns a verdict with ``done``.

    ``objects`` is a dict ``{"namespace/name": object}``. ``on_change(objects, verdict)``
    is called after each change (for live progress). Returns the final Verdict; raises
    WaitTimeout (carrying the last verdict) when ``timeout`` seconds pass first.
    """
    stats = stats if stats is not None else WaitStats()
    deadline = clock() + timeout
    objects, resource_version = {}, None
    verdict = None
    need_list = True
    while True:
        if need_list:
            items, resource_version = lister()
            stats.lists += 1
            objects = {object_key(item): item for item in items}
            need_list = False
            verdict = _judge(predicate, objects, on_change)
            if verdict is not None and verdict.done:
                return verdict
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout("timed out after %ss" % timeout, verdict)
        stats.watches += 1
        try:
            for event_type, obj in watcher(resource_version, max(1, int(remaining + 0.999))):
                stats.events += 1
                new_version = (obj.get("metadata") or {}).get("resourceVersion")
                if event_type == "BOOKMARK":
                    resource_version = new_version or resource_version
                    continue
                if event_type == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    continue
                resource_version = new_version or resource_version
                if event_type == "DELETED":
                    objects.pop(object_key(obj), None)
                else:
                    objects[object_key(obj)] = obj
                verdict = _judge(predicate, objects, on_change)
                if verdict is not None and verdict.done:
                    return verdict
                if clock() >= deadline:
                    break
        except Gone:
            need_list = True


def _judge(predicate, objects, on_change):
    verdict = predicate(objects)
    if on_change is not None:
        on_change(objects, verdict)
    return verdict


def dynamic_source(resource, namespace=None, name=None, label_selector=None):
    """``(lister, watcher)`` over a kubernetes.dynamic Resource."""
    field_selector = "metadata.name=%s" % name if name else None

    def lister():
        result = resource.get(namespace=namespace, label_selector=label_selector,
                              field_selector=field_selector)
        body = result.to_dict()
        items = body.get("items") or []
        kind = resource.kind
        for item in items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", body.get("apiVersion"))
        return items, (body.get("metadata") or {}).get("resourceVersion")

    def watcher(resource_version, timeout_seconds):
        from kubernetes.client.rest import ApiException  # the client is an optional import

        try:
            stream = resource.watch(namespace=namespace, label_selector=label_selector,
                                    field_selector=field_selector, resource_version=resource_version,
                                    timeout=timeout_seconds, allow_watch_bookmarks=True)
            for event in stream:
                raw = event.get("raw_object") or {}
                yield event.get("type"), raw
        except ApiException as error:
            if error.status == 410:
                raise Gone()
            raise

    return lister, watcher
