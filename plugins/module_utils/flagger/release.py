# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release workflow behind canary_rollout: check, change the target, follow, report.

The order is what makes a verdict trustworthy:

1. Everything that can be known up front is checked before anything is written
   (:func:`check_request`): options, the canary (it exists, Flagger has initialised it:
   patching the target of an uninitialised canary rolls the version out with no
   analysis), the target and its containers, an open rollback request (it would roll
   this release back at its first step), an approval gate left open by an earlier
   release (it would approve this one without anybody asking; closed, and said so).
2. A release already in flight is waited for before this one starts when it is
   ``Promoting`` or ``Finalising`` (a change then would be copied to the primary with
   no analysis), and, with ``in_flight=wait`` (the default), in every in-flight phase,
   so that each release gets its own analysis and its own verdict; ``supersede``
   restarts Flagger's analysis with this revision instead, ``fail`` refuses.
3. The baseline revision is recorded, the target patched (``changed`` from here on,
   whatever happens next), and :class:`~.status.ReleaseJudge` follows the new revision.
   Gates are opened (``approval=auto``) and closed by this workflow, never by the judge.
4. At the verdict, the target must still hold this release's pod template; if someone
   changed it meanwhile, the verdict is another release's and is reported ``superseded``.

Nothing here talks to Ansible: progress goes to a ``say`` callback, the result is a dict.
"""

from __future__ import annotations

import math
import time

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries, preflight
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import (
    GateError,
    approval_tester,
    redact,
    rollback_tester,
    valid_url,
)
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
    primary_runs_target,
    progressing_weights,
    revision_of,
    summarize,
    windows_for,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import CANARY, METRIC_TEMPLATE
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import (
    Verdict,
    WaitStats,
    WaitTimeout,
    wait_for,
)

IN_FLIGHT_CHOICES = ("wait", "supersede", "fail")


class ReleaseError(CollectionError):
    """The release cannot start, or could not be followed."""


def normalise_env(env):
    """Environment values as Kubernetes wants them (strings); errors for the ambiguous ones."""
    values, errors = {}, []
    for key, value in (env or {}).items():
        if value is None or isinstance(value, bool):
            errors.append("env.%s must be a string (quote it: %r is ambiguous in YAML), got %r" % (
                key, value, value))
        elif isinstance(value, (int, float, str)):
            values[key] = str(value)
        else:
            errors.append("env.%s must be a string, got a %s" % (key, type(value).__name__))
    return values, errors


def check_request(args):
    """Every problem with the task's options that is known before any request."""
    errors = []
    if args.get("label_selector"):
        if args.get("name"):
            errors.append("name and label_selector are exclusive: follow one canary or those a label selects")
        if args.get("images") or args.get("env") or args.get("annotations"):
            errors.append("label_selector follows releases in flight: it takes no images, env or annotations")
    elif not args.get("name") or not args.get("namespace"):
        errors.append("name and namespace are required (or label_selector to follow many canaries)")
    for key, image in (args.get("images") or {}).items():
        if not isinstance(image, str) or not image.strip():
            errors.append("images.%s must be a non-empty image reference, got %r" % (key, image))
    errors += normalise_env(args.get("env"))[1]
    for key, value in (args.get("annotations") or {}).items():
        if not isinstance(value, str):
            errors.append("annotations.%s must be a string, got %r" % (key, value))
    if args.get("wait_timeout") is not None and args["wait_timeout"] <= 0:
        errors.append("wait_timeout must be a positive number of seconds, got %r" % args["wait_timeout"])
    if args.get("approval_timeout") is not None and args["approval_timeout"] <= 0:
        errors.append("approval_timeout must be a positive number of seconds, got %r" % args["approval_timeout"])
    if args.get("loadtester_url") and not valid_url(args["loadtester_url"]):
        errors.append("loadtester_url must be an http(s) URL, got %r" % redact(args["loadtester_url"]))
    if args.get("in_flight", "wait") not in IN_FLIGHT_CHOICES:
        errors.append("in_flight must be one of %s" % ", ".join(IN_FLIGHT_CHOICES))
    return errors


class Followed:
    """One canary being followed: its judge, timeline and gate state."""

    def __init__(self, key, canary, judge, started, clock):
        self.key, self.canary, self.judge = key, canary, judge
        self.timeline = Timeline(clock, started)
        self.tester = None
        self.gate_open = False
        self.verdict = None
        self.pending = None
        self.last_message = None


