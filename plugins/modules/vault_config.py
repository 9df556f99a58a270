#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_config
short_description: Vault or OpenBao configuration as code, written only where it differs
version_added: 0.1.0
description:
  - Brings secrets engines, auth methods, ACL policies, transit keys, database connections
    and roles, the Kubernetes auth method's configuration and its roles to the state given,
    through community.hashi_vault's connection and authentication options and hvac.
  - Each object is read first and written only when one of the fields given differs
    (durations compared in seconds, lists of names as sets), so a second run reports
    C(ok). Fields not given are left as Vault has them; nothing is deleted.
  - Secrets Vault never returns (a database connection's O(database_connections[].password),
    the Kubernetes token reviewer's JWT) are written when their object is created or changed,
    and on every run with O(update_secrets=always). They are never returned or shown.
  - Vault's seal status is read before anything else; a Vault that is down, not initialised
    or sealed fails the task naming its address and its state, before any write. A secrets
    engine, auth method or transit key that exists with another type fails the task too
    (replacing it would lose what it holds).
  - Every option is checked before Vault is asked anything, each problem named with its
    option (like C(policies[0].name)). Names are one name (no wildcard, no C(/)), mount paths
    have no empty, C(.) or C(..) part, durations are seconds, C(<n>d) or Go durations
    (C(1h30m), not C(1 hour)), addresses carry no credentials, an object is given once.
  - Values Vault takes but that grant more than one app needs are refused unless the option
    saying so is set, named in the error - O(allow_default_policy_change),
    O(allow_wildcard_bindings), O(allow_sudo_policies), O(allow_wildcard_policy_paths),
    O(allow_system_paths). A policy is judged as Vault parses it (HCL comments dropped, string
    escapes and JSON decoded), not by its raw text.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.vault
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - community.hashi_vault.connection
  - community.hashi_vault.auth
attributes:
  check_mode:
    support: full
    details: Vault has no dry run; everything is read and compared, nothing is written.
  diff_mode:
    support: full
    details: The public fields that differ, before and after; secrets show as C((secret)).
requirements:
  - hvac >= 1.2.1
options:
  secrets_engines:
    description: Secrets engines, by path.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Mount path (not under C(sys), C(auth), C(cubbyhole) or C(identity)).
        type: str
        required: true
      type:
        description: Engine type, like C(transit), C(database) or C(kv-v2).
        type: str
        required: true
      description:
        description: Description of the mount.
        type: str
      default_lease_ttl:
        description: Default lease TTL of the mount (C(1h), C(30m) or seconds).
        type: str
      max_lease_ttl:
        description: Maximum lease TTL of the mount.
        type: str
  auth_methods:
    description: Auth methods, by path.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Mount path (C(kubernetes) for the Kubernetes auth method).
        type: str
        required: true
      type:
        description: Method type, like C(kubernetes).
        type: str
        required: true
      description:
        description: Description of the method.
        type: str
  policies:
    description: ACL policies.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Policy name, in lower case (C(default) only with O(allow_default_policy_change)).
        type: str
        required: true
      policy:
        description: The policy in HCL (or JSON), with at least one C(path) rule.
        type: str
        required: true
  transit_keys:
    description: Named keys of transit engines.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Key name.
        type: str
        required: true
      mount:
        description: The transit engine's path.
        type: str
        default: transit
      type:
        description: Key type.
        type: str
        default: aes256-gcm96
  database_connections:
    description: Connections of database secrets engines.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Connection name.
        type: str
        required: true
      mount:
        description: The database engine's path.
        type: str
        default: database
      plugin_name:
        description: Database plugin, like C(postgresql-database-plugin) or C(mongodb-database-plugin).
        type: str
        required: true
      connection_url:
        description:
          - Connection address with C({{username}}) and C({{password}}) placeholders; a password
            written in it is refused (give it in O(database_connections[].password)).
        type: str
        required: true
      username:
        description: The account Vault manages the database with.
        type: str
      password:
        description: Its password; written on create or change, and on every run with O(update_secrets=always).
        type: str
      allowed_roles:
        description: Roles of the engine that may use this connection.
        type: list
        elements: str
      options:
        description: Further fields of the connection, written with it (like C(verify_connection)); never compared, never shown.
        type: dict
  database_roles:
    description: Roles of database secrets engines (dynamic credentials).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name (C(<mount>/creds/<name>) issues its credentials).
        type: str
        required: true
      mount:
        description: The database engine's path.
        type: str
        default: database
      db_name:
        description: The connection it uses.
        type: str
        required: true
      creation_statements:
        description: Statements that create the account (C({{name}}), C({{password}}), C({{expiration}})).
        type: list
        elements: str
        required: true
      revocation_statements:
        description: Statements that remove it when the lease ends.
        type: list
        elements: str
      default_ttl:
        description: Lease TTL of the credentials.
        type: str
      max_ttl:
        description: Longest lease of the credentials, renewals included.
        type: str
  kubernetes_auth:
    description: Configuration of Kubernetes auth methods (the API server Vault sends TokenReviews to).
    type: list
    elements: dict
    default: []
    suboptions:
      mount:
        description: The auth method's path.
        type: str
        default: kubernetes
      kubernetes_host:
        description: Address of the API server.
        type: str
        required: true
      kubernetes_ca_cert:
        description: PEM CA certificate of the API server.
        type: str
      token_reviewer_jwt:
        description: Token of a service account allowed to create TokenReviews (C(system:auth-delegator)).
        type: str
      disable_local_ca_jwt:
        description: Do not use the CA and token of the pod Vault runs in.
        type: bool
  kubernetes_roles:
    description: Roles of Kubernetes auth methods.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      mount:
        description: The auth method's path.
        type: str
        default: kubernetes
      bound_service_account_names:
        description:
          - Service accounts that may log in, or globs of them with C(*) at the start or the end
            (C(web-*)), as Vault matches them. C(*) alone only with O(allow_wildcard_bindings).
        type: list
        elements: str
        required: true
      bound_service_account_namespaces:
        description:
          - Their namespaces, or globs of them with C(*) at the start or the end.
            C(*) alone only with O(allow_wildcard_bindings).
        type: list
        elements: str
        required: true
      token_policies:
        description: Policies of the tokens the login gives.
        type: list
        elements: str
      token_ttl:
        description: TTL of those tokens.
        type: str
      token_max_ttl:
        description: Longest TTL of those tokens.
        type: str
      audience:
        description: Audience the service account token must have.
        type: str
  allow_default_policy_change:
    description:
      - Allow O(policies) to replace Vault's built-in C(default) policy, which every token
        holds. C(root) and C(response-wrapping) cannot be written at all.
    type: bool
    default: false
  allow_wildcard_bindings:
    description:
      - Allow a role of O(kubernetes_roles) bound to C(*) service accounts or C(*) namespaces
        (any service account of a namespace, or one name in every namespace, may log in).
        Both C(*) is refused anyway, as Vault refuses it.
    type: bool
    default: false
  allow_sudo_policies:
    description: Allow a policy of O(policies) granting the C(sudo) capability (root-protected paths).
    type: bool
    default: false
  allow_wildcard_policy_paths:
    description:
      - Allow a policy of O(policies) with a path of wildcards only (C(path "*"), C(path "+/*")),
        which covers every path.
    type: bool
    default: false
  allow_system_paths:
    description:
      - Allow a policy of O(policies) granting C(create), C(update), C(patch) or C(delete) where a
        token can give itself any policy or take Vault over - C(sys/policy), C(sys/policies/),
        C(sys/auth), C(sys/mounts), C(sys/raw), C(sys/audit), C(sys/plugins/) and the like,
        the roles and users of C(auth/) (but a token's own C(auth/token/renew-self) and the like),
        C(identity/) (but C(identity/oidc/)) - or on a path pattern that may match one of them
        (C(sys/*), C(+/policy/*)).
    type: bool
    default: false
  update_secrets:
    description: C(on_create) writes secrets with their object's creation or change; C(always) on every run (then never C(ok)).
    type: str
    choices: [on_create, always]
    default: on_create
"""

EXAMPLES = r"""
- name: Transit, dynamic PostgreSQL credentials and Kubernetes auth for the web app
  gitops.progressive.vault_config:
    url: http://127.0.0.1:18200
    auth_method: token
    token_path: /srv/vault
    token_file: root-token
    secrets_engines:
      - {path: transit, type: transit}
      - {path: database, type: database}
    auth_methods:
      - {path: kubernetes, type: kubernetes}
    transit_keys:
      - name: webapp
    database_connections:
      - name: postgres
        plugin_name: postgresql-database-plugin
        connection_url: "postgresql://{{ '{{username}}' }}:{{ '{{password}}' }}@127.0.0.1:15432/postgres?sslmode=disable"
        username: vault
        password: "{{ postgres_password }}"
        allowed_roles: [webapp]
    database_roles:
      - name: webapp
        db_name: postgres
        creation_statements:
          - CREATE ROLE "{{ '{{name}}' }}" WITH LOGIN PASSWORD '{{ '{{password}}' }}' VALID UNTIL '{{ '{{expiration}}' }}';
        default_ttl: 1h
        max_ttl: 24h
    policies:
      - name: webapp
        policy: |
          path "database/creds/webapp" { capabilities = ["read"] }
    kubernetes_auth:
      - kubernetes_host: https://127.0.0.1:6443
        kubernetes_ca_cert: "{{ api_ca_pem }}"
        token_reviewer_jwt: "{{ reviewer_token }}"
    kubernetes_roles:
      - name: webapp
        bound_service_account_names: [webapp]
        bound_service_account_namespaces: [webapp]
        token_policies: [webapp]
        token_ttl: 1h
  no_log: true
"""

RETURN = r"""
changes:
  description: What was written (or would be, in check mode), a line each.
  returned: always
  type: list
  elements: str
  sample: ["create policy webapp", "update database role database/roles/webapp (default_ttl)"]
vault_state:
  description: Vault's state when the task failed because of it (C(unreachable), C(uninitialized), C(sealed)).
  returned: failure
  type: str
"""

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.vault import checks, config
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import (
    HvacPaths,
    authenticate,
    connect,
    require_unsealed,
)

_SECTIONS = dict(
    secrets_engines=dict(path=dict(type="str", required=True), type=dict(type="str", required=True),
                         description=dict(type="str"), default_lease_ttl=dict(type="str"),
                         max_lease_ttl=dict(type="str")),
    auth_methods=dict(path=dict(type="str", required=True), type=dict(type="str", required=True),
                      description=dict(type="str")),
    policies=dict(name=dict(type="str", required=True), policy=dict(type="str", required=True)),
    transit_keys=dict(name=dict(type="str", required=True, no_log=False), mount=dict(type="str", default="transit"),
                      type=dict(type="str", default="aes256-gcm96")),
    database_connections=dict(name=dict(type="str", required=True), mount=dict(type="str", default="database"),
                              plugin_name=dict(type="str", required=True),
                              connection_url=dict(type="str", required=True), username=dict(type="str"),
                              password=dict(type="str", no_log=True), allowed_roles=dict(type="list", elements="str"),
                              options=dict(type="dict", no_log=True)),
    database_roles=dict(name=dict(type="str", required=True), mount=dict(type="str", default="database"),
                        db_name=dict(type="str", required=True),
                        creation_statements=dict(type="list", elements="str", required=True),
                        revocation_statements=dict(type="list", elements="str"), default_ttl=dict(type="str"),
                        max_ttl=dict(type="str")),
    kubernetes_auth=dict(mount=dict(type="str", default="kubernetes"), kubernetes_host=dict(type="str", required=True),
                         kubernetes_ca_cert=dict(type="str"), token_reviewer_jwt=dict(type="str", no_log=True),
                         disable_local_ca_jwt=dict(type="bool")),
    kubernetes_roles=dict(name=dict(type="str", required=True), mount=dict(type="str", default="kubernetes"),
                          bound_service_account_names=dict(type="list", elements="str", required=True),
                          bound_service_account_namespaces=dict(type="list", elements="str", required=True),
                          token_policies=dict(type="list", elements="str", no_log=False),
                          token_ttl=dict(type="str", no_log=False),
                          token_max_ttl=dict(type="str", no_log=False), audience=dict(type="str")),
)


def main():
    from ansible_collections.community.hashi_vault.plugins.module_utils._hashi_vault_module import HashiVaultModule

    spec = HashiVaultModule.generate_argspec(
        update_secrets=dict(type="str", choices=["on_create", "always"], default="on_create"),
        **{consent: dict(type="bool", default=False) for consent in checks.CONSENTS},
        # Names of sections (secrets engines, transit keys), not secrets.
        **{name: dict(type="list", elements="dict", default=[], options=options, no_log=False)
           for name, options in _SECTIONS.items()})
    module = checks.vault_module(spec, supports_check_mode=True)
    params = module.params
    try:
        checks.check_config(module)
        client, url = connect(module)
        require_unsealed(client, url, "be configured")
        authenticate(module, client, url)
        paths = HvacPaths(client, url, "configure it")
        wanted = {name: params[name] for name in _SECTIONS}
        steps = config.plan(paths, wanted, params["update_secrets"])
        if not module.check_mode:
            config.apply(paths, steps)
    except CollectionError as error:
        module.fail_json(msg=str(error), **error.details)
    changes, diff = config.report(steps)
    result = dict(changed=bool(steps), changes=changes)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
