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
  - The Canary is validated before anything is written, against what Flagger v1.41.0 does
    with it - the C(openAPIV3Schema) of Flagger's own Canary CRD, checked with C(jsonschema)
    (types, required fields, enums, patterns; a field the CRD does not know is an error,
    where the API server would silently drop it), and the settings Flagger would quietly
    change or ignore (an analysis interval under 10s, weights with the C(kubernetes)
    provider, a metric without a threshold). Every problem is reported at once, each by
    its path in the Canary, after the object (C(Canary test/podinfo is invalid)); the checks
    made before connecting add the option the field came from, or C(in definition), for
    example C(spec.analysis.stepWeight (option step_weight) must be <= maxWeight (60 > 50))
    or C(spec.unknown (in definition) is not a field of the Canary CRD); the server's
    look-ups say for example C(spec.analysis.metrics[1].templateRef - MetricTemplate
    test/latency not found).
  - The server-side dry run asks for strict field validation (C(fieldValidation=Strict)), so
    the API server refuses an unknown field too, also where C(jsonschema) is not installed.
  - The target (O(target) or C(spec.targetRef)) and any MetricTemplate referenced must
    exist on the server.
  - O(name) and O(namespace) may come from O(definition) (C(metadata.name),
    C(metadata.namespace)), so a Canary pasted from existing YAML works as it is; its
    C(status) and the metadata the server fills in (C(resourceVersion), C(uid),
    C(managedFields), ...) are dropped before the apply.
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
  - gitops.progressive.wait
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: A server-side dry run; nothing is written, and O(wait) does not wait.
  diff_mode:
    support: full
    details: Shows the Canary before and after (the dry run's result in check mode).
requirements:
  - kubernetes >= 24.2.0
  - jsonschema (optional, on the host that runs the module; without it the CRD's schema
    is checked only by the API server's dry run)
options:
  name:
    description:
      - Name of the Canary (Flagger names the primary C(<target>-primary)).
      - Defaults to C(metadata.name) of O(definition); one of them is required.
    type: str
  namespace:
    description:
      - Namespace of the Canary and its target.
      - Defaults to C(metadata.namespace) of O(definition); one of them is required.
    type: str
  state:
    description: C(present) creates or updates the Canary, C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - A Canary (or part of one) as a dict; the other options are laid over it.
      - Its C(apiVersion) must be C(flagger.app/v1beta1) (the default); a
        C(flagger.app/v1alpha3) Canary with C(spec.canaryAnalysis) is refused with what to write instead.
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
    description:
      - Time between analysis steps, in whole seconds or minutes, like C(1m), C(30s) or C(1m30s)
        (Flagger's CRD refuses C(1h) or C(1.5m); write C(60m) or C(90s)).
      - At least C(10s); Flagger would silently raise a shorter one to 10s.
      - Required, here or as C(spec.analysis.interval) in O(definition). The Canary CRD's C(oneOf) on
        C(spec.analysis) requires C(interval) and C(threshold) with each strategy.
    type: str
  threshold:
    description:
      - Failed checks before a rollback, at least 1.
      - Required, here or as C(spec.analysis.threshold) in O(definition).
    type: int
  max_weight:
    description:
      - Highest traffic weight (percent) the canary gets, with O(step_weight) (100 when not set).
      - Refused with O(iterations) or O(step_weights), which Flagger would ignore it with.
    type: int
  step_weight:
    description: Weight added at each step; must be at most O(max_weight).
    type: int
  step_weights:
    description: Explicit rising list of weights instead of O(step_weight).
    type: list
    elements: int
  iterations:
    description:
      - Analysis iterations, for A/B testing (with O(match)) or blue/green.
      - Exactly one of O(iterations), O(step_weight) and O(step_weights) is required. The
        C(kubernetes) provider needs O(iterations), as it cannot shift traffic by weight.
    type: int
  match:
    description:
      - A/B testing rules, as Flagger takes them (see the A/B example below); needs O(iterations).
      - Not with the C(kubernetes) provider, which cannot route by header.
    type: list
    elements: dict
  mirror:
    description: Mirror traffic to the canary (blue/green with O(iterations), or with O(mirror_weight)).
    type: bool
  mirror_weight:
    description: Percent of traffic mirrored (0-100), with O(mirror).
    type: int
  metrics:
    description: Checks run at each step; each needs O(metrics[].threshold_min) or O(metrics[].threshold_max).
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
    description:
      - Address of Flagger's load tester, for gates and load tests (for example C(http://flagger-loadtester.test/)).
      - Without credentials, as every webhook's C(url), since they would be stored in the Canary.
    type: str
  load_test_cmd:
    description: A load test the load tester runs at each step (for example a C(hey) command).
    type: str
  webhooks:
    description:
      - More webhooks, as Flagger takes them (C(name), C(type), C(url), C(metadata), ...).
      - A C(url) with credentials is refused (they would be stored in the Canary).
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
    description: Seconds a canary may make no progress before it is rolled back (positive).
    type: int
  labels:
    description: Labels of the Canary.
    type: dict
  annotations:
    description: Annotations of the Canary.
    type: dict
  wait:
    description:
      - With O(state=present), wait (watching the API server, not polling) until Flagger has
        initialised the canary - it created the primary and reports C(Initialized), or, for a canary
        it took over before, any later phase - with C(status.lastAppliedSpec) recorded.
        A C(Failed) initialisation ends the wait at once with Flagger's own words.
      - With O(state=absent), wait until the Canary is gone (Flagger's finalizer holds it while it
        reverts the target, with C(spec.revertOnDeletion)).
      - Not in check mode, where nothing is written.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds the wait may take at most, a hard limit that holds also when the API
        server stops answering (the watch is resumed with a bounded backoff within it).
      - Must be positive and at most 86400 (a day); checked before anything is written.
    type: int
    default: 180
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

- name: From a Canary YAML file as it is (name and namespace from its metadata), once Flagger has taken over
  gitops.progressive.canary:
    definition: "{{ lookup('ansible.builtin.file', 'canary.yaml') | ansible.builtin.from_yaml }}"
    wait: true
    wait_timeout: 300
  register: podinfo_canary

- name: Show the phase Flagger reported
  ansible.builtin.debug:
    msg: "{{ podinfo_canary.phase }}"

- name: Delete the canary and wait until it is gone
  gitops.progressive.canary:
    name: podinfo
    namespace: test
    state: absent
    wait: true
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
phase:
  description:
    - The canary's phase when the wait ended (C(Initialized) for a new canary, C(Succeeded) or a
      later phase for one Flagger took over before). With O(state=absent), C(null) once it is gone.
    - Also returned by a failed wait, with the phase Flagger reported last.
  returned: when the task waited (O(wait=true), not in check mode)
  type: str
  sample: Initialized
errors:
  description: Every problem validation found, each starting with its field path.
  returned: when validation failed
  type: list
  elements: str
  sample:
    - "spec.analysis.interval '1h' is refused by the Canary CRD (pattern ^[0-9]+(m|s): whole seconds or minutes): write 60m"
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.canaries import check_canary_options
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.ensure import describe, ensure_canary
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule

GATES = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback"]


def argument_spec():
    return dict(
        name=dict(type="str"),
        namespace=dict(type="str"),
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


def main():
    module = KubeModule(argument_spec(), wait=False, wait_timeout=180, subject=describe, inputs=check_canary_options)
    module.run(lambda: ensure_canary(module.client, module.params, module.check_mode, module.diff_mode))


if __name__ == "__main__":
    main()
