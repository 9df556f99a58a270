# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger's load tester gates, and canary_gate's actions on them.

The load tester keeps one approval gate and one rollback gate per canary, in memory and
without authentication: ``/gate/check`` answers 200 while the approval gate is open
(the confirm-rollout, confirm-traffic-increase and confirm-promotion webhooks that point
at it all ask the same gate), ``/rollback/check`` answers 200 while a rollback is
requested. A gate stays open until someone closes it, so an open gate approves every
later release of that canary too (even after its namespace is recreated: the key is
only namespace and name). Every action here therefore closes what it opened once
Flagger has acted on it, on every way out, timeouts included.

Gates are worked only for canaries that have gate webhooks, at the load tester those
webhooks name; ``loadtester_url`` only says how to reach that load tester from where
the task runs (an in-cluster name is not resolvable there).
"""

from __future__ import annotations

import datetime
import json
import re
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit
from ansible.module_utils.urls import open_url

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import redact, redact_text
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import (
    IN_FLIGHT,
    ROLLBACK_PHASES,
    gate_webhooks,
    phase_of,
    revision_of,
    rollback_webhooks,
)
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import CANARY
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout, wait_for

RETRY_ANNOTATION = "gitops.progressive/retry-at"
_ENDPOINT = re.compile(r"/(gate|rollback)/[a-z]+/?\Z")
# The gate that holds a release in each phase (scheduler.go, scheduler_hooks.go): Flagger sets
# Waiting for confirm-rollout and WaitingPromotion for confirm-promotion; a held
# confirm-traffic-increase leaves the canary Progressing at the same weight.
GATE_OF_PHASE = {"Waiting": "confirm-rollout", "WaitingPromotion": "confirm-promotion"}
TRAFFIC_GATE = "confirm-traffic-increase"
# The phases a release reaches once Flagger has passed each gate.
_PAST_GATE = {
    "confirm-rollout": ("Progressing", "WaitingPromotion", "Promoting", "Finalising", "Succeeded"),
    "confirm-traffic-increase": ("WaitingPromotion", "Promoting", "Finalising", "Succeeded"),
    "confirm-promotion": ("Promoting", "Finalising", "Succeeded"),
}


class GateError(CollectionError):
    """A gate could not be worked: no gate webhooks, load tester unreachable, refused."""


def _hook_types(canary):
    return {hook.get("type") for hook in gate_webhooks(canary)}


def _outcome(canary, revision, past):
    """True once ``past(phase)``; the reason as a string when the release can no longer pass; else None.

    ``revision``: the revision the approval is for (None: any, as at confirm-rollout, where
    Flagger records the new revision only once the gate is passed).
    """
    phase = phase_of(canary)
    if revision is not None and revision_of(canary) != revision:
        return "a new revision restarted the analysis"
    if phase == "Failed":
        return "Flagger rolled the release back"
    return True if past(phase) else None


def valid_url(url):
    return bool(re.match(r"^https?://[^/\s]+", url or ""))


def load_tester_base(hooks, override=None):
    """The load tester's base address the webhooks name, or ``override`` (how to reach it)."""
    if not hooks:
        return None
    if override:
        return override.rstrip("/")
    return _ENDPOINT.sub("", hooks[0].get("url") or "").rstrip("/")


class LoadTester:
    def __init__(self, url, timeout=10, opener=open_url):
        if not valid_url(url):
            raise GateError("the load tester address must be an http(s) URL, got %r" % redact(url))
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.opener = opener

    def __repr__(self):
        return "LoadTester(%s)" % redact(self.url)

    def _post(self, path, name, namespace):
        body = json.dumps({"name": name, "namespace": namespace}).encode()
        try:
            response = self.opener(self.url + path, data=body, method="POST", timeout=self.timeout,
                                   headers={"Content-Type": "application/json"})
            return response.getcode()
        except HTTPError as error:
            return error.code
        except Exception as error:  # pylint: disable=broad-except
            raise GateError("the load tester at %s did not answer %s for canary %s/%s: %s" % (
                redact(self.url), path, namespace, name, redact_text(error, self.url)))

    def gate_is_open(self, name, namespace):
        return self._post("/gate/check", name, namespace) == 200

    def rollback_requested(self, name, namespace):
        return self._post("/rollback/check", name, namespace) == 200

    def _set(self, path, name, namespace):
        code = self._post(path, name, namespace)
        if code not in (200, 202):
            raise GateError("the load tester at %s answered %d to %s for canary %s/%s" % (
                redact(self.url), code, path, namespace, name))

    def open_gate(self, name, namespace):
        self._set("/gate/open", name, namespace)

    def close_gate(self, name, namespace):
        self._set("/gate/close", name, namespace)

    def request_rollback(self, name, namespace):
        self._set("/rollback/open", name, namespace)

    def clear_rollback(self, name, namespace):
        self._set("/rollback/close", name, namespace)


def approval_tester(canary, override=None, opener=open_url):
    """The load tester of the canary's gate webhooks, or None when it has none."""
    base = load_tester_base(gate_webhooks(canary), override)
    return LoadTester(base, opener=opener) if base else None


