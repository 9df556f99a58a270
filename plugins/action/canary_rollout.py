# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_rollout runs on the controller, so its progress reaches the console as it happens."""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import GateError, LoadTester
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import (
    IN_FLIGHT,
    Timeline,
    baseline_of,
    failure_reason,
    progressing_weights,
    revision_of,
    rollout_predicate,
    status_of,
    summarize,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.rollout_args import rollout_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import client_from_args
from ansible_collections.gitops.progressive.plugins.module_utils.kube.errors import describe_api_error
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import (
    Verdict,
    WaitStats,
    WaitTimeout,
    dynamic_source,
    wait_for,
)

display = Display()


class Approval:
    """What to do while the canary waits at a gate: open it, or give someone time to."""

    def __init__(self, mode, timeout, gates, name, namespace, clock=time.monotonic):
        self.mode, self.timeout, self.gates = mode, timeout, gates
        self.name, self.namespace, self.clock = name, namespace, clock
        self.waiting_since = None
        self.opened = False

    def __call__(self, canary):
        phase = status_of(canary).get("phase")
        if self.mode == "auto":
            if not self.opened:
                self.gates.open_gate(self.name, self.namespace)
                self.opened = True
                display.display("canary %s/%s: %s, approval gate opened" % (self.namespace, self.name, phase))
            return None
        now = self.clock()
        if self.waiting_since is None:
            self.waiting_since = now
            display.display("canary %s/%s: %s, waiting up to %ds for approval (canary_gate action=promote)"
                            % (self.namespace, self.name, phase, self.timeout))
        if now - self.waiting_since > self.timeout:
            return Verdict(done=True, ok=False, message="not approved within %ds (%s)" % (self.timeout, phase))
        return None

    def close(self):
        if self.opened:
            self.gates.close_gate(self.name, self.namespace)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=rollout_argument_spec())
        name, namespace = args["name"], args["namespace"]
        key = "%s/%s" % (namespace, name)
        obj = "canary %s" % key
        started = time.monotonic()
        try:
            client = client_from_args(args)
            canary = canaries.get_canary(client, namespace, name)
        except Exception as error:  # pylint: disable=broad-except
            raise AnsibleActionFail(describe_api_error(error, "reading", obj))
        if canary is None:
            raise AnsibleActionFail("%s not found" % obj)

        baseline = baseline_of(canary)
        phase = status_of(canary).get("phase")
        result.update(changed=False, revision_before=revision_of(canary).split("|")[0])
        wants_change = bool(args["images"] or args["env"] or args["annotations"])
        if wants_change:
            try:
                patch = canaries.template_patch(canaries.get_target(client, canary), args["images"], args["env"],
                                                args["env_container"], args["annotations"])
                if patch is not None:
                    canaries.patch_target(client, canary, patch, self._task.check_mode)
                    result.update(changed=True, patch=patch)
            except ValueError as error:
                raise AnsibleActionFail("%s: %s" % (obj, error))
            except Exception as error:  # pylint: disable=broad-except
                raise AnsibleActionFail(describe_api_error(error, "changing the target of", obj))
            if self._task.check_mode:
                result["msg"] = "would start a release" if result["changed"] else "already at that version"
                return result
            if not result["changed"] and phase not in IN_FLIGHT:
                return self._finish(result, args, client, canary, None, [], started,
                                    "already at that version, nothing to release")

        gates = LoadTester(args["loadtester_url"]) if args["loadtester_url"] else None
        if args["approval"] == "auto" and gates is None and _has_gates(canary):
            raise AnsibleActionFail("%s has manual gates: approval=auto needs loadtester_url" % obj)
        approval = Approval(args["approval"], args["approval_timeout"] or args["timeout"], gates, name, namespace)
        timeline = Timeline(time.monotonic, started)
        last_message = [None]

        def on_change(objects, verdict):
            current = objects.get(key)
            if current is None:
                return
            entry = timeline.observe(current)
            if args["progress"] and entry is not None:
                message = summarize(current)["message"]
                note = " - %s" % message if message and message != last_message[0] else ""
                last_message[0] = message
                display.display("canary %s: %s weight %d%% failed checks %d iterations %d (%.1fs)%s" % (
                    key, entry["phase"], entry["weight"], entry["failed_checks"], entry["iterations"],
                    entry["seconds"], note))

        stats = WaitStats()
        try:
            lister, watcher = dynamic_source(client.resource("Canary", "flagger.app/v1beta1"), namespace, name)
            verdict = wait_for(lister, watcher, rollout_predicate(key, baseline, approval), args["timeout"],
                               on_change=on_change, stats=stats)
            final = canaries.get_canary(client, namespace, name) or canary
        except WaitTimeout as error:
            last = error.last.message if error.last else phase
            self._close(approval)
            result.update(failed=True, timeline=timeline.entries, phase=last,
                          events=self._events(client, namespace, name),
                          msg="%s: no verdict after %ds (phase %s)" % (obj, args["timeout"], last))
            return result
        except GateError as error:
            raise AnsibleActionFail("%s: %s" % (obj, error))
        except Exception as error:  # pylint: disable=broad-except
            self._close(approval)
            raise AnsibleActionFail(describe_api_error(error, "watching", obj))
        self._close(approval)
        result["watch"] = dict(lists=stats.lists, watches=stats.watches, events=stats.events)
        return self._finish(result, args, client, final, verdict, timeline.entries, started)

    def _close(self, approval):
        try:
            if approval is not None:
                approval.close()
        except GateError as error:
            display.warning("could not close the approval gate again: %s" % error)

    def _events(self, client, namespace, name):
        try:
            return canaries.canary_events(client, namespace, name)
        except Exception:  # pylint: disable=broad-except
            return []

    def _finish(self, result, args, client, canary, verdict, timeline, started, message=None):
        summary = summarize(canary)
        events = self._events(client, summary["namespace"], summary["name"])
        if verdict is None:
            promoted = summary["phase"] != "Failed"
            outcome = "promoted" if promoted else "failed"
        else:
            promoted = verdict.ok
            outcome = "promoted" if verdict.ok else ("failed" if summary["phase"] == "Failed" else "stopped")
        result.update(
            verdict=outcome,
            phase=summary["phase"],
            revision=summary["revision"],
            promoted_revision=summary["promoted_revision"],
            strategy=summary["strategy"],
            timeline=timeline,
            weights=progressing_weights(timeline),
            duration=round(time.monotonic() - started, 3),
            events=events,
        )
        if not promoted:
            result["reason"] = verdict.message if outcome == "stopped" else failure_reason(events)
        elif verdict is not None and verdict.message != "promoted":
            message = message or "%s/%s %s" % (summary["namespace"], summary["name"], verdict.message)
        result["msg"] = message or ("%s/%s %s" % (summary["namespace"], summary["name"], outcome) +
                                    (": %s" % result["reason"] if not promoted else ""))
        if args["publish_stats"]:
            result["ansible_stats"] = dict(
                data={"canary_rollout": {"%s/%s" % (summary["namespace"], summary["name"]): dict(
                    verdict=outcome, phase=summary["phase"], revision=summary["revision"],
                    duration=result["duration"], reason=result.get("reason"))}},
                per_host=False, aggregate=True)
        if not promoted and args["fail_on_rollback"]:
            result["failed"] = True
        return result


def _has_gates(canary):
    webhooks = (((canary.get("spec") or {}).get("analysis") or {}).get("webhooks") or [])
    return any(hook.get("type") in ("confirm-rollout", "confirm-traffic-increase", "confirm-promotion")
               for hook in webhooks)
