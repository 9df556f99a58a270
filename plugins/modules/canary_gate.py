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
  - Works Flagger's manual gates for one canary through its load tester, at the address
    the canary's own gate webhooks name (see the O(gitops.progressive.canary#module:gates)
    option of M(gitops.progressive.canary)). A canary without gate webhooks has no gate
    to work, and the task says so.
  - The load tester keeps one approval gate per canary, shared by its confirm-rollout,
    confirm-traffic-increase and confirm-promotion webhooks, in memory and until someone
    closes it; a gate left open would approve every later release of that canary. So
    C(promote) opens the gate, waits until Flagger has passed it, and closes it again;
    C(rollback) requests the rollback, waits until the canary is C(Failed), and clears
    the request again. Both close what they opened on every way out, a timeout included.
  - C(promote) approves the gate that holds the release now, and only that one -
    C(Waiting) (confirm-rollout) until the release is C(Progressing), C(WaitingPromotion)
    (confirm-promotion) until it is C(Promoting), or, while C(Progressing) with a
    confirm-traffic-increase webhook, the next traffic increase (until the weight rises).
    It is C(changed) only when Flagger passed that gate. It also clears a pending
    rollback request.
  - C(promote) fails, and changes nothing, when no gate holds the release. A canary
    C(Progressing) without a confirm-traffic-increase webhook is asked its
    confirm-promotion gate only at C(WaitingPromotion), so promote then. It fails as well
    when Flagger rolls the release back, or a new revision restarts the analysis, before
    the gate is passed. A canary that is not in a release (or is already C(Promoting)) is C(ok).
  - C(hold) closes the approval gate; the release stops at its next gate.
  - C(rollback) asks Flagger to roll the release in progress back now. Flagger acts on
    it only while a release is C(Progressing) or C(WaitingPromotion); in other phases
    the task fails at once and says why.
  - C(retry) starts a failed release again without a new version, by stamping an
    annotation on the target's pod template (a new revision of the same version).
  - C(reset) closes the approval gate and clears a rollback request, whatever left them open.
  - Idempotent. Holding a closed gate, rolling back a failed release and retrying one
    that is not failed are C(ok).
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.canary
  - gitops.progressive.attributes.canary_object
  - gitops.progressive.wait.timeout
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Reads the canary and the gates and reports what would change; nothing is opened, the retry patch is a server-side dry run.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  action:
    description: What to do.
    type: str
    choices: [promote, hold, rollback, retry, reset]
    required: true
  loadtester_url:
    description:
      - How to reach the load tester the canary's webhooks name, from where the task runs,
        when their address does not resolve there (an in-cluster name such as
        C(http://flagger-loadtester.test/) seen from outside the cluster).
      - Credentials in the address are never shown in results or messages.
    type: str
  wait_timeout:
    description:
      - Seconds C(promote) waits for Flagger to pass the gate and C(rollback) for the canary to be C(Failed).
      - The gate or the rollback request is closed again when they run out.
      - Must be positive and at most 86400 (a day).
    type: int
    default: 120
seealso:
  - module: gitops.progressive.canary_rollout
  - module: gitops.progressive.canary
"""

EXAMPLES = r"""
- name: Approve the release waiting at its gate
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: promote
    loadtester_url: http://127.0.0.1:18888

- name: Roll the running analysis back now
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: rollback

- name: Try the failed release again, same version
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: retry

- name: Close whatever an interrupted job left open
  gitops.progressive.canary_gate:
    name: podinfo
    namespace: test
    action: reset
"""

RETURN = r"""
phase:
  description: The canary's phase when the task began.
  returned: always
  type: str
  sample: WaitingPromotion
final_phase:
  description: The canary's phase when the task ended (after Flagger acted, for C(promote) and C(rollback)).
  returned: always
  type: str
  sample: Promoting
message:
  description: What was done, or why nothing needed doing.
  returned: always
  type: str
  sample: approval gate opened, Flagger passed the confirm-promotion gate (now Promoting), closed again
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import check_options, work_gate
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule


def main():
    module = KubeModule(
        dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            action=dict(type="str", required=True, choices=["promote", "hold", "rollback", "retry", "reset"]),
            loadtester_url=dict(type="str", no_log=False),
        ),
        wait_timeout=120, subject=lambda params: "canary %s/%s" % (params["namespace"], params["name"]),
        inputs=check_options)
    params = module.params
    module.run(lambda: work_gate(module.client, params["namespace"], params["name"], params["action"],
                                 params["loadtester_url"], params["wait_timeout"], module.check_mode))


if __name__ == "__main__":
    main()
