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
    C(Promoted) condition, is never taken for success. If the target is changed again
    before the verdict, the verdict is that change's and the task reports C(superseded).
  - Checks every option before any request, naming each problem and the canary in one
    failure. Names as Kubernetes accepts them, images as image references (a tag of at most
    128 letters, digits, C(_), C(.) and C(-)), environment variable names and annotation keys,
    timeouts between 1 s and a week, addresses with no credentials in them, at most 1000
    entries in O(images), O(env) and O(annotations).
  - Checks everything it can before writing. The canary must exist and be initialised by
    Flagger (a release of an uninitialised canary would roll out with no analysis); the
    target must have the containers named; a rollback request left open at the load
    tester is refused (it would roll this release back at once); an approval gate left
    open by an earlier release is closed (it would approve this one without anybody).
  - A release already in flight is waited for first (O(in_flight)). A change during
    C(Promoting) or C(Finalising) would be copied to the primary with no analysis of its
    own, so in those phases the task always waits.
  - Without a change it follows the release in flight (started by Flux, for example), or
    the next one. If Flagger takes up no new revision within a start window derived from
    the canary's analysis interval (two intervals and 30 s), the task says there is
    nothing to follow, naming the window, instead of waiting for O(wait_timeout). A change
    that is already in place is promoted only when the primary runs it; otherwise Flagger has
    not analysed it yet and it is followed (or, when Flagger rolled it back before and does not
    take it up again, reported C(failed)).
  - Knows when Flagger stopped reacting. When the canary does not move and Flagger
    records no event on it for three analysis intervals and 30 s while a release is
    under way, the task fails with the canary's last state and Flagger's last event.
  - When Flagger rolled the release back because its metrics server did not answer,
    the result says so (RV(cause=metrics_unavailable)), so nobody blames the release.
  - Watches the canary (list, then watch with resume and a bounded backoff) instead of
    polling, and stops at once on C(Failed), with Flagger's reason from the canary's events.
  - Shows the progress on the console as it happens. Phase, weight, failed checks,
    iterations and Flagger's message. Returns a timeline of every change with its time.
  - With O(label_selector) one task follows the releases in flight of every canary the
    selector matches, with one watch for all of them.
  - Runs on the controller (an action plugin), which must reach the API server (and the
    load tester, for gates).
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.canary
  - gitops.progressive.attributes.action_plugin
  - gitops.progressive.wait
  - gitops.progressive.release
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: partial
    details:
      - The change to the target is a server-side dry run, after the same checks as a real run.
      - Nothing is followed and no gate is opened; a follow-only task reports the canary's state at once.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  name:
    description: Name of the canary. Required unless O(label_selector) is given.
    type: str
  namespace:
    description: Namespace of the canary (with O(label_selector), the namespace to look in; all when not given).
    type: str
  label_selector:
    description:
      - Follow the releases in flight of every canary this label selector matches, in one task and one
        watch. Takes no O(images), O(env) or O(annotations).
      - Checked with Kubernetes' selector grammar before any request (C(key), C(!key), C(key=value),
        C(key!=value), C(key in (a,b)), C(key notin (a,b))); C(app=*) is no selector.
    type: str
  images:
    description:
      - New image per container name of the target (container name as key, image reference as value,
        such as C(ghcr.io/stefanprodan/podinfo:6.7.1) or with C(@sha256:...)).
    type: dict
    default: {}
  env:
    description:
      - Environment variables to set on the target's containers (all, or O(env_container)).
      - Values are strings as Kubernetes wants them; numbers are turned into strings, a null or
        boolean value is an error (quote it).
      - The values are not returned, since they may be credentials; RV(patch) names the variables only.
    type: dict
    default: {}
  env_container:
    description: The one container O(env) applies to.
    type: str
  annotations:
    description: Annotations to set on the target's pod template (a new revision without a new version).
    type: dict
    default: {}
  wait:
    description:
      - Follow the release to its verdict. With V(false) the task changes the target after the same
        checks and returns; a later task without a change (or with the same change) follows it.
      - A task without a change always follows.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, waiting for a release in flight included; from 1 to 604800 (a week).
      - A timeout below what the canary's analysis needs (analysis interval × steps or
        iterations, plus C(progressDeadlineSeconds)) is refused before anything is written,
        with that figure, since such a wait could never end in a verdict.
    type: int
    default: 1800
    aliases: [timeout]
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
    wait_timeout: 900
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
    loadtester_url: http://127.0.0.1:18888

