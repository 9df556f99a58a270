# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The input battery of the Vault modules (vault_init, vault_config, vault_app_credentials).

Every case is refused before Vault is asked anything or a file is written, naming its
option, with no token, key or password in the output (battery.py). The values Vault takes
but that grant too much are refused unless their consent option is set, and get past the
checks with it; valid inputs such as the vault role's get past them too (they reach for
Vault, which the closed world refuses).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
from battery import Case, check, kube, run, secrets_of

URL = "http://127.0.0.1:18200"
TOKEN = "battery-root-token-0123456789"
FIXTURES = tempfile.mkdtemp(prefix="gitops-battery-vault-")
atexit.register(shutil.rmtree, FIXTURES, True)
KEYS = os.path.join(FIXTURES, "init", "keys.json")
TOKEN_FILE = os.path.join(FIXTURES, "init", "root-token")
LINK = os.path.join(FIXTURES, "keys-link.json")
if not os.path.lexists(LINK):
    os.symlink(os.path.join(FIXTURES, "elsewhere.json"), LINK)
REAL_DIR = os.path.join(FIXTURES, "real-dir")
LINKED_DIR = os.path.join(FIXTURES, "linked-dir")
os.makedirs(REAL_DIR, exist_ok=True)
if not os.path.lexists(LINKED_DIR):
    os.symlink(REAL_DIR, LINKED_DIR)
REGULAR_FILE = os.path.join(FIXTURES, "a-file")
with open(REGULAR_FILE, "w") as _handle:
    _handle.write("not a directory\n")

INIT = dict(url=URL, keys_file=KEYS, keys_in_clear=True)
# Options the harness takes for secrets by their names: paths and a choice, shown as given.
NOT_SECRETS = ("token_file", "token_path", "update_secrets")
POLICY = 'path "database/creds/webapp" {\n  capabilities = ["read"]\n}\n'
ENGINE = dict(path="transit", type="transit")
CONNECTION = dict(name="postgres", plugin_name="postgresql-database-plugin",
                  connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:15432/postgres?sslmode=disable",
                  username="postgres", password="battery-db-password", allowed_roles=["*"])
DATABASE_ROLE = dict(name="webapp", db_name="postgres", default_ttl="1h", max_ttl="24h",
                     creation_statements=['CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\';'])
