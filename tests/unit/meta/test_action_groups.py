"""The action groups of meta/runtime.yml, for module_defaults: each group's members all take
the options the group is for (so that a value set for the group never gives a member an
"Unsupported parameters" error), each module's documented membership is the runtime's, and a
value set through kubernetes.core's group or this collection's reaches the modules."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# What each group is for: the options every member takes.
SHARED = {
    "k8s": {"kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert", "client_key",
            "proxy", "username", "password", "persist_config", "impersonate_user", "impersonate_groups"},
    "canary": {"kubeconfig", "context", "name", "namespace"},
    "flux": {"kubeconfig", "context", "namespace"},
    "git": {"repo_url", "branch", "git_username", "git_password", "workdir", "author_name", "author_email"},
    "vault": {"url", "ca_cert", "validate_certs", "timeout", "proxies", "retries", "retry_action"},
    "sim": set(),
}


def runtime_groups():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        groups = yaml.safe_load(handle)["action_groups"]
    return {name: [entry for entry in members if isinstance(entry, str)] for name, members in groups.items()}, groups


@pytest.fixture(scope="module")
def docs():
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules")) if name.endswith(".py"))
    done = subprocess.run(["ansible-doc", "--json", "-t", "module"] + ["gitops.progressive.%s" % name for name in modules],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return {name.split(".")[-1]: entry["doc"] for name, entry in json.loads(done.stdout).items()}


def test_every_member_of_a_group_takes_the_options_the_group_is_for(docs):
    groups, _raw = runtime_groups()
    assert set(groups) == set(SHARED)
    for group, members in groups.items():
        for module in members:
            missing = SHARED[group] - set(docs[module]["options"])
            assert not missing, "%s is in group %s but does not take %s" % (module, group, sorted(missing))


def test_every_module_that_talks_to_kubernetes_is_in_the_group_extending_kubernetes_core(docs):
    groups, raw = runtime_groups()
    assert raw["k8s"][0] == {"metadata": {"extend_group": ["kubernetes.core.k8s"]}}
    with_auth = {module for module, doc in docs.items() if {"kubeconfig", "api_key"} <= set(doc["options"])}
    assert with_auth == set(groups["k8s"])


def test_each_modules_documented_membership_is_the_runtimes(docs):
    groups, _raw = runtime_groups()
    for module, doc in docs.items():
        expected = sorted("gitops.progressive.%s" % group for group, members in groups.items() if module in members)
        documented = sorted((doc.get("attributes", {}).get("action_group") or {}).get("membership") or [])
        assert documented == expected, module


def play(tmp_path, module_defaults, tasks):
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "module_defaults": module_defaults,
                                     "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1")
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % sys.executable, str(path)], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_the_k8s_group_sets_the_connection_of_this_collections_modules_and_kubernetes_cores(tmp_path):
    """group/gitops.progressive.k8s with a kubeconfig (an API server at a closed loopback port):
    canary_info and kubernetes.core.k8s_info both use it (each error names that server)."""
    kubeconfig = tmp_path / "group-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "group",
        "clusters": [{"name": "group", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "group", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "group", "context": {"cluster": "group", "user": "group"}}]}))
    code, output = play(tmp_path, {"group/gitops.progressive.k8s": {"kubeconfig": str(kubeconfig)}},
                        [{"gitops.progressive.canary_info": {"namespace": "demo"}, "ignore_errors": True,
                          "register": "ours"},
                         {"kubernetes.core.k8s_info": {"kind": "Pod", "namespace": "demo"}, "ignore_errors": True,
                          "register": "core"},
                         {"ansible.builtin.assert": {"that": ["ours is failed", "'127.0.0.1' in ours.msg",
                                                              "core is failed", "'127.0.0.1' in core.msg"]}}])
    assert code == 0, output[-3000:]


def test_the_vault_group_takes_the_connection_options_for_all_three_modules(tmp_path):
    """url and timeout set once: vault_init and vault_app_credentials take them (Vault at a closed
    loopback port: each says it does not answer, naming the address)."""
    url = "http://127.0.0.1:9"
    tasks = [{"gitops.progressive.vault_init": {"keys_file": str(tmp_path / "keys.json")}, "ignore_errors": True,
              "register": "init"},
             {"gitops.progressive.vault_app_credentials": {
                 "auth_role": "webapp", "database_role": "webapp", "service_account": "webapp",
                 "service_account_namespace": "webapp", "kubeconfig": str(tmp_path / "kubeconfig")},
              "ignore_errors": True, "register": "creds"},
             {"ansible.builtin.assert": {"that": ["init is failed", "creds is failed",
                                                  "'Unsupported parameters' not in init.msg",
                                                  "'Unsupported parameters' not in creds.msg",
                                                  "'127.0.0.1:9' in init.msg", "'127.0.0.1:9' in creds.msg"]}}]
    code, output = play(tmp_path, {"group/gitops.progressive.vault": {"url": url, "timeout": 2}}, tasks)
    assert code == 0, output[-3000:]