def rollback_tester(canary, override=None, opener=open_url):
    base = load_tester_base(rollback_webhooks(canary), override)
    return LoadTester(base, opener=opener) if base else None


class GateActions:
    """canary_gate's actions on one canary. Each returns ``(changed, message, final_phase)``."""

    def __init__(self, kube, canary, loadtester_url=None, wait_timeout=120, check_mode=False, clock=None,
                 opener=open_url):
        self.kube, self.canary = kube, canary
        self.name, self.namespace = canary["metadata"]["name"], canary["metadata"]["namespace"]
        self.obj = "canary %s/%s" % (self.namespace, self.name)
        self.phase = phase_of(canary) or "Pending"
        self.wait_timeout, self.check_mode = wait_timeout, check_mode
        self.clock = clock or time.monotonic
        self.approval = approval_tester(canary, loadtester_url, opener)
        self.rollback_gate = rollback_tester(canary, loadtester_url, opener)

    def _need(self, tester, kind, action):
        if tester is None:
            raise GateError("%s: %s has no %s webhook, so Flagger never asks a gate for it" % (
                action, self.obj, kind))
        return tester

    def _gate_to_pass(self):
        """``(gate, passed)`` for the gate that holds the release now; GateError when none can.

        ``passed(canary)`` is None while Flagger has not passed that gate, True once it
        has, or the reason it never will (rolled back, restarted with a new revision).
        """
        status = self.canary.get("status") or {}
        revision = revision_of(self.canary)
        if self.phase in GATE_OF_PHASE:
            gate = GATE_OF_PHASE[self.phase]
            past = _PAST_GATE[gate]
            if gate not in _hook_types(self.canary):
                raise GateError("promote: %s is %s, the %s gate, but has no %s webhook to approve it with" % (
                    self.obj, self.phase, gate, gate), phase=self.phase)

            def passed(canary):
                return _outcome(canary, None if gate == "confirm-rollout" else revision, lambda phase: phase in past)
        elif self.phase == "Progressing" and TRAFFIC_GATE in _hook_types(self.canary):
            gate = TRAFFIC_GATE
            analysis = (self.canary.get("spec") or {}).get("analysis") or {}
            if analysis.get("iterations"):
                raise GateError("promote: %s runs iterations (blue/green or A/B), which never ask its %s webhook; "
                                "its next gate is confirm-promotion at WaitingPromotion: promote then" % (
                                    self.obj, gate), phase=self.phase)
            weight = status.get("canaryWeight") or 0
            past = _PAST_GATE[gate]

            def passed(canary):
                return _outcome(canary, revision, lambda phase: phase in past or (
                    phase == "Progressing" and ((canary.get("status") or {}).get("canaryWeight") or 0) > weight))
        elif self.phase == "Progressing":
            raise GateError(
                "promote: nothing to approve: %s is Progressing (weight %s) and has no confirm-traffic-increase "
                "webhook, so no gate holds it now; its confirm-promotion gate is asked at WaitingPromotion: promote "
                "then" % (self.obj, status.get("canaryWeight") or 0), phase=self.phase)
        else:
            return None, None
        return gate, passed

    def promote(self):
        """Approve the gate that holds the release now, and only that one.

        Changed only when Flagger passed that gate while it was open: Waiting (confirm-
        rollout) until the release progresses, WaitingPromotion (confirm-promotion) until
        it is promoting, a held traffic increase until the weight rises. The load tester
        has one approval gate per canary, so it is closed as soon as that gate is
        passed: left open it would approve the next gate and every later release.
        """
        tester = self._need(self.approval, "confirm-rollout, confirm-traffic-increase or confirm-promotion", "promote")
        if self.phase not in IN_FLIGHT:
            return False, "nothing to promote: the canary is %s" % self.phase, self.phase
        gate, passed = self._gate_to_pass()
        if gate is None:
            return False, "nothing to approve: the canary is %s, past its gates" % self.phase, self.phase
        said = []
        if self.rollback_gate and self.rollback_gate.rollback_requested(self.name, self.namespace):
            said.append("rollback request cleared")
            if not self.check_mode:
                self.rollback_gate.clear_rollback(self.name, self.namespace)
        if self.check_mode:
            return True, "; ".join(said + ["approval gate would be opened until Flagger passes the %s gate" % gate]), \
                self.phase
        tester.open_gate(self.name, self.namespace)
        try:
            final = self._wait(passed, "Flagger to pass the %s gate" % gate)
        finally:
            tester.close_gate(self.name, self.namespace)
        said.append("approval gate opened, Flagger passed the %s gate (now %s), closed again" % (gate, final))
        return True, "; ".join(said), final

    def hold(self):
        tester = self._need(self.approval, "gate", "hold")
        if not tester.gate_is_open(self.name, self.namespace):
            return False, "approval gate already closed", self.phase
        if not self.check_mode:
            tester.close_gate(self.name, self.namespace)
        return True, "approval gate closed", self.phase

    def rollback(self):
        tester = self._need(self.rollback_gate, "rollback", "rollback")
        if self.phase == "Failed":
            return False, "already rolled back", self.phase
        if self.phase not in ROLLBACK_PHASES:
            raise GateError("rollback: Flagger acts on rollback requests only while a release is %s; %s is %s%s" % (
                " or ".join(ROLLBACK_PHASES), self.obj, self.phase,
                " (its release has not started: hold its gate or change the target back)" if self.phase == "Waiting"
                else " (promotion under way: wait for it and release the old version)" if self.phase in IN_FLIGHT
                else ""), phase=self.phase)
        if self.check_mode:
            return True, "rollback would be requested until Flagger rolls back", self.phase
        tester.request_rollback(self.name, self.namespace)
        try:
            final = self._wait(lambda canary: phase_of(canary) == "Failed", "the canary to be Failed")
        finally:
            tester.clear_rollback(self.name, self.namespace)
        return True, "rollback requested; Failed; rollback request cleared", final

    def retry(self):
        if self.phase != "Failed":
            return False, "nothing to retry: the canary is %s" % self.phase, self.phase
        if self.rollback_gate and not self.check_mode and self.rollback_gate.rollback_requested(self.name, self.namespace):
            # A rollback request left open would fail the retry at its first step.
            self.rollback_gate.clear_rollback(self.name, self.namespace)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = canaries.template_patch(canaries.get_target(self.kube, self.canary),
                                        annotations={RETRY_ANNOTATION: stamp})
        canaries.patch_target(self.kube, self.canary, patch, self.check_mode)
        return True, "retry started (pod template annotation %s=%s)" % (RETRY_ANNOTATION, stamp), self.phase

    def reset(self):
        """Close the approval gate and clear a rollback request, whatever left them open."""
        said = []
        for tester, is_open, close, what in (
                (self.approval, "gate_is_open", "close_gate", "approval gate closed"),
                (self.rollback_gate, "rollback_requested", "clear_rollback", "rollback request cleared")):
            if tester is not None and getattr(tester, is_open)(self.name, self.namespace):
                said.append(what)
                if not self.check_mode:
                    getattr(tester, close)(self.name, self.namespace)
        if self.approval is None and self.rollback_gate is None:
            raise GateError("reset: %s has no gate or rollback webhooks" % self.obj)
        return bool(said), "; ".join(said) or "no gate open", self.phase

    def _wait(self, moved, what):
        """Wait until ``moved(canary)`` is true; the phase then. Fails at the timeout with the phase.

        ``moved`` may also return a string: the reason the wait can never succeed, which ends it as an error.
        """
        key = "%s/%s" % (self.namespace, self.name)

        def predicate(objects):
            canary = objects.get(key)
            if canary is None:
                return Verdict(done=True, ok=False, message="%s was deleted while waiting for %s" % (self.obj, what))
            outcome = moved(canary)
            phase = phase_of(canary) or "Pending"
            if isinstance(outcome, str):
                return Verdict(done=True, ok=False, message="%s: %s while waiting for %s (it is %s)" % (
                    self.obj, outcome, what, phase))
            return Verdict(done=bool(outcome), message=phase)

        lister, watcher = self.kube.source(CANARY, self.namespace, self.name)
        try:
            verdict = wait_for(lister, watcher, predicate, self.wait_timeout, clock=self.clock)
        except WaitTimeout as error:
            raise GateError("%s: waited %ds for %s, it is still %s" % (
                self.obj, self.wait_timeout, what, error.last.message if error.last else self.phase))
        if not verdict.ok:
            raise GateError(verdict.message)
        return verdict.message


