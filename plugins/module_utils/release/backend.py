# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seam between the release engine and a progressive-delivery controller.

The engine (pipeline.py) asks a backend only what follows; Flagger is the one backend
today (flagger/backend.py). Another controller (Argo Rollouts) is one new package that
implements these methods, not a fork of the engine. A unit test runs the whole pipeline
on a fake second backend to keep the seam honest.
"""

from __future__ import annotations


class Backend:
    """What the engine needs from the controller that analyses a release."""

    name = "backend"
    noun = "release object"  # what progress lines call one object: "canary", "rollout"

    # The object: read, refuse an uninitialised one, its phase and revision.
    def get(self, namespace, name):
        """The object, or ReleaseError when it is missing or not ready to analyse a release."""
        raise NotImplementedError

    def select(self, namespace, selector):
        raise NotImplementedError

    def phase(self, obj):
        raise NotImplementedError

    def revision(self, obj):
        raise NotImplementedError

    def in_flight(self, obj):
        """An analysis is running (a change now would restart or skip it)."""
        raise NotImplementedError

    def promoting(self, obj):
        """The analysis is over and the revision is being promoted: a change now gets no analysis."""
        raise NotImplementedError

    def gate_held(self, obj):
        """A release not yet taken up waits at a gate (a change now is simply the next revision)."""
        raise NotImplementedError

    def need(self, obj):
        """``(minimum, worst)`` seconds an analysis of ``obj`` takes."""
        raise NotImplementedError

    # The workload a release changes, and what the controller promoted.
    def target(self, obj):
        raise NotImplementedError

    def target_of(self, obj):
        """``(resource, namespace, name)`` of the workload."""
        raise NotImplementedError

    def serving_matches(self, obj, template):
        """Whether what serves (the promoted copy) runs ``template``; None when unknown."""
        raise NotImplementedError

    def source(self, namespace, name=None, selector=None):
        """``(lister, watcher)`` for the wait engine."""
        raise NotImplementedError

    # Before the change.
    def before_change(self, obj, approval, check_mode, result, say, warn):
        raise NotImplementedError

    def preflight(self, obj, budget, metric_window, check_mode, result, say, need_after):
        """Checks that need the object as it is right before the change; the object then."""
        raise NotImplementedError

    # Following.
    def baseline(self, obj, follow=False):
        raise NotImplementedError

    def events(self, namespace, name):
        """An event book (``refresh()``, ``events(key)``) for the judge and the report."""
        raise NotImplementedError

    def judge(self, key, obj, baseline, clock, book, follow, approval, approval_timeout, start_window=None):
        """A wait-engine predicate; its verdict data says ``outcome``, ``gate``, ``in_flight_seen``.
        ``start_window``: seconds to wait for a new revision to be taken up (None: the backend's own)."""
        raise NotImplementedError

    def confirm_window(self, obj):
        """Seconds in which the controller surely takes up a change the target already holds."""
        raise NotImplementedError

    def record(self, namespace, name, reason, message, warn):
        """Leave ``message`` where the next person looks (an Event on the object); best effort."""
        raise NotImplementedError

    def timeline(self, clock, started):
        raise NotImplementedError

    def gate(self, obj):
        """An object with ``open()`` and ``close()`` for the approval gate, or None."""
        raise NotImplementedError

    def progress_message(self, obj):
        raise NotImplementedError

    def outcome(self, key, obj, verdict, timeline, events):
        """The outcome dict: verdict, phase, revision, timeline, events, reason..."""
        raise NotImplementedError
