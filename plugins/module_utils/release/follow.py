# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following releases to their verdicts: one watch for every canary followed.

The backend's judge (a pure predicate) says where each release stands and which gate
holds it; this module acts on that: it opens a gate (``approval=auto``) and closes it once
passed, and checks that the revision the judge took up is this release's own (the
target still holds the template this release wrote) before it is believed. A gate that
could not be opened or closed is tried again at the next change, not the end of the
follow. Gates opened here are recorded in the release's cleanup, which closes them on
every way out, an interrupt included.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout, wait_for


class Followed:
    """One release being followed."""

    def __init__(self, key, obj, judge, timeline, gate=None, owned=None):
        self.key, self.obj, self.judge, self.timeline = key, obj, judge, timeline
        self.gate = gate  # opens and closes this release's approval gate (approval=auto), or None
        self.gate_open = False
        self.gate_touched = False  # an open was sent, its answer perhaps lost: closed at the end whatever it said
        # owned(): whether the revision in flight is this release's (None: any revision is).
        self.owned = owned
        self.ownership_checked = False
        self.verdict = None
        self.pending = None
        self.last_message = None
        self.problem = None  # the last thing that went wrong with its gate, for a timeout's reason


class Follower:
    """Follow ``Followed`` items through ``backend.source(...)`` within the budget."""

    def __init__(self, backend, budget, say, warn, cleanup, stats, progress=True, before_write=None):
        self.backend, self.budget, self.say, self.warn = backend, budget, say, warn
        self.cleanup, self.stats, self.progress = cleanup, stats, progress
        # Asked before a gate is opened (the release must still hold its app); raises to refuse.
        self.before_write = before_write or (lambda: None)

    def follow(self, items, source, keep=0.0):
        """Follow ``items`` to their verdicts within the budget, leaving ``keep`` seconds of it."""
        followed = {item.key: item for item in items}

        def predicate(objects):
            pending = False
            for item in followed.values():
                if item.verdict is None:
                    self._judge(item, objects)
                pending = pending or item.verdict is None
            rechecks = [item.pending.recheck_in for item in followed.values()
                        if item.verdict is None and item.pending is not None and item.pending.recheck_in is not None]
            return Verdict(done=not pending, recheck_in=min(rechecks) if rechecks else None)

        def on_change(objects, _verdict):
            for item in followed.values():
                current = objects.get(item.key)
                if current is not None:
                    item.obj = current
                    self._show(item, current)
                self._work_gate(item)

        lister, watcher = source
        timeout = self.budget.share(self.budget.left(), keep)
        try:
            if timeout <= 0:
                raise WaitTimeout("no time left", None, None)
            wait_for(lister, watcher, predicate, timeout, on_change=on_change, clock=self.budget.clock,
                     stats=self.stats)
        except WaitTimeout as error:
            for item in followed.values():
                if item.verdict is None:
                    problem = "".join("; %s" % text for text in (item.problem, error.error) if text)
                    item.verdict = Verdict(done=True, ok=False, data={"outcome": "timeout"}, message=(
                        "no verdict within wait_timeout %ds (phase %s)%s" % (
                            self.budget.timeout, self.backend.phase(item.obj) or "none", problem)))
        finally:
            for item in followed.values():
                self.close_gate(item)
        return followed

    def _judge(self, item, objects):
        verdict = item.judge(objects)
        if (item.owned is not None and not item.ownership_checked and verdict.data.get("in_flight_seen")):
            # The first revision in flight after the change: believe it only if the target holds
            # this release's template (a second writer's revision is not this release's verdict).
            item.ownership_checked = True
            if not self._owned(item):
                verdict = Verdict(done=True, ok=False, message=(
                    "the target was changed by someone else before Flagger took this release up; the revision "
                    "in flight is that change's, not this release's"), data=dict(verdict.data, outcome="superseded"))
        if verdict.done:
            item.verdict = verdict
        else:
            item.pending = verdict

    def _owned(self, item):
        try:
            return item.owned()
        except CollectionError as error:
            # Not known now: asked again at the verdict, where it is checked once more.
            self.warn("could not read the target to check that the revision in flight is this release's: %s" % error)
            item.ownership_checked = False
            return True

    def _show(self, item, obj):
        entry = item.timeline.observe(obj)
        if entry is None or not self.progress:
            return
        message = self.backend.progress_message(obj)
        note = " - %s" % message if message and message != item.last_message else ""
        item.last_message = message
        self.say("%s %s: %s weight %d%% failed checks %d iterations %d (%.1fs)%s" % (
            self.backend.noun, item.key, entry["phase"], entry["weight"], entry["failed_checks"], entry["iterations"],
            entry["seconds"], note))

    def _work_gate(self, item):
        """Open the gate the judge says holds the release; close it once passed."""
        if item.gate is None:
            return
        gate = None if item.verdict is not None or item.pending is None else item.pending.data.get("gate")
        if gate and not item.gate_open:
            self.before_write()
            if ("gate", item) not in self.cleanup:
                self.cleanup.append(("gate", item))
            # Recorded before the request: an interrupt while it is on its way still closes the gate.
            item.gate_touched = True
            try:
                item.gate.open()
            except CollectionError as error:
                item.problem = "could not open the %s gate: %s" % (gate, error)
                self.warn("%s %s: %s (tried again at the next change)" % (self.backend.noun, item.key, item.problem))
                return
            item.gate_open = True
            self.say("%s %s: %s gate opened (approval=auto)" % (self.backend.noun, item.key, gate))
        elif not gate and item.gate_open:
            self.close_gate(item)

    def close_gate(self, item, whatever_it_says=False):
        """Close the item's gate if this release opened it (``whatever_it_says``: also when the
        answer to the open never came back; closing a closed gate changes nothing)."""
        if item.gate is None or not (item.gate_open or (whatever_it_says and item.gate_touched)):
            return True
        try:
            item.gate.close()
        except CollectionError as error:
            self.warn("could not close the approval gate of %s again: %s" % (item.key, error))
            return False
        item.gate_open = item.gate_touched = False
        return True
