# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Canary's status says, and when a release has reached its verdict.

Flagger's only condition is ``Promoted``, and it is True both after initialisation and
after a successful promotion; waiting for it returns before the new revision was even
picked up. A release is followed by its revision instead: ``status.lastAppliedSpec``
(plus the checksums of tracked ConfigMaps and Secrets) is recorded before the change,
and the verdict is the first ``Succeeded`` or ``Failed`` seen *after* Flagger reports a
different revision. ``Failed`` is terminal and ends the wait at once.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.spec import strategy_of
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict

TERMINAL = ("Succeeded", "Failed")
IN_FLIGHT = ("Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising")
AWAITING_APPROVAL = ("Waiting", "WaitingPromotion")


def status_of(canary):
    return (canary or {}).get("status") or {}


def revision_of(canary):
    """The revision Flagger last took up: spec hash plus tracked config checksums."""
    status = status_of(canary)
    tracked = status.get("trackedConfigs") or {}
    return "%s|%s" % (status.get("lastAppliedSpec") or "",
                      ",".join("%s=%s" % item for item in sorted(tracked.items())))


def baseline_of(canary):
    """The revision a new release is measured against.

    When a release is already in flight (started by Flux or another job), the baseline is
    the promoted revision, so the wait follows that release instead of the next one.
    """
    status = status_of(canary)
    if status.get("phase") in IN_FLIGHT and status.get("lastPromotedSpec"):
        return "%s|" % status["lastPromotedSpec"]
    return revision_of(canary)


def progress_key(canary):
    status = status_of(canary)
    return (status.get("phase"), status.get("canaryWeight") or 0, status.get("failedChecks") or 0,
            status.get("iterations") or 0)


def summarize(canary):
    """The fields people ask about, in one flat dict."""
    status = status_of(canary)
    metadata = canary.get("metadata") or {}
    analysis = (canary.get("spec") or {}).get("analysis") or {}
    promoted = [c for c in status.get("conditions") or [] if c.get("type") == "Promoted"]
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "phase": status.get("phase") or "Pending",
        "weight": status.get("canaryWeight") or 0,
        "failed_checks": status.get("failedChecks") or 0,
        "iterations": status.get("iterations") or 0,
        "strategy": strategy_of(analysis),
        "provider": (canary.get("spec") or {}).get("provider"),
        "target": ((canary.get("spec") or {}).get("targetRef") or {}).get("name"),
        "revision": status.get("lastAppliedSpec"),
        "promoted_revision": status.get("lastPromotedSpec"),
        "tracked_configs": status.get("trackedConfigs") or {},
        "last_transition_time": status.get("lastTransitionTime"),
        "conditions": status.get("conditions") or [],
        "message": promoted[0].get("message") if promoted else None,
    }


def rollout_predicate(key, baseline, approval=None):
    """A wait-engine predicate for the release of canary ``key`` ("namespace/name").

    Done with ok=True at ``Succeeded`` and ok=False at ``Failed``, but only once that
    release was seen in flight with a revision other than ``baseline``. Both are needed:
    a Failed canary whose target changed is first re-synced by Flagger with the *new*
    revision while its phase is still ``Failed``, a moment before it turns
    ``Progressing``; that state is not the new release's verdict.
    One release has no analysis at all: after a rollback, putting the target back at
    the revision the primary runs. Flagger then records that revision as applied and
    keeps the phase ``Failed``; the version asked for is live, so that is a promotion.
    ``approval(canary)`` is asked while the canary waits at a gate; it returns a Verdict
    to end the wait (approval timed out) or None.
    """
    seen = {"in_flight": False}

    def predicate(objects):
        canary = objects.get(key)
        if canary is None:
            return Verdict(done=True, ok=False, message="canary %s was deleted" % key)
        status = status_of(canary)
        phase = status.get("phase")
        new_revision = revision_of(canary) != baseline
        if new_revision and phase in IN_FLIGHT:
            seen["in_flight"] = True
        data = {"phase": phase, "new_revision": new_revision, "in_flight_seen": seen["in_flight"]}
        if seen["in_flight"] and new_revision and phase == "Succeeded":
            return Verdict(done=True, ok=True, message="promoted", data=data)
        if seen["in_flight"] and new_revision and phase == "Failed":
            return Verdict(done=True, ok=False, message="rolled back", data=data)
        if (new_revision and not seen["in_flight"] and phase in TERMINAL
                and status.get("lastAppliedSpec") == status.get("lastPromotedSpec")):
            return Verdict(done=True, ok=True, data=data,
                           message="promoted: the target is back at the revision the primary runs")
        if new_revision and phase in AWAITING_APPROVAL and approval is not None:
            verdict = approval(canary)
            if verdict is not None:
                return verdict
        return Verdict(done=False, message=phase or "Pending", data=data)

    return predicate


class Timeline:
    """Each change of phase, weight, failed checks or iterations, with its time."""

    def __init__(self, clock, started):
        self.clock = clock
        self.started = started
        self.entries = []
        self._last = None

    def observe(self, canary):
        """Record the canary's progress if it moved; return the new entry or None."""
        key = progress_key(canary)
        if key == self._last:
            return None
        self._last = key
        phase, weight, failed, iterations = key
        entry = {"seconds": round(self.clock() - self.started, 3), "phase": phase, "weight": weight,
                 "failed_checks": failed, "iterations": iterations}
        self.entries.append(entry)
        return entry

    def weights(self):
        return progressing_weights(self.entries)


def progressing_weights(entries):
    """The traffic weights a timeline went through while progressing."""
    return [entry["weight"] for entry in entries if entry["phase"] == "Progressing"]


def failure_reason(events):
    """Flagger's own words for why a release failed, from the canary's events (oldest first).

    Only the events of the latest release count (from its "New revision detected"); of
    those, Flagger's warnings: halted advancement with the failing check, the rollback.
    """
    start = 0
    for index, event in enumerate(events):
        if "New revision detected" in (event.get("message") or ""):
            start = index
    release = events[start:]
    warnings = [event.get("message") or "" for event in release if event.get("type") == "Warning"]
    chosen = warnings[-3:] if warnings else [event.get("message") or "" for event in release[-3:]]
    return " / ".join(dict.fromkeys(chosen)) or "no events from Flagger"
