#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary
short_description: Create, update or delete a Flagger Canary
version_added: 0.1.0
description:
  - Manages a Flagger C(Canary) from structured options (target, service, analysis,
    metrics, webhooks and gates, alerts) or from a raw O(definition), or both (the
    options are laid over the definition).
  - The Canary is validated before anything is written. Errors name the field by its
    path in the Canary, for example C(analysis.stepWeight must be <= maxWeight) or
    C(analysis.metrics[1].templateRef MetricTemplate test/latency not found).
  - Writes are server-side applies (field manager C(gitops.progressive)). A server-side
    dry run decides first whether anything would change, so a second run is C(ok).
  - The strategy follows Flagger's rules. O(step_weight) with O(max_weight) (or
    O(step_weights)) is a canary release with traffic weights; O(iterations) with
    O(match) is A/B testing; O(iterations) alone is blue/green; O(mirror) mirrors traffic.
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
    details: A server-side dry run; nothing is written.
  diff_mode:
    support: full
    details: Shows the Canary before and after (the dry run's result in check mode).
requirements:
  - kubernetes >= 24.2.0
options:
  name:
    description: Name of the Canary (Flagger names the primary C(<target>-primary)).
    type: str
    required: true
  namespace:
    description: Namespace of the Canary and its target.
    type: str
    required: true
  state:
    description: C(present) creates or updates the Canary, C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A Canary (or part of one) as a dict; the other options are laid over it.
    type: dict
  target:
    description: Name of the Deployment (or DaemonSet, see O(target_kind)) that Flagger takes over.
    type: str
  target_kind:
    description: Kind of the target.
    type: str
    choices: [Deployment, DaemonSet]
    default: Deployment
  autoscaler:
    description: Name of a HorizontalPodAutoscaler (autoscaling/v2) for the target.
    type: str
  provider:
    description: Mesh or ingress provider of this canary, overriding Flagger's default (for example C(kubernetes) for blue/green).
    type: str
  service_port:
    description: Port of the services Flagger creates.
    type: int
  service_target_port:
    description: Container port (number or name) the services point at.
    type: raw
  service_port_name:
    description: Name of the service port (for example C(http)).
    type: str
  gateways:
    description: Istio gateways for the VirtualService (C(mesh) for in-mesh traffic).
    type: list
    elements: str
  hosts:
    description: Host names for the VirtualService.
    type: list
    elements: str
  interval:
    description: Time between analysis steps, like C(1m) or C(30s).
    type: str
  threshold:
    description: Failed checks before a rollback.
    type: int
  max_weight:
    description: Highest traffic weight (percent) the canary gets.
    type: int
  step_weight:
    description: Weight added at each step; must be at most O(max_weight).
    type: int
  step_weights:
    description: Explicit rising list of weights instead of O(step_weight).
    type: list
    elements: int
  iterations:
    description: Analysis iterations, for A/B testing (with O(match)) or blue/green.
    type: int
  match:
    description:
      - A/B testing rules, as Flagger takes them (see the A/B example below).
    type: list
    elements: dict
  mirror:
    description: Mirror traffic to the canary (blue/green with O(iterations), or with O(mirror_weight)).
    type: bool
  mirror_weight:
    description: Percent of traffic mirrored.
    type: int
  metrics:
    description: Checks run at each step.
    type: list
    elements: dict
    suboptions:
      name:
        description: C(request-success-rate), C(request-duration), or a name of your own with O(metrics[].template).
        type: str
        required: true
      threshold_min:
        description: Lowest acceptable value.
        type: float
      threshold_max:
        description: Highest acceptable value.
        type: float
      interval:
        description: Time window of the query.
        type: str
        default: 1m
      template:
        description: MetricTemplate as C(name) or C(namespace/name); must exist.
        type: str
      template_variables:
        description: Variables for the MetricTemplate.
        type: dict
  gates:
    description:
      - Manual gates served by the load tester at O(loadtester_url). C(confirm-rollout)
        holds the start, C(confirm-traffic-increase) each step, C(confirm-promotion) the
        promotion, until M(gitops.progressive.canary_gate) opens them; C(rollback) lets
        M(gitops.progressive.canary_gate) roll a release back.
    type: list
    elements: str
    choices: [confirm-rollout, confirm-traffic-increase, confirm-promotion, rollback]
  loadtester_url:
    description: Address of Flagger's load tester, for gates and load tests (for example C(http://flagger-loadtester.test/)).
    type: str
  load_test_cmd:
    description: A load test the load tester runs at each step (for example a C(hey) command).
    type: str
  webhooks:
    description: More webhooks, as Flagger takes them (C(name), C(type), C(url), C(metadata), ...).
    type: list
    elements: dict
  alerts:
    description: Alerts, as Flagger takes them (C(name), C(severity), C(providerRef)).
    type: list
    elements: dict
  skip_analysis:
    description: Promote without analysis.
    type: bool
  progress_deadline:
    description: Seconds a canary may make no progress before it is rolled back.
    type: int
  labels:
    description: Labels of the Canary.
    type: dict
  annotations:
    description: Annotations of the Canary.
    type: dict
seealso:
  - module: gitops.progressive.canary_info
  - module: gitops.progressive.canary_rollout
  - module: gitops.progressive.canary_gate
"""

EXAMPLES = r"""
- name: A canary in steps of 10 % up to 50 %, rolled back below 99 % success or above 500 ms
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    target: podinfo
    service_port: 9898
    gateways: [public-gateway.istio-system.svc.cluster.local]
    hosts: [app.example.com]
    interval: 1m
    threshold: 5
    max_weight: 50
    step_weight: 10
    metrics:
      - name: request-success-rate
        threshold_min: 99
      - name: request-duration
        threshold_max: 500
    loadtester_url: http://flagger-loadtester.test/
    load_test_cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"

- name: A/B testing for one user, ten iterations
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    target: podinfo
    service_port: 9898
    interval: 1m
    threshold: 5
    iterations: 10
    match:
      - headers:
          x-user:
            exact: testuser
    metrics:
      - name: request-success-rate
        threshold_min: 99

- name: Blue/green on plain Kubernetes, promoted only when someone approves
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    target: podinfo
    provider: kubernetes
    service_port: 9898
    interval: 30s
    threshold: 2
    iterations: 5
    gates: [confirm-promotion, rollback]
    loadtester_url: http://flagger-loadtester.test/

- name: From a raw definition
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    definition: "{{ lookup('ansible.builtin.file', 'canary.yaml') | ansible.builtin.from_yaml }}"

- name: Delete the canary
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    state: absent
"""

RETURN = r"""
canary:
  description: The Canary as the API server has it after the task (the dry run's result in check mode).
  returned: when state=present
  type: dict
strategy:
  description: C(canary), C(ab-testing) or C(blue-green).
  returned: when state=present
  type: str
  sample: canary
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.spec import (
    CanarySpecError,
    build_canary,
    strategy_of,
    validate_canary,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import (
    auth_argument_spec,
    module_client,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.errors import describe_api_error

GATES = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback"]


def argument_spec():
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        definition=dict(type="dict"),
        target=dict(type="str"),
        target_kind=dict(type="str", choices=["Deployment", "DaemonSet"], default="Deployment"),
        autoscaler=dict(type="str"),
        provider=dict(type="str"),
        service_port=dict(type="int"),
        service_target_port=dict(type="raw"),
        service_port_name=dict(type="str"),
        gateways=dict(type="list", elements="str"),
        hosts=dict(type="list", elements="str"),
        interval=dict(type="str"),
        threshold=dict(type="int"),
        max_weight=dict(type="int"),
        step_weight=dict(type="int"),
        step_weights=dict(type="list", elements="int"),
        iterations=dict(type="int"),
        match=dict(type="list", elements="dict"),
        mirror=dict(type="bool"),
        mirror_weight=dict(type="int"),
        metrics=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            threshold_min=dict(type="float"),
            threshold_max=dict(type="float"),
            interval=dict(type="str", default="1m"),
            template=dict(type="str"),
            template_variables=dict(type="dict"),
        )),
        gates=dict(type="list", elements="str", choices=GATES),
        loadtester_url=dict(type="str"),
        load_test_cmd=dict(type="str"),
        webhooks=dict(type="list", elements="dict"),
        alerts=dict(type="list", elements="dict"),
        skip_analysis=dict(type="bool"),
        progress_deadline=dict(type="int"),
        labels=dict(type="dict"),
        annotations=dict(type="dict"),
    )
    return spec


def main():
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

    module = AnsibleK8SModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    obj = "Canary %s/%s" % (params["namespace"], params["name"])
    client = None
    try:
        client = module_client(module)
        if params["state"] == "absent":
            changed, before = canaries.delete_canary(client, params["namespace"], params["name"], module.check_mode)
            result = dict(changed=changed)
            if module._diff:
                result["diff"] = dict(before=canaries.comparable(before) or {}, after={})
            module.exit_json(**result)
        desired = validate_canary(build_canary(params), canaries.metric_template_lookup(client))
        changed, before, after = canaries.apply_canary(client, desired, module.check_mode)
    except CanarySpecError as error:
        module.fail_json(msg=str(error), errors=error.errors)
    except Exception as error:  # pylint: disable=broad-except
        module.fail_json(msg=describe_api_error(error, "applying" if client else "connecting for", obj))
    result = dict(changed=changed, canary=after, strategy=strategy_of(after["spec"].get("analysis")))
    if module._diff:
        result["diff"] = dict(before=canaries.comparable(before) or {}, after=canaries.comparable(after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
