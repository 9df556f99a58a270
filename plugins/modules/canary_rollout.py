#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_rollout
short_description: Start a release and follow it through a Flagger canary to its verdict
version_added: 0.1.0
description:
  - Optionally changes the canary's target to start a release (images per container,
    environment variables, pod template annotations), then follows B(that) revision until
    Flagger promotes it (C(Succeeded)) or rolls it back (C(Failed)).
  - Revision-aware. The revision Flagger had taken up (C(status.lastAppliedSpec) and the
    checksums of tracked configs) is recorded before the change, and only a verdict on a
    different revision counts. The old C(Initialized) or C(Succeeded) state, or Flagger's
    C(Promoted) condition, is never taken for success.
  - Without a change it follows the release in flight (started by Flux, for example), or
    waits for the next one. With a change that is already in place it reports the
    canary's current verdict without waiting.
  - Watches the canary (list, then watch with resume) instead of polling, and stops at
    once on C(Failed), with Flagger's reason from the canary's events.
  - Shows the progress on the console as it happens. Phase, weight, failed checks,
    iterations and Flagger's message.
  - Returns a timeline of every phase and weight change with its time.
  - Runs on the controller (an action plugin), which must reach the API server (and the
    load tester, for O(approval=auto)).
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.canary
  - gitops.progressive.attributes.canary_object
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: partial
    details: The change to the target is a server-side dry run; there is nothing to follow, so it does not wait.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  images:
    description: New image per container name of the target (container name as key, image as value).
    type: dict
    default: {}
  env:
    description: Environment variables to set on the target's containers (all, or O(env_container)).
    type: dict
    default: {}
  env_container:
    description: The one container O(env) applies to.
    type: str
  annotations:
    description: Annotations to set on the target's pod template (a new revision without a new version).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for the verdict.
    type: int
    default: 1800
  approval:
    description:
      - What to do when the release waits at a manual gate (C(Waiting), C(WaitingPromotion)).
      - C(auto) opens the gate through the load tester at O(loadtester_url) and closes it again after the verdict.
      - C(manual) waits for someone else to approve (M(gitops.progressive.canary_gate) with C(action=promote))
        for up to O(approval_timeout) seconds; then the task fails and the release stays held.
    type: str
    choices: [auto, manual]
    default: manual
  approval_timeout:
    description: Seconds to wait for a manual approval; O(timeout) when not set.
    type: int
  loadtester_url:
    description: Address of Flagger's load tester, for O(approval=auto).
    type: str
  fail_on_rollback:
    description: Fail the task when the release is rolled back (or not approved in time).
    type: bool
    default: true
  publish_stats:
    description:
      - Publish the outcome with C(set_stats) semantics (C(canary_rollout) keyed by namespace/name),
        for AWX workflows. Published when the task does not fail; set O(fail_on_rollback=false) to
        publish rollbacks too.
    type: bool
    default: false
  progress:
    description: Print each change of phase, weight and failed checks as it happens.
    type: bool
    default: true
seealso:
  - module: gitops.progressive.canary
  - module: gitops.progressive.canary_gate
  - module: gitops.progressive.canary_info
"""

EXAMPLES = r"""
- name: Ship podinfo 6.7.1 through its canary
  gitops.progressive.canary_rollout:
    name: podinfo
    namespace: test
    images:
      podinfo: ghcr.io/stefanprodan/podinfo:6.7.1
    timeout: 900
  register: release

- name: Show how the traffic moved
  ansible.builtin.debug:
    msg: "{{ release.verdict }} after {{ release.duration }}s through weights {{ release.weights }}"

- name: Rehearse a failing release on the simulated platform, keep going when it rolls back
  gitops.progressive.canary_rollout:
    name: podinfo
    namespace: test
    env:
      ERROR_FRACTION: "75"
    fail_on_rollback: false
    publish_stats: true

- name: Follow a release Flux started, approving its gates automatically
  gitops.progressive.canary_rollout:
    name: podinfo
    namespace: test
    approval: auto
    loadtester_url: http://flagger-loadtester.test/
"""

RETURN = r"""
verdict:
  description: C(promoted), C(failed) (rolled back), or C(stopped) (not approved in time, canary deleted).
  returned: success or when the release failed
  type: str
  sample: promoted
phase:
  description: The canary's phase at the end.
  returned: always
  type: str
revision_before:
  description: The revision Flagger had taken up before the task.
  returned: always
  type: str
revision:
  description: The revision the verdict is about (C(status.lastAppliedSpec)).
  returned: success or when the release failed
  type: str
promoted_revision:
  description: The revision running as primary at the end.
  returned: success or when the release failed
  type: str
strategy:
  description: C(canary), C(ab-testing) or C(blue-green).
  returned: success or when the release failed
  type: str
timeline:
  description: Each change of phase, weight, failed checks or iterations, in seconds from the task's start.
  returned: always
  type: list
  elements: dict
  sample: [{"seconds": 4.1, "phase": "Progressing", "weight": 10, "failed_checks": 0, "iterations": 0}]
weights:
  description: The traffic weights the canary went through while progressing.
  returned: success or when the release failed
  type: list
  elements: int
  sample: [0, 10, 20, 30]
duration:
  description: Seconds the task took.
  returned: success or when the release failed
  type: float
reason:
  description: Why the release did not promote, in Flagger's words (from the canary's events).
  returned: when the release was not promoted
  type: str
  sample: "Halt advancement podinfo.test request-success-rate 25.00 < 70 / Rolling back podinfo.test failed checks threshold reached 2"
events:
  description: Flagger's recent events on the canary, oldest first.
  returned: always
  type: list
  elements: dict
patch:
  description: The patch applied to the target's pod template.
  returned: when the task changed the target
  type: dict
watch:
  description: How many list and watch requests and watch events the wait took.
  returned: when the task waited
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.rollout_args import rollout_argument_spec


def main():
    module = AnsibleModule(argument_spec=rollout_argument_spec(), supports_check_mode=True)
    module.fail_json(msg="gitops.progressive.canary_rollout runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
