# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger as the release engine's backend (module_utils/release/backend.py says what one is).

What only Flagger knows: its Canary (initialised or not, its phase and revision), the
judge of its status (status.py), its gates and rollback requests at the load tester
(gates.py), the time its analysis needs and the metric window of a failed one
(preflight.py), the primary Deployment it promotes to, and its events for the report.
"""

from __future__ import annotations

import math

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries, preflight
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import (
    GateError,
    approval_tester,
    redact,
    rollback_tester,
)
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import analysis_interval, analysis_need
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import (
    IN_FLIGHT,
    PROMOTING,
    UNINITIALISED,
    Baseline,
    EventBook,
    FlaggerEvidence,
    JudgeSettings,
    ReleaseJudge,
    Timeline,
    failure_reason,
    gate_webhooks,
    holds_traffic_increase,
    metrics_unavailable,
    phase_of,
    progressing_weights,
    revision_of,
    summarize,
    windows_for,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import CANARY, EVENT, METRIC_TEMPLATE
from ansible_collections.gitops.progressive.plugins.module_utils.release.backend import Backend
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import micro_time

# Seconds on top of an analysis interval for Flagger's control loop to look at a canary.
CONFIRM_SLACK = 15
# Pod template annotations Flagger writes on the primary itself (not part of any release).
_FLAGGER_ANNOTATIONS = ("flagger-id",)


def serving_fingerprint(template):
    """What a pod template runs, in terms that survive Flagger's copy to the primary: each
    container's image, command, args and env (config references without Flagger's
    ``-primary`` suffix), and the pod's own annotations."""
    spec = template.get("spec") or {}

    def env_of(container):
        entries = []
        for item in container.get("env") or []:
            source = item.get("valueFrom") or {}
            for key in ("configMapKeyRef", "secretKeyRef"):
                if source.get(key, {}).get("name", "").endswith("-primary"):
                    source = dict(source, **{key: dict(source[key], name=source[key]["name"][:-len("-primary")])})
            entries.append((item.get("name"), item.get("value"), repr(sorted(source.items())) if source else None))
        return tuple(entries)

    containers = tuple((c.get("name"), c.get("image"), tuple(c.get("command") or ()), tuple(c.get("args") or ()),
                        env_of(c)) for c in (spec.get("initContainers") or []) + (spec.get("containers") or []))
    annotations = tuple(sorted((key, value) for key, value in ((template.get("metadata") or {}).get(
        "annotations") or {}).items() if key not in _FLAGGER_ANNOTATIONS))
    return containers, annotations


class _Gate:
    def __init__(self, tester, name, namespace):
        self.tester, self.name, self.namespace = tester, name, namespace

    def open(self):
        self.tester.open_gate(self.name, self.namespace)

    def close(self):
        self.tester.close_gate(self.name, self.namespace)


