# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wait engine: list, then watch from that resourceVersion, until a predicate holds.

Every wait in the collection goes through :func:`wait_for`. It keeps a local copy of
the watched objects (keyed by namespace/name), applies each watch event to it, and
asks ``predicate(objects)`` after every change. The predicate returns a :class:`Verdict`
(or None to keep waiting); a verdict with ``done=True`` ends the wait at once, whether
it reports success or a terminal failure.

The promises, each unit-tested:

- ``timeout`` is a hard limit. Every request is bounded by the time left, including a
  connection that stays open and silent (the transport's read timeout is the watch
  window), so a dead or half-open connection ends the wait on time.
- A watch the server ends is resumed from the last resourceVersion; ``410 Gone`` (that
  version was compacted away) starts over with a fresh list.
- A dropped connection, a refused one (the API server restarting) or an error the
  server reports (a 5xx, an ``ERROR`` event other than 410) is retried with a backoff
  (0.25 s doubling to 5 s) and a fresh list, never spun on; a refusal that retrying
  cannot cure (401, 403, 404) ends the wait with that error.
- A predicate that needs the clock (an approval timer, a controller that stopped
  reacting) says when to ask it again with ``Verdict.recheck_in``; the watch window is
  cut to that, so the question is asked on time even when no event arrives.

Transport stays outside: ``lister(timeout)`` returns ``(items, resource_version)`` and
``watcher(resource_version, timeout)`` yields ``(event_type, object)``; both raise
:class:`~ansible_collections.gitops.progressive.plugins.module_utils.kube.api.ApiError`.
``Kube.source`` (kube/api.py) builds both; unit tests pass plain functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError

# Longest single watch request; a longer wait resumes (one cheap request per window).
WATCH_WINDOW = 300
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
FATAL_STATUSES = (400, 401, 403, 404, 422)


@dataclass
class Verdict:
    done: bool
    ok: bool = True
    message: str = ""
    data: dict = field(default_factory=dict)
    # Ask the predicate again after this many seconds even if nothing changes.
    recheck_in: float | None = None


class WaitTimeout(CollectionError):
    """The wait ran out of time; ``last`` is the last verdict, ``error`` the last transport problem."""

    def __init__(self, message, last=None, error=None):
        super().__init__(message)
        self.last = last
        self.error = error


class Gone(Exception):
    """The resourceVersion a watch resumed from is too old (HTTP 410)."""


class _Retry(Exception):
    """A failure worth a fresh list after a backoff."""


def object_key(obj):
    metadata = obj.get("metadata") or {}
    return "%s/%s" % (metadata.get("namespace") or "", metadata.get("name"))


@dataclass
class WaitStats:
    lists: int = 0
    watches: int = 0
    events: int = 0
    retries: int = 0
    errors: list = field(default_factory=list)


def wait_for(lister, watcher, predicate, timeout, on_change=None, clock=time.monotonic, stats=None,
             sleep=time.sleep):
    """Wait until ``predicate(objects)`` returns a verdict with ``done``.

    ``objects`` is a dict ``{"namespace/name": object}``. ``on_change(objects, verdict)``
    is called after each judgement (for live progress, and for the caller to act on what
    the verdict says). Returns the final Verdict; raises WaitTimeout (carrying the last
    verdict and the last transport error) when ``timeout`` seconds pass first.
    """
    if timeout is None or timeout <= 0:
        raise ValueError("a wait needs a positive timeout, got %r" % (timeout,))
    stats = stats if stats is not None else WaitStats()
    deadline = clock() + timeout
    state = _State()

    def remaining():
        return deadline - clock()

    while True:
        if remaining() <= 0:
            raise _timeout(timeout, state)
        try:
            if state.need_list:
                stats.lists += 1
                items, state.resource_version = lister(_bounded(remaining()))
                state.objects = {object_key(item): item for item in items}
                state.need_list = False
                if _judge(predicate, state, on_change, clock):
                    return state.verdict
            if remaining() <= 0:
                raise _timeout(timeout, state)
            stats.watches += 1
            window = _bounded(min(remaining(), WATCH_WINDOW, state.recheck_window(clock)))
            for event_type, obj in watcher(state.resource_version, window):
                stats.events += 1
                changed = _apply(event_type, obj, state)
                state.backoff = BACKOFF_FIRST  # the connection works again
                if changed:
                    if _judge(predicate, state, on_change, clock):
                        return state.verdict
                if remaining() <= 0 or state.recheck_due(clock):
                    break
            # The window ended (or a recheck is due): ask again before resuming.
            if _judge(predicate, state, on_change, clock):
                return state.verdict
        except Gone:
            state.need_list = True
        except _Retry as retry:
            _back_off(state, stats, str(retry), remaining, sleep)
        except ApiError as error:
            if error.status in FATAL_STATUSES:
                raise
            _back_off(state, stats, str(error), remaining, sleep)


class _State:
    def __init__(self):
        self.objects = {}
        self.resource_version = None
        self.need_list = True
        self.verdict = None
        self.backoff = BACKOFF_FIRST
        self.last_error = None
        self.recheck_at = None

    def recheck_window(self, clock):
        if self.recheck_at is None:
            return WATCH_WINDOW
        return max(1.0, self.recheck_at - clock())

    def recheck_due(self, clock):
        return self.recheck_at is not None and clock() >= self.recheck_at


def _bounded(seconds):
    """A request timeout in whole seconds, at least 1."""
    return max(1, int(seconds + 0.999))


def _apply(event_type, obj, state):
    """Apply one watch event to the local copy; True when the objects changed."""
    new_version = (obj.get("metadata") or {}).get("resourceVersion")
    if event_type == "BOOKMARK":
        state.resource_version = new_version or state.resource_version
        return False
    if event_type == "ERROR":
        if obj.get("code") == 410:
            raise Gone()
        raise _Retry("the API server ended the watch with an error: %s %s" % (
            obj.get("code"), obj.get("message") or obj.get("reason") or ""))
    state.resource_version = new_version or state.resource_version
    if event_type == "DELETED":
        state.objects.pop(object_key(obj), None)
    else:
        state.objects[object_key(obj)] = obj
    return True


def _back_off(state, stats, message, remaining, sleep):
    """Wait before a fresh list, never past the deadline."""
    stats.retries += 1
    stats.errors = (stats.errors + [message])[-5:]
    state.last_error = message
    state.need_list = True
    pause = min(state.backoff, max(0.0, remaining()))
    state.backoff = min(state.backoff * 2, BACKOFF_MAX)
    if pause > 0:
        sleep(pause)


def _timeout(timeout, state):
    message = "timed out after %ss" % timeout
    if state.last_error:
        message += " (last problem: %s)" % state.last_error
    return WaitTimeout(message, state.verdict, state.last_error)


def _judge(predicate, state, on_change, clock):
    """Ask the predicate; True when it says the wait is over."""
    verdict = predicate(state.objects)
    state.verdict = verdict
    state.recheck_at = None
    if verdict is not None and verdict.recheck_in is not None:
        state.recheck_at = clock() + max(0.0, verdict.recheck_in)
    if on_change is not None:
        on_change(state.objects, verdict)
    return verdict is not None and verdict.done
