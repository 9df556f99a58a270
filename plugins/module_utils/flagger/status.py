# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Canary's status says, and when a release has reached its verdict.

Flagger's only condition is ``Promoted``, and it is True both after initialisation and
after a successful promotion; waiting for it returns before the new revision was even
picked up. A release is followed by its revision instead: ``status.lastAppliedSpec``
(plus the checksums of tracked ConfigMaps and Secrets) is recorded before the change
(:class:`Baseline`), and :class:`ReleaseJudge` gives the verdict on the first revision
after it. Facts from Flagger's scheduler (v1.41) the judge stands on:

- ``Succeeded`` is set without touching ``lastAppliedSpec``, which only changes when an
  analysis starts (``SyncStatus``): a new revision that is ``Succeeded`` went through
  an analysis and was promoted.
- A ``Failed`` canary is re-synced to the new revision while still ``Failed`` a moment
  before it turns ``Progressing`` (``shouldAdvance``): that state is not the verdict,
  unless the release was seen in flight, or the canary was not ``Failed`` before, or
  Flagger's events show a rollback since the release started.
- Putting the target back at the primary's revision after a rollback is not analysed
  (``hasSpecChanged``: "do not trigger a canary deployment on manual rollback") unless
  a tracked config changed too: that is a promotion with nothing to analyse.
- ``Waiting`` is the confirm-rollout gate of the revision not yet taken up;
  ``WaitingPromotion`` the confirm-promotion gate; a held confirm-traffic-increase gate
  changes nothing in the status.
- A change during ``Progressing`` or ``WaitingPromotion`` restarts the analysis with
  the new revision; during ``Promoting`` or ``Finalising`` it would be copied to the
  primary with no analysis of its own (see release/pipeline.py for what is done about it).

The judge is a pure function of the objects and the clock; what it needs from outside
(Flagger's events, to tell a missed failure from a re-sync and a silent Flagger from a
busy one) comes from an injected :class:`FlaggerEvidence`. It never acts: it reports
which gate holds the release in ``data["gate"]`` and the caller opens or closes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import analysis_interval, strategy_of
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict

TERMINAL = ("Succeeded", "Failed")
IN_FLIGHT = ("Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising")
# Phases in which a change to the target would not get an analysis of its own.
PROMOTING = ("Promoting", "Finalising")
# Phases in which Flagger acts on a rollback request (scheduler.go advanceCanary).
ROLLBACK_PHASES = ("Progressing", "WaitingPromotion")
UNINITIALISED = (None, "", "Initializing")
GATE_TYPES = ("confirm-rollout", "confirm-traffic-increase", "confirm-promotion")
# Events the collection itself records on a canary (release/pipeline.py), not Flagger's words.
OWN_REASONS = ("ReleaseInterrupted",)

_ROLLBACK_EVENT = re.compile(r"^(Canary failed!|Rolling back )")
_METRICS_DOWN = re.compile(r"Prometheus query failed|Error building Prometheus client|metric providers|"
                           r"not avaiable|not available|Metric template .* error", re.IGNORECASE)


def status_of(canary):
    return (canary or {}).get("status") or {}


def phase_of(canary):
    return status_of(canary).get("phase")


def revision_of(canary):
    """The revision Flagger last took up: spec hash plus tracked config checksums."""
    status = status_of(canary)
    tracked = status.get("trackedConfigs") or {}
    return "%s|%s" % (status.get("lastAppliedSpec") or "",
                      ",".join("%s=%s" % item for item in sorted(tracked.items())))


@dataclass(frozen=True)
class Baseline:
    """The canary as it was before the release: what a verdict must differ from."""

    revision: str
    phase: str | None
    configs: tuple = ()

    @classmethod
    def of(cls, canary, follow=False):
        """Before a change; ``follow``: for a release already in flight, measure from the promoted revision."""
        status = status_of(canary)
        configs = tuple(sorted((status.get("trackedConfigs") or {}).items()))
        if follow and status.get("phase") in IN_FLIGHT and status.get("lastPromotedSpec"):
            return cls("%s|" % status["lastPromotedSpec"], "Succeeded", configs)
        return cls(revision_of(canary), status.get("phase"), configs)


def windows_for(canary):
    """``(start, stall)`` seconds: how long Flagger may take to take up a revision, and to move.

    Flagger looks at a canary once per analysis interval; two intervals (and some slack for
    its control loop) is ample to take a change up, three to take the next step.
    """
    interval = analysis_interval(canary)
    return 2 * interval + 30, 3 * interval + 30