class FlaggerBackend(Backend):
    name = "flagger"
    noun = "canary"

    def __init__(self, kube, opener=None, loadtester_url=None, prometheus_url=None, mesh_provider="istio"):
        self.kube, self.loadtester_url = kube, loadtester_url
        self.prometheus_url, self.mesh_provider = prometheus_url, mesh_provider or "istio"
        self._opener = {"opener": opener} if opener else {}

    # --- the object ------------------------------------------------------------------
    def get(self, namespace, name):
        canary = canaries.get_canary(self.kube, namespace, name)
        if canary is None:
            raise ReleaseError("canary %s/%s not found" % (namespace, name))
        self._initialised(canary)
        return canary

    def select(self, namespace, selector):
        found = canaries.list_canaries(self.kube, namespace, selector)
        for canary in found:
            self._initialised(canary)
        return found

    @staticmethod
    def _initialised(canary):
        if phase_of(canary) in UNINITIALISED:
            metadata = canary["metadata"]
            raise ReleaseError(
                "canary %s/%s is not initialised by Flagger (phase %s): a release now would roll the new "
                "version out with no analysis. Is Flagger running? Wait for Initialized first "
                "(gitops.progressive.canary with wait: true)" % (
                    metadata["namespace"], metadata["name"], phase_of(canary) or "none"), phase=phase_of(canary))

    def phase(self, obj):
        return phase_of(obj)

    def revision(self, obj):
        return revision_of(obj).split("|")[0]

    def in_flight(self, obj):
        return phase_of(obj) in IN_FLIGHT

    def promoting(self, obj):
        return phase_of(obj) in PROMOTING

    def gate_held(self, obj):
        return phase_of(obj) == "Waiting"

    def need(self, obj):
        return analysis_need(obj)

    def target(self, obj):
        return canaries.get_target(self.kube, obj)

    def target_of(self, obj):
        return canaries.target_of(obj)

    def serving_matches(self, obj, template):
        """Whether the primary (what Flagger promoted) runs ``template``; None when there is no primary."""
        resource, namespace, name = canaries.target_of(obj)
        primary = self.kube.get(resource, namespace, "%s-primary" % name)
        if primary is None:
            return None
        return serving_fingerprint(canaries.pod_template(primary)) == serving_fingerprint(template)

    def source(self, namespace, name=None, selector=None):
        return self.kube.source(CANARY, namespace, name, selector)

    # --- before the change ----------------------------------------------------------
    def before_change(self, obj, approval, check_mode, result, say, warn):
        """Refuse an open rollback request; close an approval gate an earlier release left open."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        rollback = rollback_tester(obj, self.loadtester_url, **self._opener)
        try:
            requested = rollback is not None and rollback.rollback_requested(name, namespace)
        except GateError as error:
            requested = False
            warn("could not check for an open rollback request (one would roll this release back): %s" % error)
        if requested:
            raise ReleaseError("canary %s/%s: a rollback request is open at the load tester %s; it would roll this "
                               "release back at once. Clear it first (gitops.progressive.canary_gate "
                               "action=reset)" % (namespace, name, redact(rollback.url)))
        tester = approval_tester(obj, self.loadtester_url, **self._opener)
        if tester is not None and approval != "auto" and not check_mode:
            try:
                if tester.gate_is_open(name, namespace):
                    tester.close_gate(name, namespace)
                    result["closed_gate"] = True
                    say("canary %s/%s: closed an approval gate an earlier release left open" % (namespace, name))
            except GateError as error:
                warn("could not check the approval gate (a gate left open would approve this release): %s" % error)

    def preflight(self, obj, budget, metric_window, check_mode, result, say, need_after):
        """The metric window of a failed analysis, then the metrics' data; the canary then.

        The window is measured on the API server's clock (its lastTransitionTime is the
        server's); the sleep comes out of the budget and never leaves less than
        ``need_after`` seconds for the release itself.
        """
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        left = preflight.metric_window_left(obj, self.kube.server_now())
        if left > 0:
            window = preflight.longest_metric_interval(obj)
            if metric_window == "fail":
                raise ReleaseError(
                    "canary %s/%s: its last analysis failed %d s ago and its metric window (%d s) still holds "
                    "that run's traffic; this release would be judged on it. Try again in %d s (or "
                    "metric_window=wait)" % (namespace, name, window - left, window, math.ceil(left)))
            if not check_mode:
                budget.require(left + need_after, "canary %s/%s: waiting %d s for the metric window" % (
                    namespace, name, math.ceil(left)))
                say("canary %s/%s: waiting %d s for the failed analysis's traffic to leave the metric window "
                    "(%d s) so that this release is judged on its own" % (namespace, name, math.ceil(left), window))
                result["metric_window_waited"] = round(budget.sleep(left, keep=need_after), 1)
                obj = self.get(namespace, name)
        if self.prometheus_url:
            result["metrics_checked"] = preflight.MetricProbe(self.prometheus_url, **self._opener).check(
                obj, self.mesh_provider, self._templates(obj))
        return obj

    def _templates(self, obj):
        """The MetricTemplates ``obj``'s metrics reference, by (namespace, name); None for one not found."""
        templates = {}
        for metric in ((obj.get("spec") or {}).get("analysis") or {}).get("metrics") or []:
            ref = metric.get("templateRef")
            if ref:
                ref_key = (ref.get("namespace") or obj["metadata"]["namespace"], ref["name"])
                templates[ref_key] = self.kube.get(METRIC_TEMPLATE, *ref_key)
        return templates

    def metric_series(self, obj, start, end, warn):
        """``{metric: [(unix seconds, value)]}`` of ``obj``'s metrics that have a query here (a
        MetricTemplate's or their own), as Flagger asks them of the canary's workload, from
        ``start`` to ``end``; {} without ``prometheus_url``. A query that fails is told by ``warn``."""
        if not self.prometheus_url:
            return {}
        probe = preflight.MetricProbe(self.prometheus_url, **self._opener)
        step = max(2.0, (end - start) / 300.0)
        found = {}
        for metric, query, url in preflight.metric_queries(obj, self.mesh_provider, self._templates(obj),
                                                           builtin=False):
            try:
                found[metric["name"]] = probe.query_range(query, start, end, step, url)
            except preflight.PreflightError as error:
                warn("the report has no series for metric %s: %s" % (metric.get("name"), error))
        return found

    # --- following --------------------------------------------------------------------
    def baseline(self, obj, follow=False):
        return Baseline.of(obj, follow=follow)

    def events(self, namespace, name):
        return EventBook(lambda: canaries.canary_events(self.kube, namespace, name, 0))

    def confirm_window(self, obj):
        """Seconds in which Flagger takes up a changed target for sure: its next look at the
        canary (one analysis interval) and the slack of its control loop."""
        return analysis_interval(obj) + CONFIRM_SLACK

    def record(self, namespace, name, reason, message, warn):
        """A Kubernetes Event on the canary, for whoever looks next (``kubectl describe``,
        canary_info): what a release that could not report to its console left behind."""
        canary = canaries.get_canary(self.kube, namespace, name) or {"metadata": {}}
        now = micro_time(self.kube.server_now())
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": "%s." % name, "namespace": namespace},
                 "involvedObject": {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": name,
                                    "namespace": namespace, "uid": canary["metadata"].get("uid")},
                 "reason": reason, "message": message[:1000], "type": "Warning", "count": 1,
                 "firstTimestamp": now[:19] + "Z", "lastTimestamp": now[:19] + "Z",
                 "source": {"component": "gitops.progressive"}}
        try:
            self.kube.create(EVENT, event, timeout=(5, 10))
        except CollectionError as error:
            warn("could not record %s on canary %s/%s: %s" % (reason, namespace, name, error))

    def judge(self, key, obj, baseline, clock, book, follow, approval, approval_timeout, start_window=None):
        start, stall = windows_for(obj)
        start = start_window or start
        settings = JudgeSettings(approval=approval, approval_timeout=approval_timeout, start_window=start,
                                 stall_window=stall, traffic_gate=holds_traffic_increase(obj), follow=follow,
                                 evidence=FlaggerEvidence(book, key))
        return ReleaseJudge(key, baseline, clock, settings)

    def timeline(self, clock, started):
        return Timeline(clock, started)

    def gate(self, obj):
        """The approval gate of ``obj`` at its load tester, or None when it has no gate webhooks."""
        if not gate_webhooks(obj):
            return None
        tester = approval_tester(obj, self.loadtester_url, **self._opener)
        return _Gate(tester, obj["metadata"]["name"], obj["metadata"]["namespace"]) if tester else None

    def progress_message(self, obj):
        return summarize(obj)["message"]

    def outcome(self, key, obj, verdict, timeline, events):
        summary = summarize(obj)
        verdict_name = verdict.data.get("outcome") or ("promoted" if verdict.ok else "failed")
        outcome = dict(verdict=verdict_name, phase=summary["phase"], revision=summary["revision"],
                       promoted_revision=summary["promoted_revision"], strategy=summary["strategy"],
                       timeline=timeline, weights=progressing_weights(timeline), events=events,
                       message=verdict.message)
        if verdict_name == "failed":
            outcome["reason"] = failure_reason(events)
            down = metrics_unavailable(events)
            if down:
                outcome["cause"] = "metrics_unavailable"
                outcome["reason"] = ("the metrics server did not answer during the analysis, so Flagger "
                                     "counted failed checks (not the release's fault): %s" % down)
        elif verdict_name != "promoted":
            last = events[-1]["message"] if events else "no events from Flagger"
            outcome["reason"] = "%s; last state: phase %s weight %d, Flagger's last event: %s" % (
                verdict.message, summary["phase"], summary["weight"], last)
        return outcome
