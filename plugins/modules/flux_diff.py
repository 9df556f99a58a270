#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flux_diff
short_description: Show what a Kustomization path would change in the cluster before it is pushed
version_added: 0.1.0
description:
  - What C(flux diff kustomization <name> --path <dir>) does. The path is rendered the way
    kustomize-controller renders it (C(kustomize build) when it has a C(kustomization.yaml),
    else every YAML file under it), each object is applied as a server-side dry run
    (admission, defaults and field ownership included, nothing stored) and compared with
    the live object.
  - With O(kustomization), the objects get the labels kustomize-controller adds, the live
    Kustomization's C(targetNamespace) is used, and the
    objects in its inventory that the path no longer has are reported as C(deleted) when
    it prunes.
  - Reports C(changed) when anything would change, so a playbook can branch on it; with
    C(--diff) the differences are shown.
  - A Secret's values are never shown, nor anything derived from them, as with C(flux diff).
    A value that changes reads C(***) marked "(before)" and "(after)", any other value
    C(***); the output is the same whatever the values are.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.flux
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Never stores anything, in or out of check mode; only dry runs are sent.
  diff_mode:
    support: full
    details: The live and the would-be objects, as YAML, with Secret values masked.
requirements:
  - kubernetes >= 24.2.0
  - C(kustomize) or C(kubectl) on PATH for paths with a C(kustomization.yaml)
options:
  path:
    description:
      - Local directory to render (a checkout of the repository at that path); not inside C(.git).
      - A YAML file that a symbolic link takes out of it is refused, as kustomize-controller refuses it.
    type: path
    required: true
  kustomization:
    description: Name of the live Kustomization the path belongs to (for its target namespace and inventory).
    type: str
  namespace:
    description: Namespace of O(kustomization).
    type: str
    default: flux-system
  kustomize_command:
    description: The command that renders a kustomization directory, given the directory as its last argument.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: What would the staging apps change?
  gitops.progressive.flux_diff:
    path: "{{ checkout }}/apps/staging"
    kustomization: apps
  register: apps_diff

- name: Stop when the cluster would lose something
  ansible.builtin.assert:
    that: apps_diff.changes | selectattr('action', 'equalto', 'deleted') | list | length == 0
"""

RETURN = r"""
changes:
  description: One entry per object with its action (C(created), C(configured), C(unchanged), C(deleted)) and unified diff.
  returned: success
  type: list
  elements: dict
  sample: [{"kind": "Deployment", "namespace": "demo", "name": "podinfo", "action": "configured", "diff": "..."}]
summary:
  description: How many objects per action.
  returned: success
  type: dict
  sample: {"created": 0, "configured": 1, "unchanged": 3, "deleted": 0}
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flux.diff import diff_task
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule


def main():
    module = KubeModule(dict(
        path=dict(type="path", required=True),
        kustomization=dict(type="str"),
        namespace=dict(type="str", default="flux-system"),
        kustomize_command=dict(type="list", elements="str"),
    ))
    params = module.params
    module.run(lambda: diff_task(module.client, params["path"], params["kustomization"], params["namespace"],
                                 params["kustomize_command"], module.diff_mode))


if __name__ == "__main__":
    main()
