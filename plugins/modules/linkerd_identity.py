#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: linkerd_identity
short_description: Keep Linkerd's trust anchor and identity issuer in Kubernetes Secrets
version_added: 0.1.0
description:
  - Linkerd's Helm charts need a trust anchor (root CA) and an issuer certificate and key
    signed by it, all ECDSA P-256, that C(linkerd install) would otherwise generate. This
    module generates them once and keeps them in two Secrets, so that no key is ever
    written to git or to a playbook's output.
  - The trust anchor Secret (type C(kubernetes.io/tls), keys C(tls.crt) and C(tls.key)) has
    the shape cert-manager's CA Issuer reads.
  - The values Secret holds C(values.yaml) with C(identityTrustAnchorsPEM) and
    C(identity.issuer.tls.crtPEM)/C(keyPEM), for a Flux HelmRelease's C(valuesFrom).
  - A trust anchor is generated only when none is stored, or it is unreadable or expired
    (rotating a live trust anchor is the operator's decision, since every proxy must
    trust the new one first). The issuer is generated when none is stored, it is not
    signed by the stored anchor, or it expires within O(renew_before_days), unless it
    already ends with its anchor. Otherwise nothing changes.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.k8s
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
attributes:
  check_mode:
    support: full
    details: The Secrets are sent as a server-side dry run; nothing is stored.
  diff_mode:
    support: none
    details: The Secrets hold private keys; their contents are never shown.
requirements:
  - kubernetes >= 24.2.0
  - cryptography >= 3.1
options:
  namespace:
    description: Namespace of both Secrets (that of the HelmRelease that reads the values).
    type: str
    default: flux-system
  trust_anchor_secret:
    description:
      - Name of the trust anchor Secret (another than O(values_secret)).
      - A trust anchor stored there must be ECDSA P-256, as Linkerd requires; another kind is
        refused with what to do, never replaced.
    type: str
    default: linkerd-trust-anchor
  values_secret:
    description: Name of the Secret with the chart values.
    type: str
    default: linkerd-identity-values
  trust_anchor_validity_days:
    description: How long a newly generated trust anchor is valid, in days (1 to 36500).
    type: int
    default: 3650
  issuer_validity_days:
    description:
      - How long a newly generated issuer is valid, in days (1 to O(trust_anchor_validity_days); never
        past the trust anchor).
    type: int
    default: 365
  renew_before_days:
    description:
      - Generate a new issuer when the stored one expires within this many days (0 or more, less than
        O(issuer_validity_days)).
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Keep Linkerd's identity in flux-system, for the control plane's HelmRelease
  gitops.progressive.linkerd_identity:
    kubeconfig: ~/.kube/config
    namespace: flux-system
  register: identity

- name: Show when the issuer must be renewed
  ansible.builtin.debug:
    msg: "Issuer valid until {{ identity.issuer_not_after }}"
"""

RETURN = r"""
trust_anchor_pem:
  description: The trust anchor's certificate (public), what C(identityTrustAnchorsPEM) holds.
  returned: success
  type: str
trust_anchor_not_after:
  description: When the trust anchor expires (ISO 8601, UTC).
  returned: success
  type: str
  sample: "2036-11-21T00:00:00+00:00"
issuer_not_after:
  description: When the issuer expires (ISO 8601, UTC).
  returned: success
  type: str
made:
  description: What this run generated (C(trust anchor), C(issuer)); empty when both were kept.
  returned: success
  type: list
  elements: str
reasons:
  description: Why each was generated.
  returned: success
  type: list
  elements: str
  sample: ["trust anchor: none stored", "issuer: none stored"]
"""

from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule
from ansible_collections.gitops.progressive.plugins.module_utils.mesh.identity import ensure_identity


def main():
    module = KubeModule(dict(
        namespace=dict(type="str", default="flux-system"),
        # Names of Secrets, not secrets.
        trust_anchor_secret=dict(type="str", default="linkerd-trust-anchor", no_log=False),
        values_secret=dict(type="str", default="linkerd-identity-values", no_log=False),
        trust_anchor_validity_days=dict(type="int", default=3650),
        issuer_validity_days=dict(type="int", default=365),
        renew_before_days=dict(type="int", default=30),
    ))
    module.run(lambda: ensure_identity(module.client, module.params, module.check_mode))


if __name__ == "__main__":
    main()
