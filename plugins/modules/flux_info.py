#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flux_info
short_description: Report Flux objects like flux get, with their recent events; optionally wait until they are ready
version_added: 0.1.0
description:
  - For each object of the chosen kinds, what C(flux get) prints (ready, reason, message,
    revision, suspended) plus its conditions and the recent events Flux recorded on it
    (like C(flux events --for)).
  - One list request per kind and one events request per kind that has objects; kinds
    whose CRDs are not installed are named in RV(missing_kinds).
  - With O(wait), first waits until every matching object exists (when named) and is
    C(Ready) at its current generation; a failed object ends the wait with Flux's
    message. Nothing is requested of Flux (see M(gitops.progressive.flux_reconcile) for that).
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
    details: Reads only.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  kinds:
    description: Kinds to report; all Flux kinds by default (short names work).
    type: list
    elements: str
    default: [GitRepository, OCIRepository, HelmRepository, Bucket, HelmChart, Kustomization, HelmRelease, Receiver,
              ImageRepository, ImagePolicy, ImageUpdateAutomation]
  name:
    description: One object by name (needs O(namespace)).
    type: str
  namespace:
    description: Namespace to look in; all namespaces when not set.
    type: str
  label_selectors:
    description: Label selectors the objects must match.
    type: list
    elements: str
    default: []
  events:
    description: How many recent events to report per object (0 for none, and no events request), at most 1000.
    type: int
    default: 5
  wait:
    description: Wait until the matching objects are ready before reporting.
    type: bool
    default: false
  revision:
    description:
      - With O(wait), also wait until each object reports this revision (a commit SHA, 7 characters
        or more match as a prefix, or a revision as Flux writes it, C(main@sha1:<40 hex>), or a chart
        version for HelmCharts and HelmReleases). Receivers have none and are not held to it.
      - Refused without O(wait), and when it could never match, before anything is requested.
    type: str
  revision_repo:
    description:
      - A local git directory (bare repository or working copy) in which O(revision) is looked up;
        then a later commit that holds O(revision) is accepted too, since another writer (a second
        cluster, image automation, a release) may have pushed after it. O(revision) must be a commit SHA.
      - Must be an existing directory.
    type: path
"""

EXAMPLES = r"""
- name: What does Flux say? (flux get all -A)
  gitops.progressive.flux_info:
  register: flux

- name: Wait until the platform's Kustomizations are ready
  gitops.progressive.flux_info:
    kinds: [Kustomization]
    namespace: flux-system
    wait: true
    wait_timeout: 180
"""

RETURN = r"""
objects:
  description: One entry per object, sources first.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the object.
      type: str
    name:
      description: Name.
      type: str
    namespace:
      description: Namespace.
      type: str
    ready:
      description: Status of the Ready condition (C(True), C(False), C(Unknown)).
      type: str
    reason:
      description: Reason of the Ready condition.
      type: str
    message:
      description: Message of the Ready condition.
      type: str
    revision:
      description: The revision fetched (sources) or applied (Kustomization, HelmRelease).
      type: str
    suspended:
      description: Whether the object is suspended.
      type: bool
    webhook_path:
      description: A Receiver's webhook path (its only credential for generic receivers; empty for other kinds).
      type: str
    conditions:
      description: All conditions.
      type: list
      elements: dict
    events:
      description: Recent events on the object, oldest first.
      type: list
      elements: dict
missing_kinds:
  description: Kinds whose CRD the cluster does not have.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flux.info import info_task
from ansible_collections.gitops.progressive.plugins.module_utils.flux.objects import KINDS, describe_selection
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule


def main():
    module = KubeModule(
        dict(
            kinds=dict(type="list", elements="str", default=list(KINDS)),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            events=dict(type="int", default=5),
            revision=dict(type="str"),
            revision_repo=dict(type="path"),
        ),
        wait=False, wait_timeout=300, required_by={"name": "namespace"},
        subject=lambda params: describe_selection(params["kinds"], params["namespace"], params["name"]))
    params = module.params
    module.run(lambda: info_task(module.client, params["kinds"], params["namespace"], params["name"],
                                 params["label_selectors"], params["events"], params["wait"], params["wait_timeout"],
                                 params["revision"], params["revision_repo"]))


if __name__ == "__main__":
    main()
