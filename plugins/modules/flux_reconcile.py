#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flux_reconcile
short_description: Reconcile a Flux object now and wait until Flux has handled that request
version_added: 0.1.0
description:
  - What C(flux reconcile <kind> <name> [--with-source]) does, from a playbook. Records the
    object's C(status.lastHandledReconcileAt), sets C(reconcile.fluxcd.io/requestedAt) to a
    fresh token, then waits until C(status.lastHandledReconcileAt) has changed (Flux
    reconciled on a request made after this one was, not an earlier one) and the object is
    C(Ready) at its current generation.
  - Any new value counts, whatever its format - another client may have replaced the
    token before Flux read it, such as notification-controller's Receiver after a push,
    which writes C(2026-12-07 01:02:03.456 +0000 UTC m=+5.000000001). Tokens are never
    compared as times. Whether that reconcile brought a given commit is what O(revision)
    decides.
  - With O(revision), also until the object reports that revision (a commit SHA or its
    prefix, or a whole revision such as C(main@sha1:...)). The way to wait for a pushed
    commit to be applied.
  - With O(with_source), the object's source (the GitRepository of a Kustomization, the
    HelmChart or chart reference of a HelmRelease) is reconciled first, as with
    C(--with-source). O(wait_timeout) bounds both, the source and the object.
  - Fails with Flux's own condition message when Flux reports C(Ready=False) or
    C(Stalled) for the request; refuses a suspended object (or source) before writing
    anything. A timeout names the controller that never handled the request.
  - Uses the collection's watch engine; no polling.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.flux
  - gitops.progressive.wait.timeout
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: Checks that the object (and its source) exist and are not suspended; requests nothing.
  diff_mode:
    support: none
requirements:
  - kubernetes >= 24.2.0
options:
  kind:
    description:
      - Kind of the object. Short names work too (C(ks), C(hr), C(gitrepo), C(ocirepo), C(helmrepo)).
    type: str
    required: true
    choices: [GitRepository, OCIRepository, HelmRepository, Bucket, HelmChart, Kustomization, HelmRelease,
              Receiver, ks, hr, gitrepo, ocirepo, helmrepo]
  name:
    description: Name of the object.
    type: str
    required: true
  namespace:
    description: Namespace of the object.
    type: str
    default: flux-system
  with_source:
    description: Reconcile the object's source first (Kustomization and HelmRelease).
    type: bool
    default: false
  revision:
    description:
      - Wait until the object reports this revision too. A commit SHA (7 characters or more
        match as a prefix), or a revision string as Flux writes it (C(main@sha1:<40 hex>),
        C(sha256:<64 hex>); a chart version for HelmChart and HelmRelease). Anything else is
        refused before the request, as it would never match.
      - With O(with_source), the source is awaited at this revision before the object is reconciled.
    type: str
"""

EXAMPLES = r"""
- name: Apply what was just pushed, like flux reconcile ks apps --with-source
  gitops.progressive.flux_reconcile:
    kind: Kustomization
    name: apps
    with_source: true
    revision: "{{ pushed_commit }}"
    wait_timeout: 120
  register: applied

- name: Show how long Flux took
  ansible.builtin.debug:
    msg: "{{ applied.revision }} applied in {{ applied.seconds }} s"
"""

RETURN = r"""
revision:
  description: The revision the object reports when done (applied revision for a Kustomization).
  returned: success
  type: str
  sample: main@sha1:5d1c0ad2b7e1f0c0a7d7a3c9e1b0f2b6c3d4e5f6
commit:
  description: The commit SHA in RV(revision), when it has one.
  returned: success
  type: str
seconds:
  description: Seconds from the first request to the end of the wait.
  returned: success
  type: float
steps:
  description: Each object reconciled (the source first), with its request token, revision and seconds.
  returned: success
  type: list
  elements: dict
objects:
  description: The object as C(flux get) shows it (ready, reason, message, revision, suspended, conditions).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.gitops.progressive.plugins.module_utils.flux.objects import kind_of
from ansible_collections.gitops.progressive.plugins.module_utils.flux.reconcile import Reconcile, check_options
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule

KIND_CHOICES = ["GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart", "Kustomization",
                "HelmRelease", "Receiver", "ks", "hr", "gitrepo", "ocirepo", "helmrepo"]


def main():
    module = KubeModule(
        dict(
            kind=dict(type="str", required=True, choices=KIND_CHOICES),
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="flux-system"),
            with_source=dict(type="bool", default=False),
            revision=dict(type="str"),
        ),
        wait_timeout=300, subject=lambda params: kind_of(params["kind"]).describe(params["namespace"], params["name"]),
        inputs=check_options)
    params = module.params
    module.run(lambda: Reconcile(module.client(), kind_of(params["kind"]), params["namespace"], params["name"],
                                 params["wait_timeout"], with_source=params["with_source"],
                                 revision=params["revision"]).run(check_mode=module.check_mode))


if __name__ == "__main__":
    main()
