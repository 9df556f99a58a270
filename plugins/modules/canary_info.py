#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_info
short_description: Report Flagger canaries (phase, weight, checks, strategy, revision, events)
version_added: 0.1.0
description:
  - Reads one Canary (O(name) and O(namespace)) or many (a namespace, all namespaces, a
    label selector) and reports what people ask about a release. Phase, traffic weight,
    failed checks, iterations, strategy (canary, A/B testing, blue/green), the revision
    Flagger last took up and the one it last promoted, conditions, and the recent events
    Flagger recorded on each canary.
  - Reads the resource paths directly, without API discovery. One request for the
    canaries and one for their events.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.canary
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  name:
    description: Name of one Canary (needs O(namespace)).
    type: str
  namespace:
    description: Namespace to look in; all namespaces when not set.
    type: str
  label_selectors:
    description: Label selectors the canaries must match, like C(app=podinfo).
    type: list
    elements: str
    default: []
  events:
    description: How many recent events to report per canary (0 for none, and no events request), at most 1000.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Where is the podinfo release?
  gitops.progressive.canary_info:
    name: podinfo
    namespace: test
  register: podinfo

- name: Show phase and weight
  ansible.builtin.debug:
    msg: "{{ podinfo.canaries[0].phase }} at {{ podinfo.canaries[0].weight }} %"

- name: Every canary of the team, in all namespaces
  gitops.progressive.canary_info:
    label_selectors: [team=payments]
    events: 0
"""

RETURN = r"""
canaries:
  description: One entry per canary, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the canary.
      type: str
    namespace:
      description: Namespace of the canary.
      type: str
    phase:
      description: Flagger's phase (Initializing, Initialized, Waiting, Progressing, WaitingPromotion, Promoting, Finalising, Succeeded, Failed).
      type: str
    weight:
      description: Traffic weight of the canary, percent.
      type: int
    failed_checks:
      description: Failed checks in the current analysis.
      type: int
    iterations:
      description: Iterations done (A/B testing, blue/green).
      type: int
    strategy:
      description: C(canary), C(ab-testing) or C(blue-green).
      type: str
    provider:
      description: The canary's provider, when it sets one.
      type: str
    target:
      description: Name of the target workload.
      type: str
    revision:
      description: Hash of the pod template Flagger last took up (C(status.lastAppliedSpec)).
      type: str
    promoted_revision:
      description: Hash of the pod template last promoted (C(status.lastPromotedSpec)).
      type: str
    tracked_configs:
      description: Checksums of the ConfigMaps and Secrets Flagger tracks.
      type: dict
    last_transition_time:
      description: When the phase last changed.
      type: str
    conditions:
      description: The canary's conditions.
      type: list
      elements: dict
    message:
      description: Message of the C(Promoted) condition.
      type: str
    events:
      description: The most recent events Flagger recorded on the canary, oldest first.
      type: list
      elements: dict
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule


def main():
    module = KubeModule(
        dict(
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            events=dict(type="int", default=10),
        ),
        required_by={"name": "namespace"}, inputs=canaries.check_info_options)
    params = module.params
    module.run(lambda: dict(changed=False, canaries=canaries.report(
        module.client(), params["namespace"], params["name"], params["label_selectors"], params["events"])))


if __name__ == "__main__":
    main()