KUBERNETES = dict(kubernetes_host="https://127.0.0.1:6443", token_reviewer_jwt="battery-reviewer-jwt-0123456789",
                  kubernetes_ca_cert="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                  disable_local_ca_jwt=True)
LOGIN = dict(name="webapp", bound_service_account_names=["webapp"], bound_service_account_namespaces=["web"],
             token_policies=["webapp"], token_ttl="1h")
SECRETS = ("battery-db-password", "battery-reviewer-jwt-0123456789", TOKEN)


def init(why, option, **args):
    return Case("vault_init", dict(INIT, **args), option, why)


def config(why, option, check_mode=False, secrets=(), **sections):
    return Case("vault_config", dict(dict(url=URL, token=TOKEN), **sections), option, why,
                secrets=SECRETS + tuple(secrets), check_mode=check_mode)


def policy(why, option, **fields):
    return config(why, "policies[0].%s" % option if option in ("name", "policy") else option,
                  policies=[dict(dict(name="webapp", policy=POLICY), **fields)])


def engine(why, option, **fields):
    return config(why, "secrets_engines[0].%s" % option, secrets_engines=[dict(ENGINE, **fields)])


def transit(why, option, **fields):
    return config(why, "transit_keys[0].%s" % option, transit_keys=[dict(dict(name="webapp"), **fields)])


def connection(why, option, secrets=(), **fields):
    return config(why, "database_connections[0].%s" % option, database_connections=[dict(CONNECTION, **fields)],
                  secrets=secrets)


def database_role(why, option, **fields):
    return config(why, "database_roles[0].%s" % option, database_roles=[dict(DATABASE_ROLE, **fields)])


def kubernetes(why, option, **fields):
    return config(why, "kubernetes_auth[0].%s" % option, kubernetes_auth=[dict(KUBERNETES, **fields)])


def login(why, option, **fields):
    return config(why, "kubernetes_roles[0].%s" % option, kubernetes_roles=[dict(LOGIN, **fields)])


APP = kube(url=URL, service_account="webapp", service_account_namespace="web", auth_role="webapp",
           database_role="webapp", transit_key="webapp")


def app(why, option, **args):
    return Case("vault_app_credentials", dict(APP, **args), option, why)


LONG = "a" * 64
CREDENTIALS_URL = "https://admin:hunter2-secret@vault.example:8200"

INIT_CASES = [
    init("empty address", "url", url=""),
    Case("vault_init", dict(keys_file=KEYS, keys_in_clear=True), "url", "no address at all (nor VAULT_ADDR)"),
    init("not http", "url", url="ftp://vault.example"),
    init("credentials in the address", "url", url=CREDENTIALS_URL),
    init("a token as the address's user", "url", url="https://s.abcdefghijklmnopqrstuvwx@vault.example"),
    init("port 0", "url", url="http://vault.example:0"),
    init("port out of range", "url", url="http://vault.example:99999"),
    init("no scheme", "url", url="vault.example:8200"),
    init("no host", "url", url="http://"),
    init("a space in the address", "url", url="http://vault example"),
    init("empty keys file", "keys_file", keys_file=""),
    init("relative keys file", "keys_file", keys_file="keys.json"),
    init("keys file in .git", "keys_file", keys_file=os.path.join(FIXTURES, ".git", "keys.json")),
    init("keys file is a symlink", "keys_file", keys_file=LINK),
    init("keys file is a directory", "keys_file", keys_file=FIXTURES),
    init("keys file under a file", "keys_file", keys_file=os.path.join(REGULAR_FILE, "keys.json")),
    init("line break in the keys file", "keys_file", keys_file=os.path.join(FIXTURES, "a\nb")),
    init("relative token file", "token_file", token_file="root-token"),
    init("token file in .git", "token_file", token_file=os.path.join(FIXTURES, ".git", "root-token")),
    init("token file is the keys file", "token_file", token_file=KEYS),
    init("token file is a symlink", "token_file", token_file=LINK),
    init("keys file under a symlinked directory", "keys_file", keys_file=os.path.join(LINKED_DIR, "keys.json")),
    init("keys file in a new directory under a symlinked one", "keys_file",
         keys_file=os.path.join(LINKED_DIR, "new", "keys.json")),
    init("token file under a symlinked directory", "token_file", token_file=os.path.join(LINKED_DIR, "root-token")),
    init("keys file in .GIT", "keys_file", keys_file=os.path.join(FIXTURES, ".GIT", "keys.json")),
    init("token file in .Git", "token_file", token_file=os.path.join(FIXTURES, ".Git", "root-token")),
    init("keys file climbing with ..", "keys_file", keys_file=os.path.join(LINKED_DIR, "..", "keys.json")),
    init("no key shares", "key_shares", key_shares=0),
    init("negative key shares", "key_shares", key_shares=-1),
    init("more shares than Shamir allows", "key_shares", key_shares=256),
    init("huge key shares", "key_shares", key_shares=10 ** 12),
    init("key shares not a number", "key_shares", key_shares="five"),
    init("threshold 0", "key_threshold", key_threshold=0),
    init("threshold over the shares", "key_threshold", key_shares=5, key_threshold=6),
    init("threshold 1 of 5", "key_threshold", key_shares=5, key_threshold=1),
    init("negative threshold", "key_threshold", key_threshold=-3),
    init("blank password", "keys_file_password", keys_file_password="    ", keys_in_clear=False),
    init("unknown option", "keys_files", keys_files=KEYS),
    init("timeout 0", "timeout", timeout=0),
    init("negative timeout", "timeout", timeout=-5),
    init("retries not a number", "retries", retries="lots"),
    init("negative retries", "retries", retries=-1),
    init("no such CA file", "ca_cert", ca_cert=os.path.join(FIXTURES, "no-such-ca.pem")),
    init("unseal not a boolean", "unseal", unseal="maybe"),
    init("unknown option with credentials in the address", "unsealed", url=CREDENTIALS_URL, unsealed=True),
]

CONFIG_CASES = [
    config("credentials in the address", "url", url=CREDENTIALS_URL),
    config("no address", "url", url=""),
    config("no token", "token", token=None),
    config("unknown auth method", "auth_method", auth_method="magic"),
    config("unknown update_secrets", "update_secrets", update_secrets="sometimes"),
    config("consent not a boolean", "allow_wildcard_bindings", allow_wildcard_bindings="yes please"),
    config("a section that is not a list", "policies", policies="webapp"),
    config("a section with an element that is not a dict, its secrets beside it", "database_connections",
           database_connections=[CONNECTION, "postgres"]),
    config("the same policy twice", "policies", policies=[dict(name="webapp", policy=POLICY)] * 2),
    policy("empty name", "name", name=""),
    policy("capitals", "name", name="WebApp"),
    policy("a path as a name", "name", name="team/webapp"),
    policy("a wildcard as a name", "name", name="web*"),
    policy("a name too long", "name", name="a" * 129),
    policy("the root policy", "name", name="root"),
    policy("the response-wrapping policy", "name", name="response-wrapping"),
    policy("the default policy with a line break", "name", name="default\n"),
    config("the default policy with a line break, even with its consent", "policies[0].name",
           allow_default_policy_change=True, policies=[dict(name="default\n", policy=POLICY)]),
    policy("the root policy with a line break", "name", name="root\n"),
    policy("not ASCII", "name", name="w\u00e9bapp"),
    policy("a policy Vault could not read: an unknown escape", "policy",
           policy='path "a" { capabilities = ["re\\qd"] }'),
    policy("a policy Vault could not read: a string not closed", "policy", policy='path "a\n" {}'),
    policy("a policy Vault could not read: a comment not closed", "policy", policy='/* path "a" {}'),
    policy("a policy Vault could not read: no comma in a list", "policy",
           policy='path "a" { capabilities = ["read" "list"] }'),
    policy("a policy whose only path is in a comment", "policy", policy='# path "a" { capabilities = ["read"] }\n'),
    policy("empty policy", "policy", policy=""),
    policy("blank policy", "policy", policy="   \n"),
    policy("a policy without a path", "policy", policy="# nothing here\n"),
    policy("braces that do not match", "policy", policy='path "a" { capabilities = ["read"]\n'),
    policy("unknown key", "policies.rules", rules=POLICY),
    config("missing policy text", "policy", policies=[dict(name="webapp")]),
    engine("empty path", "path", path=""),
    engine("a path climbing out", "path", path="../transit"),
    engine("Vault's sys", "path", path="sys"),
    engine("under auth/", "path", path="auth/transit"),
    engine("an empty part", "path", path="team//transit"),
    engine("a wildcard", "path", path="*"),
    engine("empty type", "type", type=""),
    engine("a space in the type", "type", type="kv v2"),
    engine("a TTL in words", "default_lease_ttl", default_lease_ttl="1 hour"),
    engine("a negative TTL", "max_lease_ttl", max_lease_ttl="-1h"),
    engine("a huge TTL", "max_lease_ttl", max_lease_ttl="1000000h"),
    engine("weeks", "default_lease_ttl", default_lease_ttl="1w"),
    engine("default over the maximum", "default_lease_ttl", default_lease_ttl="2h", max_lease_ttl="1h"),
    engine("blank TTL", "default_lease_ttl", default_lease_ttl=" "),
    config("empty auth path", "auth_methods[0].path", auth_methods=[dict(path="", type="kubernetes")]),
    config("a space in the auth type", "auth_methods[0].type", auth_methods=[dict(path="k8s", type="kuber netes")]),
    transit("a space in the key name", "name", name="web app"),
    transit("a wildcard key", "name", name="*"),
    transit("a mount climbing out", "mount", mount="../transit"),
    transit("a space in the key type", "type", type="AES 256"),
    transit("a key name with a line break", "name", name="webapp\n"),
    transit("a key name not in ASCII", "name", name="w\u00e9bapp"),
    transit("a mount not in ASCII", "mount", mount="tr\u00e4nsit"),
    transit("a key type with a line break", "type", type="aes256-gcm96\n"),
    engine("a path with a line break", "path", path="transit\n"),
    connection("empty name", "name", name=""),
    connection("a password in the address", "connection_url",
               connection_url="postgresql://vault:s3cret-in-url@db:5432/postgres"),
    connection("empty address", "connection_url", connection_url=""),
    connection("two lines", "connection_url", connection_url="postgresql://db\n:5432"),
    connection("empty password", "password", password=""),
    connection("empty plugin", "plugin_name", plugin_name=""),
    connection("a path as an allowed role", "allowed_roles", allowed_roles=["team/webapp"]),
    connection("a password as a query parameter", "connection_url", secrets=("s3cret-in-query",),
               connection_url="postgresql://db:5432/postgres?sslmode=disable&password=s3cret-in-query"),
    connection("a password in libpq's keyword form", "connection_url", secrets=("s3cret-keyword",),
               connection_url="host=db port=5432 user=vault password=s3cret-keyword dbname=postgres"),
    connection("a short password in libpq's keyword form", "connection_url",
               connection_url="host=db user=vault password=pw1 dbname=postgres"),
    connection("a password in MySQL's form without a scheme", "connection_url", secrets=("mysql-s3cret",),
               connection_url="vault:mysql-s3cret@tcp(db:3306)/"),
    connection("a password holding '@'", "connection_url", secrets=("p@ss-w0rd-at",),
               connection_url="postgresql://vault:p@ss-w0rd-at@db:5432/postgres"),
    connection("a quoted password in libpq's keyword form, spaces around '='", "connection_url",
               secrets=("s3cret quoted",), connection_url="host=db user=vault password = 's3cret quoted'"),
    connection("a password in libpq's keyword form, spaces around '='", "connection_url",
               secrets=("s3cret-spaced",), connection_url="host=db user=vault password =  s3cret-spaced"),
    connection("a password as sqlserver's pwd parameter", "connection_url", secrets=("s3cret-pwd",),
               connection_url="sqlserver://db:1433?user id=vault&pwd=s3cret-pwd"),
    connection("a token as a query parameter", "connection_url", secrets=("s3cret-token-0123",),
               connection_url="https://db.example/?access_token=s3cret-token-0123"),
    database_role("a path climbing out as a name", "name", name="web/../x"),
    database_role("empty connection", "db_name", db_name=""),
    database_role("no statements", "creation_statements", creation_statements=[]),
    database_role("a blank statement", "creation_statements", creation_statements=[" "]),
    database_role("a TTL in words", "default_ttl", default_ttl="1 hour"),
    database_role("forever", "max_ttl", max_ttl="forever"),
    database_role("default over the maximum", "default_ttl", default_ttl="48h", max_ttl="24h"),
    database_role("hexadecimal", "default_ttl", default_ttl="0x10"),
    kubernetes("empty API server", "kubernetes_host", kubernetes_host=""),
    kubernetes("credentials in the API server's address", "kubernetes_host",
               kubernetes_host="https://admin:kube-secret-pw@api.example:6443"),
    kubernetes("no scheme", "kubernetes_host", kubernetes_host="api.example:6443"),
    kubernetes("not PEM", "kubernetes_ca_cert", kubernetes_ca_cert="not a certificate"),
    kubernetes("empty reviewer token", "token_reviewer_jwt", token_reviewer_jwt=""),
    kubernetes("empty mount", "mount", mount=""),
    login("empty name", "name", name=""),
    login("nobody bound", "bound_service_account_names", bound_service_account_names=[]),
    login("capitals in a service account", "bound_service_account_names", bound_service_account_names=["WebApp"]),
    login("a '*' in the middle (Vault takes it as a character)", "bound_service_account_names",
          bound_service_account_names=["web*app"]),
    login("a '?' glob Vault does not know", "bound_service_account_names", bound_service_account_names=["web-?"]),
    login("a glob with capitals", "bound_service_account_names", bound_service_account_names=["Web-*"]),
    login("a glob with a line break", "bound_service_account_names", bound_service_account_names=["web-*\n"]),
    login("a namespace glob with dots", "bound_service_account_namespaces", bound_service_account_namespaces=["web.*"]),
    config("'*' beside other names, even with consent", "kubernetes_roles[0].bound_service_account_names",
           kubernetes_roles=[dict(LOGIN, bound_service_account_names=["*", "webapp"])], allow_wildcard_bindings=True),
    login("a service account with a line break", "bound_service_account_names",
          bound_service_account_names=["webapp\n"]),
    login("a service account name too long", "bound_service_account_names",
          bound_service_account_names=["a" * 254]),
    login("dots in a namespace", "bound_service_account_namespaces", bound_service_account_namespaces=["web.app"]),
    login("a namespace too long", "bound_service_account_namespaces", bound_service_account_namespaces=[LONG]),
    login("an empty namespace", "bound_service_account_namespaces", bound_service_account_namespaces=[""]),
    login("the root policy for a login", "token_policies", token_policies=["root"]),
    login("the root policy with a line break for a login", "token_policies", token_policies=["root\n"]),
    login("a policy not in ASCII for a login", "token_policies", token_policies=["w\u00e9bapp"]),
    login("a role name not in ASCII", "name", name="w\u00e9bapp"),
    login("a role name with a line break", "name", name="webapp\n"),
    login("capitals in a policy", "token_policies", token_policies=["WebApp"]),
    login("a TTL in words", "token_ttl", token_ttl="1 hour"),
    login("TTL over the maximum", "token_ttl", token_ttl="2h", token_max_ttl="1h"),
    login("a negative maximum", "token_max_ttl", token_max_ttl="-5"),
    login("empty audience", "audience", audience=""),
    config("unknown key in a role", "kubernetes_roles.bound_sa",
           kubernetes_roles=[dict(LOGIN, bound_sa=["webapp"])]),
    config("every service account everywhere, even with consent", "bound_service_account_names",
           kubernetes_roles=[dict(LOGIN, bound_service_account_names=["*"], bound_service_account_namespaces=["*"])],
           allow_wildcard_bindings=True),
    config("refused in check mode too", "policies[0].name", check_mode=True,
           policies=[dict(name="Web", policy=POLICY)]),
]

APP_CASES = [
    app("empty service account", "service_account", service_account=""),
    app("capitals in the service account", "service_account", service_account="WebApp"),
    app("a service account name too long", "service_account", service_account="a" * 254),
    app("a wildcard service account", "service_account", service_account="web*"),
    app("capitals in the namespace", "service_account_namespace", service_account_namespace="Web"),
    app("a namespace too long", "service_account_namespace", service_account_namespace=LONG),
    app("a namespace climbing out", "service_account_namespace", service_account_namespace="../kube-system"),
    app("empty auth role", "auth_role", auth_role=""),
    app("a path as the auth role", "auth_role", auth_role="team/webapp"),
    app("a wildcard auth role", "auth_role", auth_role="*"),
    app("empty database role", "database_role", database_role=""),
    app("a database role climbing to sys", "database_role", database_role="../../sys/seal"),
    app("empty transit key", "transit_key", transit_key=""),
    app("a space in the transit key", "transit_key", transit_key="web app"),
    app("a transit key with a line break", "transit_key", transit_key="webapp\n"),
    app("an auth role not in ASCII", "auth_role", auth_role="w\u00e9bapp"),
    app("a database mount with a line break", "database_mount", database_mount="database\n"),
    app("empty auth mount", "auth_mount", auth_mount=""),
    app("a database mount climbing out", "database_mount", database_mount="../sys"),
    app("a wildcard transit mount", "transit_mount", transit_mount="*"),
    app("an empty audience", "audiences", audiences=[""]),
    app("no such kubeconfig", "kubeconfig", kubeconfig=os.path.join(FIXTURES, "no-such-kubeconfig")),
    app("empty context", "context", context=""),
    app("credentials in the address", "url", url=CREDENTIALS_URL),
    app("empty address", "url", url=""),
    app("unknown option", "namespace_name", namespace_name="web"),
    app("revoke not a boolean", "revoke", revoke="perhaps"),
    app("timeout 0", "timeout", timeout=0),
]

# Valid but dangerous: (the case, its consent option). Refused naming the option, and
# past the checks once it is set.
DANGEROUS = [
    (Case("vault_init", dict(INIT, keys_in_clear=False), "keys_in_clear", "keys written in clear"), "keys_in_clear"),
    (policy("Vault's default policy", "name", name="default"), "allow_default_policy_change"),
    (policy("sudo", "policy", policy='path "sys/seal" { capabilities = ["update", "sudo"] }'), "allow_sudo_policies"),
    (policy("sudo, the old way", "policy", policy='path "sys/seal" { policy = "sudo" }'), "allow_sudo_policies"),
    (policy("every path", "policy", policy='path "*" { capabilities = ["read"] }'), "allow_wildcard_policy_paths"),
    (policy("every mount's every path", "policy", policy='path "+/*" { capabilities = ["read"] }'),
     "allow_wildcard_policy_paths"),
    (policy("every path in JSON", "policy", policy='{"path": {"*": {"capabilities": ["read"]}}}'),
     "allow_wildcard_policy_paths"),
    (policy("sudo behind a JSON escape", "policy", policy='{"path": {"sys/seal": {"capabilities": ["su\\u0064o"]}}}'),
     "allow_sudo_policies"),
    (policy("sudo behind a comment inside the list", "policy",
            policy='path "sys/seal" {\n  capabilities = ["update", # ]\n "sudo"]\n}\n'), "allow_sudo_policies"),
    (policy("sudo behind a block comment", "policy",
            policy='path "sys/seal" { capabilities = ["update" /* ] */, "sudo"] }'), "allow_sudo_policies"),
    (policy("sudo behind an HCL escape", "policy", policy='path "sys/seal" { capabilities = ["su\\x64o"] }'),
     "allow_sudo_policies"),
    (policy("sudo in capitals", "policy", policy='path "sys/seal" { capabilities = ["SUDO"] }'),
     "allow_sudo_policies"),
    (policy("writing all of sys/", "policy",
            policy='path "sys/*" { capabilities = ["create", "update", "delete", "read", "list"] }'),
     "allow_system_paths"),
    (policy("writing policies", "policy", policy='path "sys/policy*" { capabilities = ["update"] }'),
     "allow_system_paths"),
    (policy("mounting auth methods", "policy", policy='path "sys/auth/*" { capabilities = ["create", "update"] }'),
     "allow_system_paths"),
    (policy("mounting engines", "policy", policy='path "sys/mounts/*" { capabilities = ["update"] }'),
     "allow_system_paths"),
    (policy("writing auth methods' roles", "policy", policy='path "auth/*" { capabilities = ["update"] }'),
     "allow_system_paths"),
    (policy("writing identities", "policy", policy='path "identity/*" { policy = "write" }'), "allow_system_paths"),
    (policy("writing policies through a '+'", "policy", policy='path "+/policy/admin" { capabilities = ["update"] }'),
     "allow_system_paths"),
    (policy("writing policies in JSON", "policy",
            policy='{"path": {"sys/policies/acl/admin": {"capabilities": ["create"]}}}'), "allow_system_paths"),
    (login("every service account", "bound_service_account_names", bound_service_account_names=["*"]),
     "allow_wildcard_bindings"),
    (login("every service account as '**'", "bound_service_account_names", bound_service_account_names=["**"]),
     "allow_wildcard_bindings"),
    (login("every namespace", "bound_service_account_namespaces", bound_service_account_namespaces=["*"]),
     "allow_wildcard_bindings"),
]

CASES = INIT_CASES + CONFIG_CASES + APP_CASES + [case for case, _consent in DANGEROUS]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_up_front(case):
    if not any(case.args.get(option) for option in NOT_SECRETS):
        check(case)
        return
    outcome = run(case)
    assert outcome.klass(case) == "refused", (outcome.msg, outcome.reached)
    shown = [case.args[option] for option in NOT_SECRETS if case.args.get(option)]
    assert not [secret for secret in secrets_of(case) if secret not in shown and secret in outcome.output]


@pytest.mark.parametrize("case, consent", DANGEROUS, ids=str)
def test_a_dangerous_value_names_its_consent_and_passes_with_it(case, consent):
    refused = run(case)
    assert consent in refused.msg and "set %s: true" % consent in refused.msg, refused.msg
    given = Case(case.target, dict(case.args, **{consent: True}), case.option, case.why, case.secrets)
    outcome = run(given)
    assert outcome.klass(given) == "reached", (outcome.msg, outcome.reached)


VALID = [
    Case("vault_init", dict(INIT, token_file=TOKEN_FILE), "url", "the vault role's keys in clear"),
    Case("vault_init", dict(INIT, keys_in_clear=False, keys_file_password="battery keys password"), "url",
         "keys encrypted"),
    Case("vault_init", dict(INIT, key_shares=1, key_threshold=1, token_file=None), "url", "one key"),
    Case("vault_init", dict(INIT, proxies="http://proxy-user:proxy-secret-pw@127.0.0.1:3128"), "url",
         "proxy credentials are masked, not refused"),
    config("the vault role's sections", "url", secrets_engines=[ENGINE, dict(path="database", type="database")],
           auth_methods=[dict(path="kubernetes", type="kubernetes")], kubernetes_auth=[KUBERNETES],
           database_connections=[CONNECTION], transit_keys=[dict(name="webapp", mount="transit")],
           database_roles=[dict(DATABASE_ROLE, mount="database")], policies=[dict(name="webapp", policy=POLICY)],
           kubernetes_roles=[LOGIN]),
    config("Vault's duration forms", "url", secrets_engines=[
        dict(path="team-a/kv", type="kv-v2", default_lease_ttl="3600", max_lease_ttl="7d"),
        dict(path="/pki/", type="pki", default_lease_ttl="1h30m", max_lease_ttl="0")]),
    config("a JSON policy and a glob of allowed roles", "url",
           policies=[dict(name="reader", policy='{"path": {"secret/data/web/*": {"capabilities": ["read"]}}}')],
           database_connections=[dict(CONNECTION, allowed_roles=["web-*"])]),
    config("the default policy in check mode with consent", "url", check_mode=True, allow_default_policy_change=True,
           policies=[dict(name="default", policy=POLICY)]),
    config("globs of service accounts and namespaces, as Vault matches them", "url", kubernetes_roles=[
        dict(LOGIN, bound_service_account_names=["web-*", "*-worker", "webapp"],
             bound_service_account_namespaces=["team-*"])]),
    config("a policy with comments, escapes and a token's own paths", "url", policies=[dict(name="reader", policy=(
        '# the app reads its credentials\npath "database/creds/web\\u0061pp" { /* only */ capabilities = ["read"] }\n'
        'path "auth/token/renew-self" { capabilities = ["update"] }  // as the default policy\n'
        'path "sys/leases/renew" { capabilities = ["update"] }\npath "sys/*" { capabilities = ["read", "list"] }\n'))]),
    config("placeholders in libpq's keyword form", "url", database_connections=[
        dict(CONNECTION, connection_url="host=db user={{username}} password = {{password}} dbname=postgres")]),
    Case("vault_init", dict(INIT, keys_file=os.path.join(REAL_DIR, "keys.json")), "url", "keys in a real directory"),
    app("the apps role's check", "url", revoke=True),
    app("audiences and other mounts", "url", audiences=["vault"], auth_mount="k8s/prod", database_mount="db",
        transit_key=None),
]


@pytest.mark.parametrize("case", VALID, ids=str)
def test_valid_inputs_get_past_the_checks(case):
    outcome = run(case)
    assert outcome.klass(case) == "reached", (outcome.msg, outcome.reached)
    assert not [secret for secret in SECRETS + ("proxy-secret-pw", "battery keys password")
                if secret in outcome.output]


def test_credentials_in_an_address_are_masked_in_the_logged_arguments():
    case = init("credentials in the address", "url", url=CREDENTIALS_URL, unsealed=True)
    outcome = run(case)
    assert "hunter2-secret" not in outcome.output and "admin:hunter2" not in outcome.output
    assert '"module_args"' in outcome.output