def _webhooks(canary, types):
    hooks = (((canary or {}).get("spec") or {}).get("analysis") or {}).get("webhooks") or []
    return [hook for hook in hooks if hook.get("type") in types]


def gate_webhooks(canary):
    """The canary's webhooks that hold a release at a gate."""
    return _webhooks(canary, GATE_TYPES)


def rollback_webhooks(canary):
    return _webhooks(canary, ("rollback",))


def holds_traffic_increase(canary):
    """The canary holds each traffic increase at a gate (nothing in its status shows it held)."""
    return bool(_webhooks(canary, ("confirm-traffic-increase",)))


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


def primary_runs_target(canary):
    """True when the primary runs what the target holds (nothing left to release)."""
    status = status_of(canary)
    return bool(status.get("lastAppliedSpec")) and status.get("lastAppliedSpec") == status.get("lastPromotedSpec")


class EventBook:
    """Flagger's events on the canaries of one namespace (or all), read with one request.

    Following many canaries costs one list for all their events, not one each.
    """

    def __init__(self, read_events):
        # read_events() returns the events of every canary involved (dicts with a "canary" key).
        self.read_events = read_events
        self.by_canary = {}
        self.refresh()

    def refresh(self):
        grouped = {}
        for event in self.read_events():
            grouped.setdefault(event.get("canary"), []).append(event)
        self.by_canary = grouped
        return self

    def events(self, key):
        return self.by_canary.get(key, [])


class FlaggerEvidence:
    """What Flagger said about one canary since a release started, from its events.

    Events are compared by uid and count, never by timestamp, so the clocks of the
    controller and the API server need not agree.
    """

    def __init__(self, book, key):
        self.book, self.key = book, key
        self.start = self._marks(book.events(key))
        self.last = dict(self.start)

    @staticmethod
    def _marks(events):
        return {event.get("uid") or event.get("message"): event.get("count") or 1 for event in events
                if event.get("reason") not in OWN_REASONS}

    def _news(self, events, marks):
        # The collection's own records on the canary are not Flagger speaking.
        return [event for event in events if event.get("reason") not in OWN_REASONS
                and (event.get("count") or 1) > marks.get(event.get("uid") or event.get("message"), 0)]

    def rolled_back(self):
        """Flagger has rolled this canary back since the release started."""
        events = self.book.refresh().events(self.key)
        return any(_ROLLBACK_EVENT.match(event.get("message") or "") for event in self._news(events, self.start))

    def spoke(self):
        """Flagger recorded something on this canary since the last time this was asked."""
        events = self.book.refresh().events(self.key)
        news = self._news(events, self.last)
        self.last = self._marks(events)
        return bool(news)


class NoEvidence:
    """For a judge without access to events: assume nothing."""

    def rolled_back(self):
        return False

    def spoke(self):
        return False


@dataclass
class JudgeSettings:
    approval: str = "manual"
    approval_timeout: float = 1800
    start_window: float = 60
    stall_window: float = 90
    # The canary holds traffic increases at a gate: no stall detection while progressing.
    traffic_gate: bool = False
    follow: bool = False
    evidence: object = field(default_factory=NoEvidence)


