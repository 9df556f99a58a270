"""The vault role's HCL (the apps' policies, OpenBao's configuration) and its check of the names
they are built from, rendered as Ansible renders them (Templar and the `template` lookup, with the
role's defaults loaded as role variables are).

A policy path is one HCL quoted string whatever the name holds; and the check refuses a name
that could change what a policy allows (a quote, a newline, a glob, ${), naming app and field.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLE = os.path.join(ROOT, "roles", "vault")

CATALOG = {"webapp": {"namespace": "webapp", "vault": {}}}
EVIL_KEY = 'webapp"\n  capabilities = ["update"]\n}\npath "sys/*" {\n  capabilities = ["sudo", "update"]\n}\npath "x'
# An HCL quoted string: JSON's escapes (which are HCL's).
HCL_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'


def templar(**overrides):
    if not AnsibleCollectionConfig.collection_finder:
        init_plugin_loader([])
    loader = DataLoader()
    variables = dict(loader.load_from_file(os.path.join(ROLE, "defaults", "main.yml"), trusted_as_template=True))
    variables.update(ansible_search_path=[ROLE], role_path=ROLE, cluster_kubeconfig="/dev/null",
                     cluster_provider="kwok", apps_enabled=list(CATALOG), apps_catalog=copy.deepcopy(CATALOG))
    variables.update(overrides)
    return Templar(loader=loader, variables=variables)


def lookup(engine, template):
    return str(engine.template(trust_as_template("{{ lookup('ansible.builtin.template', %r) }}" % template)))


def input_errors(**overrides):
    return json.loads(lookup(templar(**overrides), "checks/input-errors.json.j2"))


def sections(wirings, **overrides):
    """sections.yml.j2 as configure.yml reads it (helm mode: no kubeconfig to read)."""
    engine = templar(vault_install_mode="helm", vault_url="http://vault:8200", vault_wirings=wirings, **overrides)
    return yaml.safe_load(lookup(engine, "sections.yml.j2"))


def wiring(**vault):
    defaults = templar().template(trust_as_template("{{ vault_app_defaults }}"))
    return dict(defaults, **dict(dict(name="webapp", namespace="webapp", service_account="webapp"), **vault))


def policy_paths(policy):
    """The paths of an HCL policy, each a quoted string on a `path "..." {` line, decoded."""
    paths = []
    for line in policy.splitlines():
        if line.startswith("#") or not line.strip():
            assert "\n" not in line
            continue
        if line.startswith("path"):
            match = re.fullmatch(r"path (%s) \{" % HCL_STRING, line)
            assert match, line
            paths.append(json.loads(match.group(1)))
        else:
            assert line in ('  capabilities = ["read"]', '  capabilities = ["update"]', "}"), line
    return paths


def test_the_policy_of_an_app_allows_its_credentials_and_its_key():
    policy = sections([wiring()])["policies"][0]
    assert policy["name"] == "webapp"
    assert policy_paths(policy["policy"]) == ["database/creds/webapp", "transit/encrypt/webapp",
                                              "transit/decrypt/webapp"]


@pytest.mark.parametrize("field", ["transit_key", "database_role", "name"])
def test_a_name_that_closes_the_string_stays_inside_it(field):
    """Even past the check, a quote and a newline in a name stay one HCL string: no path is added."""
    policy = sections([wiring(**{field: EVIL_KEY})])["policies"][0]["policy"]
    paths = policy_paths(policy)
    assert len(paths) == 3 and not any(path.startswith("sys/") for path in paths), paths
    if field != "name":
        assert any(path.endswith("/" + EVIL_KEY) for path in paths), paths


def test_a_mount_that_closes_the_string_stays_inside_it():
    evil = 'transit" {}\npath "sys/*'
    policy = sections([wiring()], vault_transit_mount=evil, vault_database_mount=evil)["policies"][0]["policy"]
    assert policy_paths(policy) == [evil + "/creds/webapp", evil + "/encrypt/webapp", evil + "/decrypt/webapp"]


def test_openbao_configuration_quotes_its_strings():
    engine = templar(vault_state_dir='/tmp/a "b"\n}\nui = true\nx = "', cluster_name='c"\nd')
    text = lookup(engine, "openbao.hcl.j2")
    storage = re.search(r'storage "raft" \{\n  path    = (%s)\n  node_id = (%s)\n\}\n' % (HCL_STRING, HCL_STRING), text)
    assert storage, text
    assert json.loads(storage.group(1)) == '/tmp/a "b"\n}\nui = true\nx = "/data'
    assert json.loads(storage.group(2)) == 'c"\nd-0'
    assert text.count("ui           = false") == 1 and "ui = true\n" not in text


def test_the_defaults_pass_the_check():
    assert input_errors() == []
    assert input_errors(vault_install_mode="helm", vault_url="http://vault:8200",
                        vault_database_connections=[{"name": "postgres"}]) == []


BAD = [
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": EVIL_KEY}),
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": "*"}),
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": "web+app"}),
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": "a/b"}),
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": ".."}),
    ("apps_catalog.webapp.vault.transit_key", {"transit_key": "webapp\n"}),
    ("apps_catalog.webapp.vault.database_role", {"database_role": "${x}"}),
    ("apps_catalog.webapp.vault.database_role", {"database_role": 5}),
    ("apps_catalog.webapp.vault.policy", {"policy": "root policy"}),
    ("apps_catalog.webapp.vault.auth_role", {"auth_role": "a" * 129}),
    ("apps_catalog.webapp.vault.service_account", {"service_account": "*"}),
    ("apps_catalog.webapp.vault.service_account", {"service_account": "Web_App"}),
    ("apps_catalog.webapp.vault.database", {"database": "mongo"}),
    ("apps_catalog.webapp.vault.database", {"database": 'postgres"'}),
]


@pytest.mark.parametrize("field,vault", BAD, ids=["%s=%r" % (field.rsplit(".", 1)[1], list(vault.values())[0])
                                                  for field, vault in BAD])
def test_the_check_refuses_a_bad_name_naming_app_and_field(field, vault):
    errors = input_errors(apps_catalog={"webapp": {"namespace": "webapp", "vault": vault}})
    assert len(errors) >= 1 and all(error.startswith(field + ":") for error in errors), errors


@pytest.mark.parametrize("namespace", ["web*", "webapp\n", "WebApp", None])
def test_the_check_refuses_a_bad_namespace(namespace):
    app = {"vault": {}} if namespace is None else {"namespace": namespace, "vault": {}}
    errors = input_errors(apps_catalog={"webapp": app})
    assert len(errors) == 1 and errors[0].startswith("apps_catalog.webapp.namespace:"), errors


def test_the_check_refuses_a_bad_app_name():
    errors = input_errors(apps_enabled=["web\napp"], apps_catalog={"web\napp": {"namespace": "webapp", "vault": {}}})
    assert len(errors) >= 1 and errors[0].startswith('apps_catalog["web\\napp"]: the app\'s name'), errors


def test_the_check_refuses_an_app_that_is_not_a_mapping():
    errors = input_errors(apps_catalog={"webapp": "webapp"})
    assert errors == ['apps_catalog.webapp: must be a mapping of the app\'s fields, got "webapp"'], errors


def test_the_check_names_vault_app_defaults_when_the_fault_is_there():
    defaults = templar().template(trust_as_template("{{ vault_app_defaults }}"))
    errors = input_errors(vault_app_defaults=dict(defaults, policy="*"))
    assert errors == ['vault_app_defaults.policy: must be a Vault name of letters, digits, _, - and . (not starting '
                      'with ., at most 128; the policy\'s paths are built from it), got "*"'], errors


@pytest.mark.parametrize("variable,value", [
    ("vault_transit_mount", 'transit"'), ("vault_transit_mount", "transit\n"), ("vault_database_mount", "/database"),
    ("vault_database_mount", "data/*"), ("vault_kubernetes_mount", "k8s/../sys"), ("vault_kubernetes_mount", ""),
    ("vault_state_dir", '/tmp/"x'), ("vault_state_dir", "/tmp/x\ny"), ("vault_state_dir", "/tmp/${HOME}"),
    ("vault_state_dir", "/tmp/%{x}"), ("vault_state_dir", "/tmp/a\\b"), ("cluster_name", 'gitops"')])
def test_the_check_refuses_bad_variables(variable, value):
    # The default state directory holds cluster_name too: a directory of its own here.
    errors = input_errors(**dict({"vault_state_dir": "/tmp/vault"}, **{variable: value}))
    assert len(errors) == 1 and errors[0].startswith(variable + ":"), errors


def test_a_state_directory_with_spaces_dollars_and_percents_passes():
    assert input_errors(vault_state_dir="/home/my user/100% $5/vault") == []


def test_the_apps_not_wired_are_not_checked():
    catalog = {"webapp": {"namespace": "webapp", "vault": {}}, "other": {"namespace": "Bad*", "vault": {"policy": "*"}}}
    assert input_errors(apps_catalog=catalog) == []


def test_the_check_runs_before_vault_is_started():
    with open(os.path.join(ROLE, "tasks", "main.yml")) as handle:
        tasks = yaml.safe_load(handle)
    names = [task["name"] for task in tasks]
    check = names.index("Check the names and paths Vault is configured with")
    assert check < names.index("Run Vault the chosen way")
    assert "checks/input-errors.json.j2" in tasks[check]["vars"]["vault_input_errors"]


def test_the_role_stops_before_vault_is_started(tmp_path):
    """The role itself, on localhost: the check fails before Vault is run or anything written."""
    found = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(found):
        pytest.skip("ansible-playbook is not installed")
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "vault", "hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": "gitops.progressive.vault"}]}]))
    variables = {"apps_enabled": ["webapp"], "cluster_kubeconfig": "/dev/null", "cluster_provider": "kwok",
                 "vault_state_dir": str(tmp_path / "vault"),
                 "apps_catalog": {"webapp": {"namespace": "webapp", "vault": {"transit_key": EVIL_KEY}}}}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([found, "-i", "localhost,", "-c", "local", str(playbook), "-e", json.dumps(variables)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    assert tasks[-1]["task"]["name"].endswith(" : Check the names and paths Vault is configured with"), tasks
    assert not any("Run Vault" in task["task"]["name"] for task in tasks)
    message = tasks[-1]["hosts"]["localhost"]["msg"]
    assert "apps_catalog.webapp.vault.transit_key" in message, message
    assert not (tmp_path / "vault").exists()
