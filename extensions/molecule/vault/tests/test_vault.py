"""Vault on the shared cluster: OpenBao and PostgreSQL running and listening on loopback
only, the keys in owner-only files, Vault initialised, unsealed and holding the web app's
wiring."""

import json
import os
import urllib.request

import yaml
from platform_checks import listening, off_loopback, pids, state_dir, variable, variables

DEFAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles", "vault",
                        "defaults", "main.yml")


def vault_port(host):
    """The inventory's vault_port, else the role's default."""
    if "vault_port" in variables(host):
        return int(variable(host, "vault_port"))
    with open(DEFAULTS) as handle:
        return int(yaml.safe_load(handle)["vault_port"])


def vault_get(host, path, token=None):
    request = urllib.request.Request("http://127.0.0.1:%d/v1/%s" % (vault_port(host), path),
                                     headers={"X-Vault-Token": token} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_openbao_and_postgres_listen_on_loopback_only(host):
    running = pids(host, "vault")
    assert {"openbao", "postgres"} <= set(running)
    sockets = listening(host, set(running.values()))
    assert sockets and not off_loopback(sockets), sockets


def test_the_keys_and_passwords_are_owner_only_files(host):
    for path in ("init/keys.json", "init/root-token", "postgres-password"):
        item = host.file(os.path.join(state_dir(host, "vault"), path))
        assert item.is_file and item.mode == 0o600, path


def test_vault_is_unsealed_and_holds_the_web_apps_wiring(host):
    status = vault_get(host, "sys/seal-status")
    assert status["initialized"] and not status["sealed"]
    token = host.file(os.path.join(state_dir(host, "vault"), "init", "root-token")).content_string.strip()
    assert "webapp" in vault_get(host, "sys/policies/acl?list=true", token)["data"]["keys"]
    role = vault_get(host, "auth/kubernetes/role/webapp", token)["data"]
    assert role["bound_service_account_names"] == ["webapp"] and role["token_policies"] == ["webapp"]
    assert vault_get(host, "database/roles/webapp", token)["data"]["db_name"] == "postgres"
