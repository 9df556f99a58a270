#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_app_credentials
short_description: Get an app's dynamic database credentials from Vault the way the app does
version_added: 0.1.0
description:
  - Requests a short-lived token of the app's service account from the API server
    (TokenRequest), logs in to Vault (or OpenBao) with it through the Kubernetes auth
    method, and reads C(<database_mount>/creds/<database_role>).
  - Proves an app's Vault wiring end to end (service account, Kubernetes auth role,
    policy, database role, the database itself) with O(revoke=true), which revokes the
    login token and with it the credentials before returning; or hands a job the app's
    credentials with O(return_password=true) (then set C(no_log) on the task).
  - Every option is checked first (names and namespaces as Kubernetes and Vault take them,
    mount paths, an address without credentials), each problem naming its option. Then
    Vault's seal status is read; a Vault that is down, not initialised or sealed
    fails the task naming its address and state.
  - The credentials are the login token's child lease; they end with the lease's TTL or
    the token's, whichever is first.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.vault
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - community.hashi_vault.connection
attributes:
  check_mode:
    support: none
    details: Issuing credentials is the point; in check mode nothing is asked and the task is skipped.
  diff_mode:
    support: none
requirements:
  - hvac >= 1.2.1
  - kubernetes >= 24.2.0
options:
  kubeconfig:
    description:
      - Kubeconfig of the cluster the service account is in (its API server issues the token).
        Without it, the C(K8S_AUTH_KUBECONFIG) variable, then C(~/.kube/config) or the in-cluster configuration.
      - Only the kubeconfig and O(context) are taken for the cluster, since O(ca_cert) and
        O(validate_certs) are Vault's here.
    type: path
  context:
    description: Context of O(kubeconfig) to use.
    type: str
  service_account:
    description: The app's service account.
    type: str
    required: true
  service_account_namespace:
    description: Its namespace.
    type: str
    required: true
  audiences:
    description: Audiences of the service account token (the Kubernetes auth role's C(audience), when it has one).
    type: list
    elements: str
  auth_mount:
    description: Path of the Kubernetes auth method.
    type: str
    default: kubernetes
  auth_role:
    description: The Kubernetes auth role to log in with.
    type: str
    required: true
  database_mount:
    description: Path of the database secrets engine.
    type: str
    default: database
  database_role:
    description: The database role whose credentials are read.
    type: str
    required: true
  transit_key:
    description:
      - The app's transit key. When given, a random value is encrypted with it and decrypted
        back as the app's token, as the app does with what it stores (RV(transit_checked)).
    type: str
  transit_mount:
    description: Path of the transit secrets engine.
    type: str
    default: transit
  revoke:
    description: Revoke the login token, and the credentials with it, before returning.
    type: bool
    default: false
  return_password:
    description: Return the password. Without it only the user name and the lease are returned.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Prove the web app's Vault wiring, leaving no credentials behind
  gitops.progressive.vault_app_credentials:
    url: http://127.0.0.1:18200
    kubeconfig: ~/.kube/config
    service_account: webapp
    service_account_namespace: webapp
    auth_role: webapp
    database_role: webapp
    revoke: true

- name: Give a migration job the app's credentials
  gitops.progressive.vault_app_credentials:
    url: https://vault.example.com
    service_account: webapp
    service_account_namespace: webapp
    auth_role: webapp
    database_role: webapp
    return_password: true
  register: database_login
  no_log: true
"""

RETURN = r"""
username:
  description: The database user Vault created.
  returned: success
  type: str
password:
  description: Its password.
  returned: with O(return_password=true)
  type: str
lease_id:
  description: The credentials' lease.
  returned: success
  type: str
lease_duration:
  description: Seconds the lease lasts.
  returned: success
  type: int
token_ttl:
  description: Seconds the login token lasts.
  returned: success
  type: int
policies:
  description: Policies of the login token.
  returned: success
  type: list
  elements: str
transit_checked:
  description: Whether a value was encrypted and decrypted back with O(transit_key).
  returned: success
  type: bool
revoked:
  description: Whether the login token, and the credentials with it, were revoked.
  returned: success
  type: bool
vault_state:
  description: Vault's state when the task failed because of it (C(unreachable), C(uninitialized), C(sealed)).
  returned: failure
  type: str
"""

import os

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube
from ansible_collections.gitops.progressive.plugins.module_utils.vault import checks, credentials
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import connect


def main():
    from ansible_collections.community.hashi_vault.plugins.module_utils._connection_options import (
        HashiVaultConnectionOptions,
    )

    spec = dict(HashiVaultConnectionOptions.ARGSPEC)
    spec.update(
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
        service_account=dict(type="str", required=True),
        service_account_namespace=dict(type="str", required=True),
        audiences=dict(type="list", elements="str"),
        auth_mount=dict(type="str", default="kubernetes"),
        auth_role=dict(type="str", required=True),
        database_mount=dict(type="str", default="database"),
        database_role=dict(type="str", required=True),
        # A key's name, not a key.
        transit_key=dict(type="str", no_log=False),
        transit_mount=dict(type="str", default="transit"),
        revoke=dict(type="bool", default=False),
        return_password=dict(type="bool", default=False, no_log=False),
    )
    module = checks.vault_module(spec, supports_check_mode=False)
    params = module.params
    who = "%s/%s" % (params["service_account_namespace"], params["service_account"])
    try:
        checks.check_app_credentials(module)
        client, url = connect(module)
        kube = Kube.from_kubeconfig(params["kubeconfig"] or os.environ.get("K8S_AUTH_KUBECONFIG"),
                                    params["context"])

        def jwt():
            return credentials.service_account_token(kube, params["service_account_namespace"],
                                                     params["service_account"], params["audiences"])

        found = credentials.issue(client, url, jwt, who, params["auth_mount"], params["auth_role"],
                                  params["database_mount"], params["database_role"], revoke=params["revoke"],
                                  transit_key=params["transit_key"], transit_mount=params["transit_mount"])
    except CollectionError as error:
        module.fail_json(msg=str(error), **error.details)
    if not params["return_password"]:
        found.pop("password")
    module.exit_json(changed=True, **found)


if __name__ == "__main__":
    main()