class Release:
    """canary_rollout's workflow. ``run()`` returns the task result (a dict)."""

    # Seconds the change itself may take before Flagger's analysis starts (git and Flux in git_release).
    overhead = 0.0

    def __init__(self, kube, args, check_mode=False, say=None, clock=time.monotonic, opener=None, sleep=time.sleep):
        self.kube, self.args, self.check_mode = kube, args, check_mode
        self.sleep = sleep
        self.say = say or (lambda message: None)
        self.clock = clock
        self.started = clock()
        self.opener = opener
        self.result = {"changed": False}
        self.stats = WaitStats()
        self.book = None  # Flagger's events on the canaries followed, once a follow began

    # --- the workflow ----------------------------------------------------------------
    def run(self):
        errors = self._check_request()
        if errors:
            raise ReleaseError("%s: %s" % (self.task, "; ".join(errors)))
        if self.args.get("label_selector"):
            return self._follow_selected()
        name, namespace = self.args["name"], self.args["namespace"]
        key, obj = "%s/%s" % (namespace, name), "canary %s/%s" % (namespace, name)
        canary = self._canary(namespace, name)
        self.result["revision_before"] = revision_of(canary).split("|")[0]
        if not self._asks_for_change():
            return self._follow_one(key, canary)
        change = self._pending_change(canary)
        if change is None:
            return self._already_there(key, canary)
        if self.args.get("wait", True) and self.args.get("wait_timeout"):
            # Before anything is written (the in-flight wait below may close a gate).
            preflight.check_timeout(canary, self.args["wait_timeout"], self.overhead)
        canary = self._before_change(key, canary)
        change = self._pending_change(canary)  # the release in flight may have brought the same change
        if change is None:
            return self._already_there(key, canary)
        canary = self._preflight(key, canary)
        if self.check_mode:
            return self._preview(canary, change, obj)
        baseline = Baseline.of(canary)
        template = self._make_change(canary, change)
        if not self.args.get("wait", True):
            self.result.update(msg="%s: release started (not followed: wait=false)" % obj, phase=phase_of(canary))
            return self.result
        self.say("%s: target changed, following the new revision" % obj)
        try:
            outcome = self._follow({key: (canary, baseline)}, follow=False)[key]
        except CollectionError as error:
            # The target is changed: report that, with what stopped the follow.
            return self._failed(str(error), canary)
        if outcome["verdict"] in ("promoted", "failed") and canaries.pod_template(
                canaries.get_target(self.kube, canary)) != template:
            outcome.update(verdict="superseded", reason="the target was changed again before the verdict: "
                           "this verdict belongs to that change")
        return self._conclude(outcome)

    # --- the change: a patch of the target here, a git commit in git_release -----------
    task = "canary_rollout"

    def _check_request(self):
        return check_request(self.args)

    def _asks_for_change(self):
        return bool(self.args.get("images") or self.args.get("env") or self.args.get("annotations"))

    def _pending_change(self, canary):
        """The change this release makes, or None when the target already has it."""
        return self._patch_for(canary)

    def _preview(self, canary, change, obj):
        canaries.patch_target(self.kube, canary, change, True)
        self.result.update(changed=True, patch=canaries.without_env_values(change),
                           msg="%s: would start a release" % obj, phase=phase_of(canary))
        return self.result

    def _make_change(self, canary, change):
        """Make the change; returns the target's pod template it leads to."""
        patched = canaries.patch_target(self.kube, canary, change, False)
        self.result.update(changed=True, patch=canaries.without_env_values(change))
        return canaries.pod_template(patched)

    def _conclude(self, outcome):
        return self._report(outcome)

    def _preflight(self, key, canary):
        """Metric window and metric data (flagger/preflight.py); the canary then. (The
        timeout floor is checked in run(), before anything is written.)"""
        left = preflight.metric_window_left(canary)
        if left > 0:
            if self.args.get("metric_window") == "fail":
                raise ReleaseError(
                    "canary %s: its last analysis failed %d s ago and its metric window (%d s) still holds "
                    "that run's traffic; this release would be judged on it. Try again in %d s (or "
                    "metric_window=wait)" % (key, preflight.longest_metric_interval(canary) - left,
                                             preflight.longest_metric_interval(canary), math.ceil(left)))
            if not self.check_mode:
                self.say("canary %s: waiting %d s for the failed analysis's traffic to leave the metric window "
                         "(%d s) so that this release is judged on its own" % (
                             key, math.ceil(left), preflight.longest_metric_interval(canary)))
                self.sleep(left)
                self.result["metric_window_waited"] = round(left, 1)
                namespace, name = key.split("/", 1)
                canary = self._canary(namespace, name)
        if self.args.get("prometheus_url"):
            templates = {}
            for metric in ((canary.get("spec") or {}).get("analysis") or {}).get("metrics") or []:
                ref = metric.get("templateRef")
                if ref:
                    ref_key = (ref.get("namespace") or canary["metadata"]["namespace"], ref["name"])
                    templates[ref_key] = self.kube.get(METRIC_TEMPLATE, *ref_key)
            self.result["metrics_checked"] = preflight.MetricProbe(
                self.args["prometheus_url"], opener=self.opener).check(
                    canary, self.args.get("mesh_provider") or "istio", templates)
        return canary

    def _canary(self, namespace, name):
        canary = canaries.get_canary(self.kube, namespace, name)
        if canary is None:
            raise ReleaseError("canary %s/%s not found" % (namespace, name))
        if phase_of(canary) in UNINITIALISED:
            raise ReleaseError(
                "canary %s/%s is not initialised by Flagger (phase %s): a release now would roll the new "
                "version out with no analysis. Is Flagger running? Wait for Initialized first "
                "(gitops.progressive.canary with wait: true)" % (namespace, name, phase_of(canary) or "none"),
                phase=phase_of(canary))
        return canary

    def _patch_for(self, canary):
        env = normalise_env(self.args.get("env"))[0]
        return canaries.template_patch(canaries.get_target(self.kube, canary), self.args.get("images"), env,
                                       self.args.get("env_container"), self.args.get("annotations"))

    def _before_change(self, key, canary):
        """Refuse, clear or wait for what would spoil this release's verdict; the canary then."""
        namespace, name = canary["metadata"]["namespace"], canary["metadata"]["name"]
        override = self.args.get("loadtester_url")
        rollback = rollback_tester(canary, override, **self._opener())
        try:
            requested = rollback is not None and rollback.rollback_requested(name, namespace)
        except GateError as error:
            requested = False
            self.result.setdefault("warnings", []).append(
                "could not check for an open rollback request (one would roll this release back): %s" % error)
        if requested:
            raise ReleaseError("canary %s: a rollback request is open at the load tester %s; it would roll this "
                               "release back at once. Clear it first (gitops.progressive.canary_gate "
                               "action=reset)" % (key, redact(rollback.url)))
        approval = approval_tester(canary, override, **self._opener())
        if approval is not None and self.args.get("approval") != "auto" and not self.check_mode:
            try:
                if approval.gate_is_open(name, namespace):
                    approval.close_gate(name, namespace)
                    self.result["closed_gate"] = True
                    self.say("canary %s: closed an approval gate an earlier release left open" % key)
            except GateError as error:
                self.result.setdefault("warnings", []).append(
                    "could not check the approval gate (a gate left open would approve this release): %s" % error)
        phase = phase_of(canary)
        policy = self.args.get("in_flight") or "wait"
        busy = phase in PROMOTING or (policy != "supersede" and phase in IN_FLIGHT and phase != "Waiting")
        if not busy:
            return canary
        if policy == "fail":
            raise ReleaseError("canary %s: another release is in flight (phase %s, revision %s); in_flight=fail "
                               "refuses to start this one" % (key, phase, revision_of(canary).split("|")[0]))
        if self.check_mode:
            self.result["in_flight"] = phase
            return canary
        self.say("canary %s: a release is in flight (%s); waiting for its verdict before starting this one" % (
            key, phase))
        earlier = self._follow({key: (canary, Baseline.of(canary, follow=True))}, follow=True, approve=False)[key]
        self.result["waited_for"] = {"verdict": earlier["verdict"], "revision": earlier.get("revision")}
        return self._canary(namespace, name)

    def _already_there(self, key, canary):
        """The target already has this change: report the verdict the canary holds for it."""
        phase = phase_of(canary)
        if phase in IN_FLIGHT:
            return self._follow_one(key, canary)
        promoted = primary_runs_target(canary)
        outcome = self._outcome(key, canary, Verdict(done=True, ok=promoted, data={
            "outcome": "promoted" if promoted else "failed"}), [])
        outcome["message"] = ("already at that version, nothing to release" if promoted else
                              "this version was rolled back before: %s" % outcome.get("reason", ""))
        return self._report(outcome)

    def _follow_one(self, key, canary):
        if self.check_mode:
            summary = summarize(canary)
            self.result.update(phase=summary["phase"], revision=summary["revision"],
                               msg="check mode: would follow canary %s (now %s); nothing waited for" % (
                                   key, summary["phase"]))
            return self.result
        return self._report(self._follow({key: (canary, Baseline.of(canary, follow=True))}, follow=True)[key])

    def _follow_selected(self):
        namespace, selector = self.args.get("namespace"), self.args["label_selector"]
        found = canaries.list_canaries(self.kube, namespace, selector)
        if not found:
            raise ReleaseError("no canary matches label selector %r%s" % (
                selector, " in namespace %s" % namespace if namespace else ""))
        for canary in found:
            if phase_of(canary) in UNINITIALISED:
                raise ReleaseError("canary %s/%s is not initialised by Flagger (phase %s)" % (
                    canary["metadata"]["namespace"], canary["metadata"]["name"], phase_of(canary) or "none"))
        targets = {"%s/%s" % (c["metadata"]["namespace"], c["metadata"]["name"]): (c, Baseline.of(c, follow=True))
                   for c in found}
        if self.check_mode:
            self.result.update(msg="check mode: would follow %d canaries; nothing waited for" % len(targets),
                               releases={key: {"phase": phase_of(c)} for key, (c, _b) in targets.items()})
            return self.result
        outcomes = self._follow(targets, follow=True)
        verdicts = [outcome["verdict"] for outcome in outcomes.values()]
        all_promoted = all(verdict == "promoted" for verdict in verdicts)
        self.result.update(
            releases=outcomes, verdict="promoted" if all_promoted else "failed",
            duration=round(self.clock() - self.started, 3),
            watch=dict(lists=self.stats.lists, watches=self.stats.watches, events=self.stats.events,
                       retries=self.stats.retries),
            msg="%d of %d releases promoted" % (verdicts.count("promoted"), len(verdicts)))
        if not all_promoted:
            self.result["reason"] = "; ".join("%s %s: %s" % (key, o["verdict"], o.get("reason", ""))
                                              for key, o in sorted(outcomes.items()) if o["verdict"] != "promoted")
            self.result["failed"] = bool(self.args.get("fail_on_rollback", True))
        self._publish(dict(outcomes))
        return self.result

    # --- following -------------------------------------------------------------------
    def _opener(self):
        return {"opener": self.opener} if self.opener else {}

    def _follow(self, targets, follow, approve=True):
        """Follow each ``key: (canary, baseline)`` to its verdict; outcomes by key."""
        # A release in flight that is not this task's is only waited for: its gates are not ours to open.
        approval = (self.args.get("approval") or "manual") if approve else "manual"
        wait_timeout = self.args.get("wait_timeout") or 1800
        approval_timeout = (self.args.get("approval_timeout") or wait_timeout) if approve else wait_timeout
        followed = {}
        single = len(targets) == 1 and not self.args.get("label_selector")
        namespace = self.args.get("namespace")
        name = self.args.get("name") if single else None
        self.book = EventBook(lambda: canaries.canary_events(self.kube, namespace, name, 0))
        for key, (canary, baseline) in targets.items():
            start, stall = windows_for(canary)
            evidence = FlaggerEvidence(self.book, key)
            settings = JudgeSettings(
                approval=approval, approval_timeout=approval_timeout, start_window=start, stall_window=stall,
                traffic_gate=holds_traffic_increase(canary),
                follow=follow, evidence=evidence)
            item = Followed(key, canary, ReleaseJudge(key, baseline, self.clock, settings), self.started, self.clock)
            if approval == "auto" and gate_webhooks(canary):
                item.tester = approval_tester(canary, self.args.get("loadtester_url"), **self._opener())
            followed[key] = item

        def predicate(objects):
            pending = False
            for item in followed.values():
                if item.verdict is None:
                    verdict = item.judge(objects)
                    if verdict.done:
                        item.verdict = verdict
                    else:
                        pending = True
                        item.pending = verdict
            rechecks = [item.pending.recheck_in for item in followed.values()
                        if item.verdict is None and item.pending.recheck_in is not None]
            return Verdict(done=not pending, recheck_in=min(rechecks) if rechecks else None)

        def on_change(objects, _verdict):
            for item in followed.values():
                current = objects.get(item.key)
                if current is not None:
                    item.canary = current
                    self._progress(item, current)
                self._work_gate(item)

        lister, watcher = self.kube.source(CANARY, namespace, name, self.args.get("label_selector"))
        timeout = wait_timeout
        remaining = max(1.0, timeout - (self.clock() - self.started))
        try:
            wait_for(lister, watcher, predicate, remaining, on_change=on_change, clock=self.clock, stats=self.stats)
        except WaitTimeout as error:
            for item in followed.values():
                if item.verdict is None:
                    problem = "; %s" % error.error if error.error else ""
                    item.verdict = Verdict(done=True, ok=False, data={"outcome": "timeout"}, message=(
                        "no verdict after %ds (phase %s)%s" % (timeout, phase_of(item.canary) or "none", problem)))
        finally:
            for item in followed.values():
                self._close_gate(item)
        self.book.refresh()
        return {key: self._outcome(key, item.canary, item.verdict, item.timeline.entries)
                for key, item in followed.items()}

    def _progress(self, item, canary):
        entry = item.timeline.observe(canary)
        if entry is None or not self.args.get("progress", True):
            return
        message = summarize(canary)["message"]
        note = " - %s" % message if message and message != item.last_message else ""
        item.last_message = message
        self.say("canary %s: %s weight %d%% failed checks %d iterations %d (%.1fs)%s" % (
            item.key, entry["phase"], entry["weight"], entry["failed_checks"], entry["iterations"],
            entry["seconds"], note))

    def _work_gate(self, item):
        """Open the gate the judge says holds the release (approval=auto), close it once passed."""
        if item.tester is None:
            return
        gate = None if item.verdict is not None or item.pending is None else item.pending.data.get("gate")
        namespace, name = item.key.split("/", 1)
        if gate and not item.gate_open:
            item.tester.open_gate(name, namespace)
            item.gate_open = True
            self.say("canary %s: %s gate opened (approval=auto)" % (item.key, gate))
        elif not gate and item.gate_open:
            self._close_gate(item)

    def _close_gate(self, item):
        if item.tester is None or not item.gate_open:
            return
        namespace, name = item.key.split("/", 1)
        try:
            item.tester.close_gate(name, namespace)
            item.gate_open = False
        except GateError as error:
            self.result.setdefault("warnings", []).append("could not close the approval gate again: %s" % error)

    # --- reporting -------------------------------------------------------------------
    def _events(self, key):
        """The canary's latest events, from the book when it was just read."""
        if self.book is not None:
            return self.book.events(key)[-20:]
        namespace, name = key.split("/", 1)
        try:
            return canaries.canary_events(self.kube, namespace, name)
        except CollectionError:
            return []

    def _outcome(self, key, canary, verdict, timeline):
        summary = summarize(canary)
        events = self._events(key)
        verdict_name = verdict.data.get("outcome") or ("promoted" if verdict.ok else "failed")
        outcome = dict(verdict=verdict_name, phase=summary["phase"], revision=summary["revision"],
                       promoted_revision=summary["promoted_revision"], strategy=summary["strategy"],
                       timeline=timeline, weights=progressing_weights(timeline), events=events,
                       message=verdict.message)
        if verdict_name != "promoted":
            if verdict_name == "failed":
                outcome["reason"] = failure_reason(events)
                down = metrics_unavailable(events)
                if down:
                    outcome["cause"] = "metrics_unavailable"
                    outcome["reason"] = ("the metrics server did not answer during the analysis, so Flagger "
                                         "counted failed checks (not the release's fault): %s" % down)
            else:
                last = events[-1]["message"] if events else "no events from Flagger"
                outcome["reason"] = "%s; last state: phase %s weight %d, Flagger's last event: %s" % (
                    verdict.message, summary["phase"], summary["weight"], last)
        return outcome

    def _report(self, outcome):
        key = "%s/%s" % (self.args["namespace"], self.args["name"])
        self.result.update({field: value for field, value in outcome.items() if field != "message"})
        self.result["duration"] = round(self.clock() - self.started, 3)
        self.result["watch"] = dict(lists=self.stats.lists, watches=self.stats.watches, events=self.stats.events,
                                    retries=self.stats.retries)
        promoted = outcome["verdict"] == "promoted"
        message = outcome.get("message") or outcome["verdict"]
        if promoted:
            self.result["msg"] = "%s %s" % (key, message)
        else:
            self.result["msg"] = "%s %s: %s" % (key, outcome["verdict"], outcome.get("reason") or message)
        self._publish({key: outcome})
        if not promoted and self.args.get("fail_on_rollback", True):
            self.result["failed"] = True
        return self.result

    def _publish(self, outcomes):
        if self.args.get("publish_stats"):
            self.result["ansible_stats"] = dict(
                data={"canary_rollout": {key: dict(
                    verdict=o["verdict"], phase=o["phase"], revision=o["revision"],
                    duration=round(self.clock() - self.started, 3), reason=o.get("reason"))
                    for key, o in outcomes.items()}},
                per_host=False, aggregate=True)

    def _failed(self, message, canary):
        self.result.update(failed=True, msg="canary %s/%s: %s" % (
            canary["metadata"]["namespace"], canary["metadata"]["name"], message), phase=phase_of(canary))
        return self.result