- name: Follow every release in flight of the team's canaries
  gitops.progressive.canary_rollout:
    namespace: shop
    label_selector: team=checkout
"""

RETURN = r"""
lease:
  description: The Lease that held the app for this release (released again at the end), and its holder.
  returned: when the release changed something
  type: dict
  contains:
    name:
      description: C(Lease <namespace>/gitops-progressive-release-<name>).
      type: str
    holder:
      description: Who held it (user@host pid N, and the AWX job).
      type: str
interrupted:
  description: The signal that interrupted the release (C(SIGINT), C(SIGTERM)); the message says what it left behind (a patched target).
  returned: when interrupted
  type: str
verdict:
  description:
    - C(promoted), C(failed) (rolled back), C(superseded) (another change replaced this one before its
      verdict), C(not_approved), C(not_started) (Flagger took up no new revision in its start window),
      C(stalled) (Flagger stopped moving the release), C(timeout), C(deleted), or C(unknown) (promoted,
      but what was promoted could not be compared with this release's template).
  returned: when a release was followed or found
  type: str
  sample: promoted
phase:
  description: The canary's phase at the end.
  returned: always
  type: str
revision_before:
  description: The revision Flagger had taken up before the task.
  returned: when name is given
  type: str
revision:
  description: The revision the verdict is about (C(status.lastAppliedSpec)).
  returned: when a release was followed or found
  type: str
promoted_revision:
  description: The revision running as primary at the end.
  returned: when a release was followed or found
  type: str
strategy:
  description: C(canary), C(ab-testing) or C(blue-green).
  returned: when a release was followed or found
  type: str
timeline:
  description: Each change of phase, weight, failed checks or iterations, in seconds from the task's start.
  returned: when a release was followed
  type: list
  elements: dict
  sample: [{"seconds": 4.1, "phase": "Progressing", "weight": 10, "failed_checks": 0, "iterations": 0}]
weights:
  description: The traffic weights the canary went through while progressing.
  returned: when a release was followed
  type: list
  elements: int
  sample: [0, 10, 20, 30]
report:
  description: The HTML report written (the O(report) option's file, absolute).
  returned: when O(report) is set and the report was written
  type: str
  sample: /var/lib/awx/reports/demo-podinfo.html
duration:
  description: Seconds the task took.
  returned: when a release was followed or found
  type: float
reason:
  description: Why the release did not promote, in Flagger's words (from the canary's events), or what stopped it.
  returned: when the release was not promoted
  type: str
  sample: "Halt podinfo.test advancement success rate 25.00% < 70 / Rolling back podinfo.test failed checks threshold reached 2"
cause:
  description: C(metrics_unavailable) when Flagger's metrics server did not answer during the analysis.
  returned: when known
  type: str
events:
  description: Flagger's recent events on the canary, oldest first.
  returned: when a release was followed or found
  type: list
  elements: dict
patch:
  description: The patch applied to the target's pod template; env values are left out.
  returned: when the task changed the target
  type: dict
closed_gate:
  description: True when an approval gate left open by an earlier release was closed before this one.
  returned: when that happened
  type: bool
waited_for:
  description: The verdict and revision of the release in flight that the task waited for before starting.
  returned: when that happened
  type: dict
releases:
  description: With O(label_selector), the outcome of each canary's release, keyed by namespace/name.
  returned: with label_selector
  type: dict
watch:
  description: How many list and watch requests, watch events and retries the wait took.
  returned: when the task waited
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.progressive.plugins.module_utils.release.args import rollout_argument_spec


def main():
    module = AnsibleModule(argument_spec=rollout_argument_spec(), supports_check_mode=True)
    module.fail_json(msg="gitops.progressive.canary_rollout runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