class ReleaseJudge:
    """A wait-engine predicate for the release of canary ``key`` ("namespace/name").

    Outcomes in ``verdict.data["outcome"]``: ``promoted``, ``failed``, ``superseded``
    (another revision replaced this one before its verdict), ``not_approved``,
    ``not_started`` (Flagger took up no new revision within the start window),
    ``stalled`` (Flagger stopped moving the release), ``deleted``.
    """

    def __init__(self, key, baseline, clock, settings=None):
        self.key, self.baseline, self.clock = key, baseline, clock
        self.settings = settings or JudgeSettings()
        self.started = clock()
        self.revision = None  # the new revision, once seen in flight
        self.last_move, self.last_move_at = None, self.started
        self.gate, self.gate_since = None, None

    def __call__(self, objects):
        canary = objects.get(self.key)
        if canary is None:
            return self._end(False, "deleted", "canary %s was deleted" % self.key, {})
        now = self.clock()
        status = status_of(canary)
        phase = status.get("phase")
        revision = revision_of(canary)
        new = revision != self.baseline.revision
        move = progress_key(canary) + (revision,)
        if move != self.last_move:
            self.last_move, self.last_move_at = move, now
        if new and phase in IN_FLIGHT and phase != "Waiting" and self.revision is None:
            self.revision = revision
        data = {"phase": phase, "new_revision": new, "in_flight_seen": self.revision is not None, "gate": None}
        if self.revision is not None and new and revision != self.revision:
            return self._end(False, "superseded", "revision %s was replaced by %s before its verdict" % (
                _short(self.revision), _short(revision)), data)
        verdict = self._verdict(canary, phase, new, data)
        if verdict is not None:
            return verdict
        gate = self._gate(phase, new)
        data["gate"] = gate
        if gate != self.gate:
            self.gate, self.gate_since = gate, now
        if gate is not None:
            return self._at_gate(phase, gate, now, data)
        return self._moving(phase, new, now, data)

    def _verdict(self, canary, phase, new, data):
        if not new:
            return None
        if phase == "Succeeded":
            return self._end(True, "promoted", "promoted", data)
        if phase != "Failed":
            return None
        if self.revision is not None or self.baseline.phase != "Failed":
            return self._end(False, "failed", "rolled back", data)
        configs = tuple(sorted((status_of(canary).get("trackedConfigs") or {}).items()))
        if primary_runs_target(canary) and configs == self.baseline.configs:
            return self._end(True, "promoted", "promoted: the target is back at the revision the primary runs", data)
        if self.settings.evidence.rolled_back():
            # The analysis ran between two looks (a relist, a late start) and failed.
            return self._end(False, "failed", "rolled back", data)
        return None  # Flagger's re-sync of a Failed canary; the analysis starts at its next step

    def _gate(self, phase, new):
        if phase == "Waiting":
            return "confirm-rollout"
        if phase == "WaitingPromotion" and new:
            return "confirm-promotion"
        if (phase == "Progressing" and new and self.settings.traffic_gate
                and self.settings.approval == "auto"):
            return "confirm-traffic-increase"
        return None

    def _at_gate(self, phase, gate, now, data):
        if self.settings.approval == "auto":
            return Verdict(done=False, message="%s: approving %s" % (phase, gate), data=data)
        waited = now - self.gate_since
        timeout = self.settings.approval_timeout
        if waited >= timeout:
            return self._end(False, "not_approved", "not approved within %ds at the %s gate (%s)" % (
                timeout, gate, phase), data)
        return Verdict(done=False, message="%s: waiting for approval at the %s gate" % (phase, gate), data=data,
                       recheck_in=timeout - waited)

    def _moving(self, phase, new, now, data):
        """No gate holds the release: Flagger must take it up, then keep moving it."""
        taken_up = new and phase in IN_FLIGHT
        if phase == "Progressing" and self.settings.traffic_gate:
            return Verdict(done=False, message=phase, data=data)
        window = self.settings.stall_window if taken_up else self.settings.start_window
        quiet = now - self.last_move_at
        if quiet >= window and self.settings.evidence.spoke():
            # Flagger is busy without changing the status (pods not ready yet, a webhook retried).
            self.last_move_at, quiet = now, 0.0
        if quiet < window:
            return Verdict(done=False, message=phase or "Pending", data=data, recheck_in=window - quiet)
        if taken_up:
            return self._end(False, "stalled", "Flagger has not moved the release for %ds (phase %s): "
                             "is Flagger running?" % (window, phase), data)
        if self.settings.follow:
            return self._end(False, "not_started", "nothing to follow: Flagger took up no new revision "
                             "within %ds (phase %s)" % (window, phase), data)
        return self._end(False, "not_started", "Flagger has not taken up the new revision within %ds "
                         "(phase %s): is Flagger running?" % (window, phase), data)

    @staticmethod
    def _end(ok, outcome, message, data):
        return Verdict(done=True, ok=ok, message=message, data=dict(data, outcome=outcome))


def _short(revision):
    return revision.split("|")[0] or revision


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


def release_events(events):
    """Flagger's events of the latest release (from its "New revision detected"), oldest first."""
    events = [event for event in events if event.get("reason") not in OWN_REASONS]
    start = 0
    for index, event in enumerate(events):
        if "New revision detected" in (event.get("message") or ""):
            start = index
    return events[start:]


def failure_reason(events):
    """Flagger's own words for why a release failed: its warnings about the latest release."""
    release = release_events(events)
    warnings = [event.get("message") or "" for event in release if event.get("type") == "Warning"]
    chosen = warnings[-3:] if warnings else [event.get("message") or "" for event in release[-3:]]
    return " / ".join(dict.fromkeys(chosen)) or "no events from Flagger"


def metrics_unavailable(events):
    """Flagger's words when its metrics server did not answer during the latest release, or None.

    Flagger counts a failed query as a failed check, exactly like a failing app; this tells
    the two apart so nobody blames the release for a Prometheus outage.
    """
    for event in reversed(release_events(events)):
        if event.get("type") == "Warning" and _METRICS_DOWN.search(event.get("message") or ""):
            return event["message"]
    return None