def check_options(params):
    """Refuse canary_gate's options (InputError) before anything is read or opened.

    ``loadtester_url`` may carry credentials (a proxy in front of the load tester may
    want them; the module masks them): the address around them must be an http(s) one.
    """
    inputs = Inputs("canary_gate %s on canary %s/%s" % (params["action"], params["namespace"], params["name"]))
    inputs.name("name", params["name"])
    inputs.namespace("namespace", params["namespace"])
    inputs.url("loadtester_url", _without_credentials(params.get("loadtester_url")), required=False)
    inputs.done()


def _without_credentials(url):
    """``url`` without its ``user:password@`` (what url_problems judges apart from them)."""
    try:
        parts = urlsplit(url) if isinstance(url, str) and "@" in url else None
    except ValueError:
        return url
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def work_gate(connect, namespace, name, action, loadtester_url=None, wait_timeout=120, check_mode=False):
    """canary_gate's task: ``action`` on canary ``namespace/name``; ``connect()`` gives the Kube.

    Returns the task's result. Every failure's message starts with the action (``promote:
    ...``), whichever step failed, connecting included.
    """
    try:
        kube = connect()
        canary = canaries.get_canary(kube, namespace, name)
        if canary is None:
            raise GateError("%s: canary %s/%s not found" % (action, namespace, name))
        actions = GateActions(kube, canary, loadtester_url, wait_timeout, check_mode)
        changed, message, final_phase = getattr(actions, action)()
    except CollectionError as error:
        if str(error).startswith(action):
            raise
        raise CollectionError("%s: %s" % (action, error), **error.details) from error
    return dict(changed=changed, phase=actions.phase, final_phase=final_phase, message=message)
