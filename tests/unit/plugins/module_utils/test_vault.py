# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault: what is written and when, seal states as messages, keys kept in owner-only files,
and the simulated apps' Vault checks. A fake Vault (paths to answers) stands in for hvac;
the integration tests run the real OpenBao."""

from __future__ import annotations

import json
import os
import stat

from types import SimpleNamespace

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError
from ansible_collections.gitops.progressive.plugins.module_utils.sim import routing, traffic
from ansible_collections.gitops.progressive.plugins.module_utils.vault import (
    checks, config, credentials, encrypted, init)
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import VaultError, require_unsealed


class FakePaths:
    """``read``/``write`` over a dict of path -> answer, recording writes."""

    def __init__(self, answers=None):
        self.answers = dict(answers or {})
        self.writes = []

    def read(self, path):
        return self.answers.get(path)

    def write(self, path, data):
        self.writes.append((path, data))


MOUNTS = {"data": {"transit/": {"type": "transit", "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}},
                   "sys/": {"type": "system"}}}
WANTED = dict(
    secrets_engines=[dict(path="transit", type="transit"), dict(path="database", type="database")],
    policies=[dict(name="webapp", policy='path "database/creds/webapp" { capabilities = ["read"] }\n')],
    database_connections=[dict(name="postgres", plugin_name="postgresql-database-plugin",
                               connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres",
                               username="postgres", password="s3cret", allowed_roles=["b", "a"],
                               options=dict(verify_connection=True))],
    database_roles=[dict(name="webapp", db_name="postgres", creation_statements=["CREATE ROLE x;"],
                         default_ttl="1h", max_ttl="24h")],
    kubernetes_roles=[dict(name="webapp", bound_service_account_names=["webapp"],
                           bound_service_account_namespaces=["web"], token_policies=["webapp"], token_ttl="1h")],
)
HELD = {
    "sys/mounts": {"data": dict(MOUNTS["data"], **{"database/": {"type": "database", "config": {}}})},
    "sys/policies/acl/webapp": {"data": {"policy": 'path "database/creds/webapp" { capabilities = ["read"] }'}},
    "database/config/postgres": {"data": {"plugin_name": "postgresql-database-plugin", "allowed_roles": ["a", "b"],
                                          "connection_details": {
                                              "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres",
                                              "username": "postgres"}}},
    "database/roles/webapp": {"data": {"db_name": "postgres", "creation_statements": ["CREATE ROLE x;"],
                                       "default_ttl": 3600, "max_ttl": 86400, "revocation_statements": []}},
    "auth/kubernetes/role/webapp": {"data": {"bound_service_account_names": ["webapp"],
                                             "bound_service_account_namespaces": ["web"],
                                             "token_policies": ["webapp"], "token_ttl": 3600}},
}


@pytest.mark.parametrize("value, expected", [(30, 30), ("30", 30), ("90s", 90), ("15m", 900), ("1h30m", 5400),
                                             ("24h", 86400), ("7d", 604800), ("1.5h", 5400), ("1500ms", 1)])
def test_durations_are_compared_in_seconds(value, expected):
    assert config.seconds(value) == expected


@pytest.mark.parametrize("value", ["", "1w", "an hour", True, "1h 30m", "h"])
def test_a_bad_duration_names_the_field(value):
    with pytest.raises(VaultError, match="default_ttl must be a duration"):
        config.seconds(value, "default_ttl")


def test_from_nothing_everything_is_created_in_order_with_its_secrets():
    paths = FakePaths({"sys/mounts": MOUNTS})
    steps = config.plan(paths, WANTED)
    assert [(item.label, action) for item, action, _fields, _before in steps] == [
        ("secrets engine database", "create"), ("policy webapp", "create"),
        ("database connection database/config/postgres", "create"),
        ("database role database/roles/webapp", "create"),
        ("Kubernetes auth role auth/kubernetes/role/webapp", "create")]
    config.apply(paths, steps)
    written = dict(paths.writes)
    assert written["sys/mounts/database"] == {"type": "database"}
    assert written["database/config/postgres"]["password"] == "s3cret"
    assert written["database/config/postgres"]["verify_connection"] is True
    changes, diff = config.report(steps)
    assert "create policy webapp" in changes
    assert "s3cret" not in json.dumps([changes, diff])


def test_what_vault_holds_already_is_not_written_again():
    paths = FakePaths(HELD)
    assert config.plan(paths, WANTED) == []


def test_secrets_are_written_again_only_when_asked():
    steps = config.plan(FakePaths(HELD), WANTED, update_secrets="always")
    assert [(item.label, action, fields) for item, action, fields, _before in steps] == [
        ("database connection database/config/postgres", "update", ["password", "verify_connection"])]
    _changes, diff = config.report(steps)
    assert "s3cret" not in json.dumps(diff)


def test_a_changed_field_is_updated_and_reported_with_its_old_value():
    held = dict(HELD, **{"database/roles/webapp": {"data": dict(HELD["database/roles/webapp"]["data"], default_ttl=60)}})
    steps = config.plan(FakePaths(held), WANTED)
    assert len(steps) == 1
    changes, diff = config.report(steps)
    assert changes == ["update database role database/roles/webapp (default_ttl)"]
    assert diff["before"]["database role database/roles/webapp"] == {"default_ttl": 60}
    assert diff["after"]["database role database/roles/webapp"] == {"default_ttl": "1h"}


def test_an_engine_of_another_type_is_never_replaced():
    held = dict(HELD, **{"sys/mounts": {"data": dict(HELD["sys/mounts"]["data"], **{"database/": {"type": "kv"}})}})
    with pytest.raises(VaultError, match="secrets engine database exists with type 'kv', wanted 'database'"):
        config.plan(FakePaths(held), WANTED)


def test_a_bad_duration_is_refused_before_anything_is_read_or_written():
    paths = FakePaths({"sys/mounts": MOUNTS})
    wanted = dict(WANTED, kubernetes_roles=[dict(WANTED["kubernetes_roles"][0], token_ttl="an hour")])
    with pytest.raises(VaultError, match="token_ttl of Kubernetes auth role auth/kubernetes/role/webapp must be a "
                                         "duration"):
        config.plan(paths, wanted)
    assert paths.writes == []


def test_kv_v2_is_compared_as_vault_holds_it():
    wanted = dict(secrets_engines=[dict(path="secret", type="kv-v2")])
    steps = config.plan(FakePaths({"sys/mounts": MOUNTS}), wanted)
    paths = FakePaths()
    config.apply(paths, steps)
    assert paths.writes == [("sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})]
    held = {"sys/mounts": {"data": {"secret/": {"type": "kv", "options": {"version": "2"}, "config": {}}}}}
    assert config.plan(FakePaths(held), wanted) == []


def test_a_mount_ttl_change_is_a_tune():
    wanted = dict(secrets_engines=[dict(path="transit", type="transit", max_lease_ttl="1h")])
    steps = config.plan(FakePaths({"sys/mounts": MOUNTS}), wanted)
    paths = FakePaths()
    config.apply(paths, steps)
    assert paths.writes == [("sys/mounts/transit/tune", {"max_lease_ttl": "1h"})]


class FakeSys:
    def __init__(self, initialized=False, sealed=True, threshold=2, fail=None):
        self.status = dict(initialized=initialized, sealed=sealed, t=threshold, n=3, progress=0, version="2.7.2")
        self.fail = fail
        self.given = []

    def read_seal_status(self):
        if self.fail:
            raise self.fail
        return dict(self.status)

    def initialize(self, secret_shares, secret_threshold):
        self.status.update(initialized=True, t=secret_threshold, n=secret_shares)
        return dict(keys_base64=["k%d" % index for index in range(secret_shares)], root_token="s.root")

    def submit_unseal_key(self, key):
        self.given.append(key)
        self.status["progress"] += 1
        if self.status["progress"] >= self.status["t"]:
            self.status.update(sealed=False, progress=0)
        return dict(self.status)

    def read_health_status(self, method="GET"):
        return dict(sealed=self.status["sealed"], standby=False)


class FakeClient:
    def __init__(self, **status):
        self.sys = FakeSys(**status)


def test_init_writes_keys_and_token_owner_only_and_unseals(tmp_path):
    client = FakeClient()
    keys, token = str(tmp_path / "init" / "keys.json"), str(tmp_path / "init" / "root-token")
    result = init.ensure(client, "http://127.0.0.1:1", keys, token, 3, 2, True, False)
    assert result == dict(changed=True, done=["initialised", "unsealed"], initialized=True, sealed=False,
                          version="2.7.2", keys_file_encrypted=False)
    assert "s.root" not in json.dumps(result)
    for path in (keys, token):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(keys)).st_mode) == 0o700
    assert json.load(open(keys))["keys_base64"] == ["k0", "k1", "k2"]
    assert client.sys.given == ["k0", "k1"]
    # Once done, nothing more to do.
    assert init.ensure(client, "http://127.0.0.1:1", keys, token, 3, 2, True, False)["changed"] is False


def test_an_existing_keys_file_is_never_overwritten(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    with pytest.raises(VaultError, match="refusing to overwrite it"):
        init.ensure(FakeClient(), "http://127.0.0.1:1", str(keys), None, 3, 2, True, False)
    assert keys.read_text() == "{}"


def test_check_mode_reports_and_writes_nothing(tmp_path):
    keys = tmp_path / "keys.json"
    result = init.ensure(FakeClient(), "http://127.0.0.1:1", str(keys), None, 3, 2, True, True)
    assert result["changed"] and result["done"] == ["initialised", "unsealed"]
    assert not keys.exists()


def test_a_sealed_vault_without_its_keys_file_says_so(tmp_path):
    with pytest.raises(VaultError, match="is sealed and its keys file .* does not exist") as raised:
        init.ensure(FakeClient(initialized=True), "http://127.0.0.1:1", str(tmp_path / "none.json"), None, 3, 2,
                    True, False)
    assert raised.value.details["vault_state"] == "sealed"


def test_wrong_keys_leave_it_sealed_with_a_clear_error(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(dict(keys_base64=["x"])))
    with pytest.raises(VaultError, match="still sealed after the 1 keys"):
        init.ensure(FakeClient(initialized=True), "http://127.0.0.1:1", str(keys), None, 3, 2, True, False)


def ansible_vault(password):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password))])


def test_an_encrypted_keys_file_is_ansible_vaults_format_and_unseals(tmp_path):
    client = FakeClient()
    keys = tmp_path / "keys.vault"
    init.ensure(client, "http://127.0.0.1:1", str(keys), None, 3, 2, False, False, b"pass phrase")
    text = keys.read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n") and "k0" not in text and "s.root" not in text
    assert stat.S_IMODE(os.stat(str(keys)).st_mode) == 0o600
    # Ansible's own implementation reads it...
    assert json.loads(ansible_vault(b"pass phrase").decrypt(text))["keys_base64"] == ["k0", "k1", "k2"]
    # ...and the module unseals with it.
    result = init.ensure(client, "http://127.0.0.1:1", str(keys), None, 3, 2, True, False, b"pass phrase")
    assert result["done"] == ["unsealed"] and client.sys.given == ["k0", "k1"] and result["keys_file_encrypted"]


def test_a_keys_file_from_ansible_vault_encrypt_is_read(tmp_path):
    keys = tmp_path / "keys.vault"
    keys.write_bytes(ansible_vault(b"other").encrypt(json.dumps(dict(keys_base64=["a", "b"]))))
    client = FakeClient(initialized=True)
    init.ensure(client, "http://127.0.0.1:1", str(keys), None, 3, 2, True, False, b"other")
    assert client.sys.given == ["a", "b"]


@pytest.mark.parametrize("password, message", [
    (None, "is encrypted with Ansible Vault: give its password"),
    (b"wrong", "cannot be decrypted with the password given"),
])
def test_an_encrypted_keys_file_needs_its_password(password, message, tmp_path):
    keys = tmp_path / "keys.vault"
    keys.write_text(encrypted.encrypt(b'{"keys_base64": ["a"]}', b"right"))
    client = FakeClient(initialized=True)
    with pytest.raises(VaultError, match=message) as raised:
        init.ensure(client, "http://127.0.0.1:1", str(keys), None, 3, 2, True, False, password)
    assert raised.value.details["vault_state"] == "sealed" and client.sys.given == []


@pytest.mark.parametrize("text, message", [
    ("$ANSIBLE_VAULT;1.1;AES256\nzz\n", "not a well-formed Ansible Vault file"),
    ("$ANSIBLE_VAULT;1.1;AES128\n00\n", "only AES256 is read"),
])
def test_a_malformed_encrypted_file_is_named(text, message):
    with pytest.raises(VaultError, match=message):
        encrypted.decrypt(text, b"p", "/k")


def test_the_same_text_encrypts_differently_each_time():
    assert encrypted.encrypt(b"x", b"p") != encrypted.encrypt(b"x", b"p")
    with pytest.raises(VaultError, match="empty password"):
        encrypted.encrypt(b"x", b"")


class FakeModule:
    """What the checks read of a module: its parameters, community.hashi_vault's adapter
    (the address), and the no_log values they add to."""

    def __init__(self, **params):
        self.params = params
        self.no_log_values = set()
        self.adapter = SimpleNamespace(get_option=self.params.get)
        self.connection_options = SimpleNamespace(process_connection_options=lambda: None)
        self.authenticator = SimpleNamespace(validate=lambda: None)


def init_module(tmp_path, **params):
    return FakeModule(**dict(dict(url="http://127.0.0.1:8200", keys_file=str(tmp_path / "init" / "keys.json"),
                                  token_file=None, key_shares=3, key_threshold=2, keys_file_password=None,
                                  keys_in_clear=True), **params))


SECTIONS = ("secrets_engines", "auth_methods", "policies", "transit_keys", "database_connections", "database_roles",
            "kubernetes_auth", "kubernetes_roles")


def config_module(**params):
    base = dict(url="http://127.0.0.1:8200", auth_method="token", token="s.root-token-of-the-test",
                **{section: [] for section in SECTIONS}, **{consent: False for consent in checks.CONSENTS})
    return FakeModule(**dict(base, **params))


@pytest.mark.parametrize("shares, threshold, message", [
    (3, 0, "key_threshold must be between 1 and 255"), (3, 4, "key_threshold must be between 1 and key_shares"),
    (3, 1, "key_threshold must be more than 1 when key_shares is more than 1"),
    (0, 1, "key_shares must be between 1 and 255"), (256, 2, "key_shares must be between 1 and 255")])
def test_a_threshold_vault_would_refuse_is_refused_before_anything(shares, threshold, message, tmp_path):
    with pytest.raises(InputError, match=message):
        checks.check_init(init_module(tmp_path, key_shares=shares, key_threshold=threshold))


def test_keys_in_clear_need_consent_only_when_a_new_keys_file_would_be_written(tmp_path):
    module = init_module(tmp_path, keys_in_clear=False)
    with pytest.raises(InputError, match=r"keys_file: without keys_file_password a new Vault's unseal keys and root "
                                         r"token would be written to .* in clear; set keys_in_clear: true"):
        checks.check_init(module)
    checks.check_init(init_module(tmp_path, keys_in_clear=False, keys_file_password="a password"))
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "keys.json").write_text("{}")
    checks.check_init(module)  # read to unseal, never written
    with pytest.raises(InputError, match="keys_file_password is blank"):
        checks.check_init(init_module(tmp_path, keys_in_clear=False, keys_file_password="  "))


def test_every_problem_is_named_at_once_with_vaults_address_and_no_credentials(tmp_path):
    module = init_module(tmp_path, url="https://admin:pw-in-url@vault.example", keys_file="keys.json", key_shares=0)
    with pytest.raises(InputError) as raised:
        checks.check_init(module)
    message = str(raised.value)
    assert message.startswith("vault_init (Vault at https://***@vault.example): 3 problems: url may not carry "
                              "credentials")
    assert "keys_file must be an absolute path" in message and "key_shares must be between 1 and 255" in message
    assert "pw-in-url" not in message


@pytest.mark.parametrize("name, problem", [
    ("keys.json", "must be an absolute path"), ("{tmp}/.git/keys.json", "may not be in a git directory"),
    ("{tmp}/link", "is a symbolic link"), ("{tmp}", "is a directory"), ("{tmp}/file/keys.json", "is not a directory"),
    ("", "may not be empty"), ("{tmp}/.GIT/keys.json", "may not be in a git directory"),
    ("{tmp}/linked-dir/keys.json", "is under a symbolic link"), ("{tmp}/linked-dir/new/keys.json", "under a symbolic"),
    ("{tmp}/dangling-dir/keys.json", "is under a symbolic link"), ("{tmp}/file/../keys.json", "may not climb")])
def test_a_keys_file_is_an_absolute_path_to_a_real_file(name, problem, tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "real-dir").mkdir()
    (tmp_path / "linked-dir").symlink_to(tmp_path / "real-dir")
    (tmp_path / "dangling-dir").symlink_to(tmp_path / "nowhere")
    assert problem in " ".join(checks.file_problems("keys_file", name.format(tmp=tmp_path)))
    assert checks.file_problems("keys_file", str(tmp_path / "new" / "dir" / "keys.json")) == []


@pytest.mark.parametrize("value", [30, "30", "90s", "1h30m", "7d", "0", "1.5h"])
def test_vault_durations_are_accepted_in_each_of_its_forms(value):
    assert checks.ttl_problems("token_ttl", value) == []


@pytest.mark.parametrize("value, problem", [
    ("1 hour", "must be a duration like 90s"), ("-1h", "may not be negative"), ("1w", "must be a duration"),
    ("1000000h", "must be at most 10 years"), (" ", "may not be empty"), ("0x10", "must be a duration")])
def test_vault_durations_in_another_grammar_are_refused(value, problem):
    assert problem in checks.ttl_problems("token_ttl", value)[0]


def test_a_default_ttl_over_its_maximum_is_refused():
    assert checks.ttl_order_problems("default_ttl", "2h", "max_ttl", "3600") == [
        "default_ttl (2h) is longer than max_ttl (3600): Vault refuses it"]
    assert checks.ttl_order_problems("default_ttl", "2h", "max_ttl", "0") == []  # 0: the system's maximum


@pytest.mark.parametrize("name, problem", [
    ("", "may not be empty"), ("web*", "not a pattern"), ("team/web", "not a path"), ("web app", "must be a Vault"),
    ("a" * 129, "must be a Vault"), ("-web", "must be a Vault"), ("webapp\n", "must be a Vault"),
    ("w\u00e9bapp", "must be a Vault")])
def test_a_vault_name_is_one_name(name, problem):
    assert problem in checks.vault_name_problems("auth_role", name)[0]
    assert checks.vault_name_problems("auth_role", "web_app-1.v2") == []


def test_policy_names_are_lower_case_and_not_the_immutable_ones():
    assert "lower case" in checks.policy_name_problems("name", "WebApp")[0]
    assert "cannot be written" in checks.policy_name_problems("name", "root")[0]
    assert checks.policy_name_problems("name", "default") == []
    assert "lower case" in checks.policy_name_problems("name", "default\n")[0]
    assert "lower case" in checks.policy_name_problems("name", "root\n")[0]


@pytest.mark.parametrize("names, fine", [
    (["web-*"], True), (["*-worker"], True), (["*web*"], True), (["webapp", "web-*"], True),
    (["web*app"], False), (["web?"], False), (["Web-*"], False), (["web-*\n"], False), (["*", "webapp"], False)])
def test_bound_service_account_names_take_vaults_globs(names, fine):
    role = dict(name="web", mount="kubernetes", bound_service_account_names=names, bound_service_account_namespaces=[
        "web-*"], token_policies=["root\n"] if not fine else None, token_ttl=None, token_max_ttl=None, audience=None)
    module = config_module(kubernetes_roles=[role], allow_wildcard_bindings=True)
    if fine:
        checks.check_config(module)
        return
    with pytest.raises(InputError, match=r"kubernetes_roles\[0\]\.bound_service_account_names\[\d\]") as raised:
        checks.check_config(module)
    assert "kubernetes_roles[0].token_policies[0]" in str(raised.value)


def test_only_every_name_needs_the_wildcard_consent():
    role = dict(name="web", mount="kubernetes", bound_service_account_names=["**"],
                bound_service_account_namespaces=["web"], token_policies=None, token_ttl=None, token_max_ttl=None,
                audience=None)
    with pytest.raises(InputError, match="set allow_wildcard_bindings: true"):
        checks.check_config(config_module(kubernetes_roles=[role]))


@pytest.mark.parametrize("path, problem", [
    ("", "must be a mount path"), ("../sys", "must be a mount path of"), ("a//b", "must be a mount path of"),
    ("*", "not a pattern"), ("sys", "Vault keeps sys/"), ("cubbyhole/x", "Vault keeps cubbyhole/")])
def test_mount_paths(path, problem):
    assert problem in checks.mount_problems("path", path, engine=True)[0]
    assert checks.mount_problems("path", "/team-a/kv/", engine=True) == []


@pytest.mark.parametrize("text, needed", [
    ('path "sys/seal" { capabilities = ["update", "sudo"] }', ["allow_sudo_policies"]),
    ('path "sys/seal" { policy = "sudo" }', ["allow_sudo_policies"]),
    ('path "*" { capabilities = ["read"] }', ["allow_wildcard_policy_paths"]),
    ('path "+/*" {\n  capabilities = ["read"]\n}', ["allow_wildcard_policy_paths"]),
    ('{"path": {"*": {"capabilities": ["read", "sudo"]}}}', ["allow_sudo_policies", "allow_wildcard_policy_paths"]),
    ('path "secret/data/web/*" { capabilities = ["read"] }', []),
    ('path "+/creds/web" { capabilities = ["read"] }', []),
    # What Vault's parser undoes: escapes, comments inside a list, JSON escapes.
    ('{"path":{"sys/seal":{"capabilities":["su\\u0064o"]}}}', ["allow_sudo_policies"]),
    ('path "sys/seal" {\n  capabilities = ["update", # ]\n "sudo"]\n}', ["allow_sudo_policies"]),
    ('path "sys/seal" { capabilities = ["update", /* ] */ "sudo"] }', ["allow_sudo_policies"]),
    ('path "sys/seal" {\n  capabilities = ["update", // ]\n "su\\x64o"]\n}', ["allow_sudo_policies"]),
    ('path "sys/seal" { policy = "SUDO" }', ["allow_sudo_policies"]),
    # Writing where a token gives itself any policy.
    ('path "sys/*" { capabilities = ["create", "update", "delete", "read", "list"] }', ["allow_system_paths"]),
    ('path "sys/policy/*" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path "sys/policies/acl/admin" { capabilities = ["create"] }', ["allow_system_paths"]),
    ('path "sys/auth*" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path "sys/mounts/x" { capabilities = ["patch"] }', ["allow_system_paths"]),
    ('path "auth/*" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path "auth/kubernetes/role/admin" { policy = "write" }', ["allow_system_paths"]),
    ('path "identity/*" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path "+/policy/admin" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path "s*" { capabilities = ["update"] }', ["allow_system_paths"]),
    ('path = { "sys/mounts/x" = { capabilities = ["update"] } }', ["allow_system_paths"]),
    ('{"path": [{"sys/auth/x": {"capabilities": ["update"]}}]}', ["allow_system_paths"]),
    ('{"path": {"sys/auth/x": {"capabilities": ["update"]}, "sys/auth/x": {"capabilities": ["read"]}}}',
     ["allow_system_paths"]),
    ('path "*" { capabilities = ["update"] }', ["allow_wildcard_policy_paths", "allow_system_paths"]),
    # Reading there, denying, or a token's own paths (Vault's default policy) need nothing.
    ('path "sys/*" { capabilities = ["read", "list"] }', []),
    ('path "sys/audit" { capabilities = ["deny"] }', []),
    ('path "auth/token/renew-self" { capabilities = ["update"] }\n'
     'path "sys/leases/renew" { capabilities = ["update"] }\n'
     'path "identity/oidc/provider/+/authorize" { capabilities = ["read", "update"] }', []),
    ('path "secret/${a("x")}" { capabilities = ["read"] }  # sudo in a comment', []),
])
def test_policies_that_grant_more_than_an_app_needs_are_found(text, needed):
    assert checks.policy_dangers(text) == needed


@pytest.mark.parametrize("text, problem", [
    ('path "a" { capabilities = ["read"]\n', "a { is not closed"), ('path "a\n" {}', "a string is not closed"),
    ('path "a" { capabilities = ["re\\qd"] }', "unknown escape"), ('/* path "a" {}', "comment is not closed"),
    ('path "a" { capabilities = ["read" "list"] }', "expected ]"), ("# nothing\n", "grants nothing"),
    ('path "a" { capabilities = ["\\UFFFFFFFF"] }', "is no character")])
def test_a_policy_vault_could_not_read_is_named(text, problem):
    assert problem in checks.policy_text_problems("policies[0].policy", text)[0]


def test_the_vault_roles_policies_are_read_and_need_no_consent():
    text = ('path "database/creds/webapp" {\n  capabilities = ["read"]\n}\n'
            'path "transit/encrypt/webapp" {\n  capabilities = ["update"]\n}\n'
            'path "transit/decrypt/webapp" {\n  capabilities = ["update"]\n}\n')
    assert checks.policy_text_problems("policy", text) == [] and checks.policy_dangers(text) == []
    heredoc = 'path "sys/seal" {\n  capabilities = [<<-EOF\n    sudo\n    EOF\n  ]\n}\n'
    assert checks.policy_dangers(heredoc) == ["allow_sudo_policies"]


def test_dangerous_config_is_refused_naming_each_consent_and_passes_with_it():
    sections = dict(policies=[dict(name="default", policy='path "*" { capabilities = ["update", "sudo"] }')],
                    kubernetes_roles=[dict(name="web", mount="kubernetes", bound_service_account_names=["*"],
                                           bound_service_account_namespaces=["web"], token_policies=None,
                                           token_ttl=None, token_max_ttl=None, audience=None)])
    with pytest.raises(InputError) as raised:
        checks.check_config(config_module(**sections))
    for consent in checks.CONSENTS:
        assert "set %s: true" % consent in str(raised.value)
    checks.check_config(config_module(**dict(sections, **{consent: True for consent in checks.CONSENTS})))


def test_a_password_in_a_connection_url_is_refused_but_placeholders_are_not():
    connection = dict(name="db", mount="database", plugin_name="postgresql-database-plugin", username=None,
                      password=None, allowed_roles=None)
    for url in ("postgresql://{{username}}:{{password}}@db:5432/postgres", "{{username}}:{{password}}@tcp(db:3306)/"):
        checks.check_config(config_module(database_connections=[dict(connection, connection_url=url)]))
    with pytest.raises(InputError, match=r"connection_url may not carry a password.*\*\*\*@db"):
        checks.check_config(config_module(database_connections=[
            dict(connection, connection_url="postgresql://vault:s3cret@db:5432/postgres")]))
    for url in ("postgresql://db:5432/postgres?password=s3cret", "host=db user=vault password=x",
                "vault:pw@tcp(db:3306)/", "postgresql://vault:p@ss@db/postgres", "sqlserver://db?pwd=s3cret",
                "host=db password = 'a b'", "host=db password =s3cret"):
        assert checks.carries_password(url), url
    assert checks.keyword_secrets({"a": ["host=db password = 's3cret quoted' user=x"]}) == [
        "'s3cret quoted'", "s3cret quoted"]
    for url in ("postgresql://vault@db:5432/postgres", "host=db user={{username}} password = {{password}}",
                "postgresql://db:5432/postgres?sslmode=disable"):
        assert not checks.carries_password(url), url
    assert checks.without_placeholders({"a": ["x{{ password }}y"]}) == {"a": ["xy"]}


def test_no_log_values_are_found_in_sections_of_any_shape():
    spec = dict(token=dict(no_log=True), sections=dict(options=dict(password=dict(no_log=True), name=dict())))
    assert checks.no_log_values(spec, dict(token="t0ken", sections=[dict(password="pw", name="n"), "junk"])) == {
        "t0ken", "pw"}
    assert checks.no_log_values(spec, dict(token=None, sections="not a list")) == set()


def test_the_token_read_by_the_auth_options_is_masked():
    module = config_module()
    checks.check_config(module)
    assert "s.root-token-of-the-test" in module.no_log_values


def test_an_existing_token_file_stops_the_init_before_vault_is_asked(tmp_path):
    token = tmp_path / "root-token"
    token.write_text("s.old")
    client = FakeClient()
    for check_mode in (True, False):
        with pytest.raises(VaultError, match="root-token exists: refusing to overwrite it"):
            init.ensure(client, "http://x", str(tmp_path / "keys.json"), str(token), 3, 2, True, check_mode)
    assert not client.sys.status["initialized"] and not (tmp_path / "keys.json").exists()


def test_keys_are_never_issued_with_nowhere_to_keep_them(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    client = FakeClient()
    with pytest.raises(VaultError, match="cannot create .* for Vault's keys"):
        init.ensure(client, "http://x", str(blocked / "keys.json"), None, 3, 2, True, False)
    assert not client.sys.status["initialized"]


@pytest.mark.parametrize("status, message, state", [
    (dict(initialized=False), "is not initialised, so it cannot be configured", "uninitialized"),
    (dict(initialized=True, sealed=True), r"is sealed \(0 of 2 unseal keys given\), so it cannot be configured",
     "sealed"),
    (dict(fail=ConnectionError("Connection refused")), "does not answer: Connection refused", "unreachable"),
])
def test_vault_states_are_named_before_any_request(status, message, state):
    with pytest.raises(VaultError, match="Vault at http://127.0.0.1:8200 " + message) as raised:
        require_unsealed(FakeClient(**status), "http://127.0.0.1:8200", "be configured")
    assert raised.value.details["vault_state"] == state


def test_app_credentials_on_a_sealed_vault_name_vault_not_the_login():
    with pytest.raises(VaultError, match="is sealed .* so it cannot issue database credentials database/creds/web "
                                         "to service account ns/web"):
        credentials.issue(FakeClient(initialized=True, sealed=True), "http://v", "jwt", "ns/web", "kubernetes",
                          "web", "database", "web")


def test_a_pod_needs_vault_when_its_template_names_vault_and_a_role():
    pod = {"metadata": {"namespace": "web", "name": "web-1"},
           "spec": {"serviceAccountName": "web", "containers": [{"env": [
               {"name": "VAULT_ADDR", "value": "http://127.0.0.1:8200"}, {"name": "VAULT_ROLE", "value": "web"}]}]}}
    need = traffic.vault_need(pod)
    assert need == ("http://127.0.0.1:8200", "web", "web", "web", "web", "kubernetes", "database", None, "transit")
    assert need.database_role == "web" and need.transit_key is None
    pod["spec"]["containers"][0]["env"].append({"name": "VAULT_TRANSIT_KEY", "value": "web-key"})
    assert traffic.vault_need(pod).transit_key == "web-key"
    pod["spec"]["containers"][0]["env"] = pod["spec"]["containers"][0]["env"][:1]
    assert traffic.vault_need(pod) is None


def test_vault_checks_ask_once_for_requests_that_come_together():
    import threading

    asked, started = [], threading.Event()

    def slow_ask(need):
        asked.append(need)
        started.set()
        release.wait(5)

    release = threading.Event()
    checks = routing.VaultChecks(slow_ask, ttl=5.0)
    need = traffic.VaultNeed("http://v", "web", "web", "web", "web")
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(checks(need))) for _request in range(5)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(asked) == 1 and answers == [(True, "")] * 5


def test_vault_checks_ask_once_per_ttl_and_keep_the_reason():
    now = [0.0]
    asked = []

    def ask(need):
        asked.append(need)
        if len(asked) == 2:
            raise RuntimeError("Vault at http://v is sealed")

    checks = routing.VaultChecks(ask, ttl=5.0, clock=lambda: now[0])
    need = traffic.VaultNeed("http://v", "web", "web", "web", "web")
    assert checks(need) == (True, "") and checks(need) == (True, "")
    now[0] = 6.0
    assert checks(need) == (False, "Vault at http://v is sealed")
    assert len(asked) == 2


def test_an_app_that_needs_vault_answers_503_while_vault_does_not_serve_it():
    pod = traffic.PodTraffic("web", "web-1", "web", 0.0, 25.0, 0.0, image="web:1",
                             vault=traffic.VaultNeed("http://v", "web", "web", "web", "web"))
    answers = routing.AppAnswers(vault_check=lambda need: (False, "Vault at http://v is sealed"))

    class Service:  # what the proxy found for web.web: the Service and its ready pods
        service = "web"
        pods = [pod]

    status, body = answers.answer(Service, "GET", "/")
    assert status == 503 and "Vault at http://v is sealed" in body["error"]
    answers.vault_check = lambda need: (True, "")
    assert answers.answer(Service, "GET", "/")[0] == 200


class FakeTransit:
    """transit/encrypt and transit/decrypt of one key; ``broken`` gives back another value."""

    def __init__(self, key="web", broken=False):
        self.key, self.broken, self.calls = key, broken, []

    def encrypt_data(self, name, plaintext, mount_point):
        self.calls.append(("encrypt", mount_point, name))
        if name != self.key:
            raise type("Forbidden", (Exception,), {})("permission denied")
        return {"data": {"ciphertext": "vault:v1:" + plaintext[::-1]}}

    def decrypt_data(self, name, ciphertext, mount_point):
        self.calls.append(("decrypt", mount_point, name))
        plaintext = ciphertext[len("vault:v1:"):][::-1]
        return {"data": {"plaintext": "other" if self.broken else plaintext}}


def transit_client(**transit):
    client = FakeClient(initialized=True, sealed=False)
    client.secrets = type("Secrets", (), {})()
    client.secrets.transit = FakeTransit(**transit)
    return client


def test_the_transit_round_trip_encrypts_and_decrypts_with_the_apps_key():
    client = transit_client()
    assert credentials.round_trip(client, "http://v", "transit", "web", "ns/web") is True
    assert client.secrets.transit.calls == [("encrypt", "transit", "web"), ("decrypt", "transit", "web")]


@pytest.mark.parametrize("transit, key, message", [
    (dict(), "other", r"refused transit/encrypt/other \(permission denied\) while trying to encrypt and decrypt "
                      r"with transit key transit/other as service account ns/web"),
    (dict(broken=True), "web", "did not give back what transit key transit/web encrypted for service account ns/web"),
])
def test_a_transit_round_trip_that_fails_names_the_key(transit, key, message):
    with pytest.raises(VaultError, match=message):
        credentials.round_trip(transit_client(**transit), "http://v", "transit", key, "ns/web")


def logged_in_client(**transit):
    """A client whose login and credentials work, recording revocations."""
    client = transit_client(**transit)
    revoked = []
    client.auth = type("Auth", (), {})()
    client.auth.kubernetes = type("Kubernetes", (), {"login": staticmethod(
        lambda role, jwt, mount_point, use_token: {"auth": {"token_policies": ["web"], "lease_duration": 60}})})()
    client.auth.token = type("Token", (), {"revoke_self": staticmethod(lambda: revoked.append(True))})()
    client.secrets.database = type("Database", (), {"generate_credentials": staticmethod(
        lambda name, mount_point: {"data": {"username": "u", "password": "p"}, "lease_id": "l", "lease_duration": 60})})()
    return client, revoked


def test_issue_with_transit_checks_it_and_revokes_when_asked():
    client, revoked = logged_in_client()
    found = credentials.issue(client, "http://v", "jwt", "ns/web", "kubernetes", "web", "database", "web",
                              revoke=True, transit_key="web")
    assert found["transit_checked"] and found["revoked"] and revoked == [True]


@pytest.mark.parametrize("transit, message", [
    (dict(broken=True), "did not give back what transit key transit/web encrypted"),
    (dict(key="other"), r"refused transit/encrypt/web \(permission denied\)"),
])
def test_a_failed_transit_round_trip_still_revokes_the_login(transit, message):
    client, revoked = logged_in_client(**transit)
    with pytest.raises(VaultError, match=message):
        credentials.issue(client, "http://v", "jwt", "ns/web", "kubernetes", "web", "database", "web",
                          transit_key="web")
    assert revoked == [True]


def test_encryption_that_cannot_work_stops_the_init_before_vault_is_asked(tmp_path, monkeypatch):
    def broken(*args):
        raise TypeError("backend required")

    monkeypatch.setattr(encrypted, "_keys", broken)
    client = FakeClient()
    with pytest.raises(VaultError, match=r"cannot encrypt the keys file on this machine \(TypeError: backend required\); "
                                         "nothing was initialised"):
        init.ensure(client, "http://127.0.0.1:1", str(tmp_path / "keys"), None, 3, 2, True, False, b"pw")
    assert not client.sys.status["initialized"] and not (tmp_path / "keys").exists()


def test_keys_file_json_that_is_not_an_object_is_named(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text("[1, 2]")
    with pytest.raises(VaultError, match="holds no keys_base64 list"):
        init.ensure(FakeClient(initialized=True), "http://127.0.0.1:1", str(keys), None, 3, 2, True, False)
