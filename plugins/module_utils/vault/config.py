# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault configuration as code: read what is there, write only what differs.

Each wanted object (a secrets engine, an auth method, a policy, a transit key, a database
connection or role, the Kubernetes auth method's config or one of its roles) is an
:class:`Item`: where it is read and written, its public fields and its secret ones.
:func:`plan` compares the public fields with what Vault returns (durations in seconds,
lists of names as sets) and says what to write; secrets Vault never returns (a
connection's password, the token reviewer's JWT) are written when the object is created,
or on every run with ``update_secrets='always'``.

The client is anything with ``read(path)`` (the response, or None when there is nothing)
and ``write(path, data)``; the module gives it hvac through community.hashi_vault.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import DurationError, go_duration_seconds
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import VaultError

# Fields whose order means nothing.
_SETS = {"allowed_roles", "bound_service_account_names", "bound_service_account_namespaces", "token_policies",
         "policies"}


def seconds(value, field="duration"):
    """A Vault duration as whole seconds: ``30``, ``"30"``, ``"90s"``, ``"1h30m"``, ``"1.5h"``, ``"7d"``.

    Vault's grammar (go-secure-stdlib parseutil.ParseDurationSecond): a number is seconds,
    a whole number of days is written ``<n>d``, anything else is a Go duration, read by
    the collection's one Go parser. Unlike Vault, an empty string is refused, not 0.
    """
    if isinstance(value, bool):
        raise VaultError("%s must be a duration, got %r" % (field, value))
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text[:-1].isdigit() and text.endswith("d"):
        return int(text[:-1]) * 86400
    try:
        return int(go_duration_seconds(text))
    except DurationError as error:
        raise VaultError("%s must be a duration like 90s, 15m, 1h30m or 7d, got %r (%s)" % (field, value, error))


def _is_duration(field):
    return field.endswith("ttl") or field == "period"


def _normal(field, value):
    if value is None:
        return None
    if _is_duration(field):
        return seconds(value, field)
    if field in _SETS:
        return sorted(value if isinstance(value, list) else [value])
    if isinstance(value, str):
        return value.strip()
    return value


class Item:
    """One wanted object. ``public`` is compared with what Vault returns at ``read_path``
    (``located`` maps a field to where it is in that answer); ``secrets`` are only written."""

    def __init__(self, kind, label, read_path, write_path, public, secrets=None, located=None, fixed=()):
        # secrets: write-only fields (Vault never returns them), written with the object.
        self.kind = kind
        self.label = label
        self.read_path = read_path
        self.write_path = write_path
        self.public = {key: value for key, value in public.items() if value is not None}
        for field, value in self.public.items():
            if _is_duration(field):
                seconds(value, "%s of %s" % (field, label))
        self.secrets = {key: value for key, value in (secrets or {}).items() if value is not None}
        self.located = located or {}
        self.fixed = fixed  # fields that cannot change once created

    def current(self, answer):
        """The public fields as Vault holds them, or None when the object does not exist."""
        if answer is None:
            return None
        data = answer.get("data", answer) if isinstance(answer, dict) else {}
        held = {}
        for field in self.public:
            place = self.located.get(field, (field,))
            value = data
            for step in place:
                value = value.get(step) if isinstance(value, dict) else None
            held[field] = value
        return held

    def differences(self, held):
        return sorted(field for field, value in self.public.items()
                      if _normal(field, value) != _normal(field, held.get(field)))

    def payload(self):
        return dict(self.public, **self.secrets)


class MountItem(Item):
    """A secrets engine or an auth method: found in the listing of sys/mounts or sys/auth.
    ``kv-v1``/``kv-v2`` are held by Vault as type ``kv`` with ``options.version``."""

    def __init__(self, kind, listing, path, public):
        path = path.strip("/")
        if public.get("type") in ("kv-v1", "kv-v2"):
            public = dict(public, type="kv", version=public["type"][-1])
        super().__init__(kind, "%s %s" % (kind, path), listing, "%s/%s" % (listing, path), public,
                         located={"default_lease_ttl": ("config", "default_lease_ttl"),
                                  "max_lease_ttl": ("config", "max_lease_ttl"), "version": ("options", "version")},
                         fixed=("type", "version"))
        self.path = path

    def current(self, answer):
        if answer is None:
            return None
        listing = answer.get("data", answer)
        found = listing.get(self.path + "/")
        return None if found is None else super().current(found)

    def payload(self):
        config = {key: self.public[key] for key in ("default_lease_ttl", "max_lease_ttl") if key in self.public}
        body = {key: value for key, value in self.public.items() if key not in config and key != "version"}
        if config:
            body["config"] = config
        if "version" in self.public:
            body["options"] = {"version": self.public["version"]}
        return body

    def tune(self):
        return {key: self.public[key] for key in ("default_lease_ttl", "max_lease_ttl", "description")
                if key in self.public}


def items(wanted):
    """The Items of the module's options, in the order they must be written."""
    found = []
    for engine in wanted.get("secrets_engines") or []:
        found.append(MountItem("secrets engine", "sys/mounts", engine["path"], dict(
            type=engine["type"], description=engine.get("description"),
            default_lease_ttl=engine.get("default_lease_ttl"), max_lease_ttl=engine.get("max_lease_ttl"))))
    for method in wanted.get("auth_methods") or []:
        found.append(MountItem("auth method", "sys/auth", method["path"], dict(
            type=method["type"], description=method.get("description"))))
    for policy in wanted.get("policies") or []:
        path = "sys/policies/acl/%s" % policy["name"]
        found.append(Item("policy", "policy %s" % policy["name"], path, path, dict(policy=policy["policy"])))
    for key in wanted.get("transit_keys") or []:
        path = "%s/keys/%s" % (key.get("mount", "transit"), key["name"])
        found.append(Item("transit key", "transit key %s" % path, path, path, dict(type=key.get("type")),
                          fixed=("type",)))
    for connection in wanted.get("database_connections") or []:
        path = "%s/config/%s" % (connection.get("mount", "database"), connection["name"])
        public = dict(plugin_name=connection["plugin_name"], connection_url=connection["connection_url"],
                      username=connection.get("username"), allowed_roles=connection.get("allowed_roles"))
        found.append(Item("database connection", "database connection %s" % path, path, path, public,
                          secrets=dict(connection.get("options") or {}, password=connection.get("password")),
                          located={"connection_url": ("connection_details", "connection_url"),
                                   "username": ("connection_details", "username")}))
    for role in wanted.get("database_roles") or []:
        path = "%s/roles/%s" % (role.get("mount", "database"), role["name"])
        found.append(Item("database role", "database role %s" % path, path, path, dict(
            db_name=role["db_name"], creation_statements=role["creation_statements"],
            revocation_statements=role.get("revocation_statements"), default_ttl=role.get("default_ttl"),
            max_ttl=role.get("max_ttl"))))
    for config in wanted.get("kubernetes_auth") or []:
        mount = config.get("mount", "kubernetes")
        path = "auth/%s/config" % mount
        found.append(Item("kubernetes auth config", "Kubernetes auth config %s" % path, path, path, dict(
            kubernetes_host=config["kubernetes_host"], kubernetes_ca_cert=config.get("kubernetes_ca_cert"),
            disable_local_ca_jwt=config.get("disable_local_ca_jwt")),
            secrets=dict(token_reviewer_jwt=config.get("token_reviewer_jwt"))))
    for role in wanted.get("kubernetes_roles") or []:
        path = "auth/%s/role/%s" % (role.get("mount", "kubernetes"), role["name"])
        found.append(Item("kubernetes role", "Kubernetes auth role %s" % path, path, path, dict(
            bound_service_account_names=role["bound_service_account_names"],
            bound_service_account_namespaces=role["bound_service_account_namespaces"],
            token_policies=role.get("token_policies"), token_ttl=role.get("token_ttl"),
            token_max_ttl=role.get("token_max_ttl"), audience=role.get("audience"))))
    return found


def plan(client, wanted, update_secrets="on_create"):
    """What to write: ``(item, action, fields, before)`` with action create, update or tune."""
    steps = []
    listings = {}
    for item in items(wanted):
        if isinstance(item, MountItem):
            if item.read_path not in listings:
                listings[item.read_path] = client.read(item.read_path)
            held = item.current(listings[item.read_path])
        else:
            held = item.current(client.read(item.read_path))
        if held is None:
            steps.append((item, "create", sorted(item.public), None))
            continue
        fields = item.differences(held)
        fixed = [field for field in fields if field in item.fixed]
        if fixed:
            raise VaultError("%s exists with %s %r, wanted %r: it is not replaced (that would lose what it holds); "
                             "remove it or choose another path" % (
                                 item.label, fixed[0], held.get(fixed[0]), item.public[fixed[0]]))
        if isinstance(item, MountItem):
            if fields:
                steps.append((item, "tune", fields, held))
        elif fields or (item.secrets and update_secrets == "always"):
            steps.append((item, "update", fields or sorted(item.secrets), held))
    return steps


def apply(client, steps):
    for item, action, _fields, _before in steps:
        if action == "tune":
            client.write(item.write_path + "/tune", item.tune())
        else:
            client.write(item.write_path, item.payload())


def report(steps):
    """The changes (a line each) and the diff of public fields; never a secret."""
    changes, before, after = [], {}, {}
    for item, action, fields, held in steps:
        changes.append("%s %s%s" % ({"create": "create", "update": "update", "tune": "tune"}[action], item.label,
                                    "" if action == "create" else " (%s)" % ", ".join(fields)))
        before[item.label] = None if held is None else {field: held.get(field) for field in fields}
        after[item.label] = {field: item.public.get(field, "(secret)") for field in fields}
    return changes, dict(before=before, after=after)
