#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flux_suspend
short_description: Suspend or resume Flux objects, one by name or many by namespace or label
version_added: 0.1.0
description:
  - What C(flux suspend) and C(flux resume) do, including their C(--all) form (O(all)). A suspended
    object keeps what it applied and ignores new revisions until it is resumed.
  - Every option is checked before anything is read or written. Leaving options out never
    widens the selection; an empty O(name) or O(namespace) is refused.
  - Idempotent. Only objects whose C(spec.suspend) differs from O(state) are changed.
  - Resuming also requests a reconcile (as C(flux resume) does), so what was pushed
    meanwhile is applied at once; with O(wait) the task waits until each resumed object
    handled that request and is ready (all within O(wait_timeout)), and fails with Flux's
    message if it is not.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.flux
  - gitops.progressive.wait
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Each change is sent as a server-side dry run; nothing is stored or waited for.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  kinds:
    description: Kinds to act on (short names work, like C(ks) and C(hr)).
    type: list
    elements: str
    default: [Kustomization]
  name:
    description:
      - One object by name (in O(namespace)). One of O(name), O(label_selectors) and O(all) is required.
    type: str
  namespace:
    description:
      - Namespace to act in. Without it, O(label_selectors) or O(all) act in all namespaces, and
        O(label_selectors) then need O(all) too (a selector such as C(!x) or C(x notin (y)) matches
        every object, flux-system's own sync included).
    type: str
  label_selectors:
    description:
      - Label selectors the objects must match, like C(app.kubernetes.io/part-of=apps) (Kubernetes'
        selector grammar, checked before the request).
      - In O(namespace); in all namespaces only with O(all) as well.
    type: list
    elements: str
    default: []
  all:
    description:
      - Act on every object of O(kinds) in O(namespace), or in all namespaces when O(namespace) is
        not set (flux-system's own sync included), like C(flux suspend --all).
      - Required when neither O(name) nor O(label_selectors) is given, so that a task never
        selects everything by leaving them out; not with O(name).
      - With O(label_selectors) and no O(namespace), the objects those select in every namespace
        (required then).
    type: bool
    default: false
  state:
    description: C(suspended) or C(resumed).
    type: str
    choices: [suspended, resumed]
    default: suspended
  wait:
    description: After resuming, wait until each resumed object is ready.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Freeze the apps while the database is migrated
  gitops.progressive.flux_suspend:
    kinds: [Kustomization]
    name: apps
    namespace: flux-system
    state: suspended

- name: Resume every HelmRelease and Kustomization of the platform, in every namespace
  gitops.progressive.flux_suspend:
    kinds: [Kustomization, HelmRelease]
    label_selectors: [app.kubernetes.io/part-of=platform]
    all: true
    state: resumed

- name: Resume every Kustomization in namespace apps, like flux resume ks --all -n apps
  gitops.progressive.flux_suspend:
    namespace: apps
    all: true
    state: resumed
"""

RETURN = r"""
changed_objects:
  description: The objects whose suspend flag was changed (kind, namespace, name; the request token and revision when resumed).
  returned: always
  type: list
  elements: dict
matched:
  description: How many objects matched.
  returned: always
  type: int
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flux.objects import describe_selection
from ansible_collections.gitops.progressive.plugins.module_utils.flux.suspend import suspend_task
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule


def main():
    module = KubeModule(
        dict(
            kinds=dict(type="list", elements="str", default=["Kustomization"]),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["suspended", "resumed"], default="suspended"),
            all=dict(type="bool", default=False),
        ),
        wait=True, wait_timeout=300, required_by={"name": "namespace"},
        subject=lambda params: describe_selection(params["kinds"], params["namespace"], params["name"]))
    params = module.params
    module.run(lambda: suspend_task(module.client, params["kinds"], params["namespace"], params["name"],
                                    params["label_selectors"], params["state"], params["wait"], params["wait_timeout"],
                                    module.check_mode, select_all=params["all"]))


if __name__ == "__main__":
    main()
