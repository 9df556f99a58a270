#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_gate
short_description: Promote, hold, roll back or retry a Flagger release
version_added: 0.1.0
description:
  - Works Flagger's manual gates for one canary through its load tester. The canary's
    webhooks must point at the load tester's gate endpoints (see the O(gitops.progressive.canary#module:gates)
    option of M(gitops.progressive.canary)).
  - C(promote) opens the approval gate so a release waiting in C(Waiting) or
    C(WaitingPromotion) goes on (and clears a pending rollback request).
  - C(hold) closes the approval gate; the release stops at its next gate.
  - C(rollback) asks Flagger to roll the release in progress back now; with O(wait) the
    task returns once the canary is C(Failed), and the rollback request is then cleared
    so the next release is not rolled back too.
  - C(retry) starts a failed release again without a new version, by stamping an
    annotation on the target's pod template (a new revision of the same version).
  - Idempotent. Promoting a canary that is already promoted, or whose gate is already
    open, is C(ok); so is holding a closed gate, rolling back a failed release and
    retrying one that is not failed.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.canary
  - gitops.progressive.attributes.canary_object
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Reads the canary and the gates and reports what would change; the retry patch is a server-side dry run.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  action:
    description: What to do.
    type: str
    choices: [promote, hold, rollback, retry]
    required: true
  loadtester_url:
    description:
      - Address of Flagger's load tester, reachable from where the task runs. Needed for
        C(promote), C(hold) and C(rollback); with C(retry) a pending rollback request is
        cleared first.
    type: str
  wait:
    description: With C(rollback), wait until the canary is C(Failed).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Approve the release waiting for promotion
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: promote
    loadtester_url: http://flagger-loadtester.test/

- name: Roll the running analysis back now
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: rollback
    loadtester_url: http://flagger-loadtester.test/

- name: Try the failed release again, same version
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: retry
"""

RETURN = r"""
phase:
  description: The canary's phase when the task began.
  returned: always
  type: str
  sample: WaitingPromotion
final_phase:
  description: The canary's phase when the task ended (after waiting, for C(rollback)).
  returned: always
  type: str
message:
  description: What was done, or why nothing needed doing.
  returned: always
  type: str
  sample: approval gate opened
"""

import datetime

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import GateError, LoadTester
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import (
    IN_FLIGHT,
    status_of,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import (
    auth_argument_spec,
    module_client,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.errors import describe_api_error
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import (
    Verdict,
    WaitTimeout,
    dynamic_source,
    wait_for,
)

RETRY_ANNOTATION = "gitops.progressive/retry-at"


def promote(gates, name, namespace, phase, check_mode):
    if phase not in IN_FLIGHT:
        return False, "nothing to promote: the canary is %s" % phase
    changed, said = False, []
    if gates.rollback_requested(name, namespace):
        changed = True
        said.append("rollback request cleared")
        if not check_mode:
            gates.clear_rollback(name, namespace)
    if gates.gate_is_open(name, namespace):
        said.append("approval gate already open")
    else:
        changed = True
        said.append("approval gate opened")
        if not check_mode:
            gates.open_gate(name, namespace)
    return changed, "; ".join(said)


def hold(gates, name, namespace, check_mode):
    if not gates.gate_is_open(name, namespace):
        return False, "approval gate already closed"
    if not check_mode:
        gates.close_gate(name, namespace)
    return True, "approval gate closed"


def wait_failed(client, name, namespace, timeout):
    def failed(objects):
        canary = objects.get("%s/%s" % (namespace, name))
        phase = status_of(canary).get("phase") if canary else None
        return Verdict(done=phase == "Failed", ok=phase == "Failed", message=phase or "deleted")

    lister, watcher = dynamic_source(client.resource("Canary", "flagger.app/v1beta1"), namespace, name)
    return wait_for(lister, watcher, failed, timeout)


def main():
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        action=dict(type="str", required=True, choices=["promote", "hold", "rollback", "retry"]),
        loadtester_url=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )
    module = AnsibleK8SModule(argument_spec=spec, supports_check_mode=True,
                              required_if=[("action", action, ("loadtester_url",)) for action in ("promote", "hold", "rollback")])
    params = module.params
    name, namespace, action = params["name"], params["namespace"], params["action"]
    obj = "canary %s/%s" % (namespace, name)
    try:
        client = module_client(module)
        canary = canaries.get_canary(client, namespace, name)
        if canary is None:
            module.fail_json(msg="%s: %s not found" % (action, obj))
        phase = status_of(canary).get("phase") or "Pending"
        final_phase = phase
        gates = LoadTester(params["loadtester_url"]) if params["loadtester_url"] else None
        if action == "promote":
            changed, message = promote(gates, name, namespace, phase, module.check_mode)
        elif action == "hold":
            changed, message = hold(gates, name, namespace, module.check_mode)
        elif action == "rollback":
            if phase == "Failed":
                changed, message = False, "already rolled back"
            elif phase not in IN_FLIGHT:
                module.fail_json(msg="rollback: %s has no release in progress (phase %s)" % (obj, phase), phase=phase)
            else:
                changed, message = True, "rollback requested"
                if not module.check_mode:
                    gates.request_rollback(name, namespace)
                    if params["wait"]:
                        try:
                            wait_failed(client, name, namespace, params["wait_timeout"])
                        except WaitTimeout as error:
                            module.fail_json(msg="rollback: %s not Failed after %ds (phase %s)" % (
                                obj, params["wait_timeout"], error.last.message if error.last else phase))
                        final_phase = "Failed"
                        gates.clear_rollback(name, namespace)
                        message += "; Failed; rollback request cleared"
        else:
            if phase != "Failed":
                changed, message = False, "nothing to retry: the canary is %s" % phase
            else:
                if gates and gates.rollback_requested(name, namespace) and not module.check_mode:
                    # A rollback request left open would fail the retry at its first step.
                    gates.clear_rollback(name, namespace)
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                patch = canaries.template_patch(canaries.get_target(client, canary), annotations={RETRY_ANNOTATION: stamp})
                canaries.patch_target(client, canary, patch, module.check_mode)
                changed, message = True, "retry started (pod template annotation %s=%s)" % (RETRY_ANNOTATION, stamp)
    except GateError as error:
        module.fail_json(msg="%s: %s" % (action, error))
    except Exception as error:  # pylint: disable=broad-except
        module.fail_json(msg=describe_api_error(error, action, obj))
    module.exit_json(changed=changed, phase=phase, final_phase=final_phase, message=message)


if __name__ == "__main__":
    main()
