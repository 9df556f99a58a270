"""Every role refuses a malformed variable before it does anything, naming the role and the variable.

The battery runs each role's checks as the role runs them (``tasks_from: validate``: the
argument specs, then tasks/validate.yml) in one ansible-playbook run: one inventory host per
case, so a failure ends that case alone. Each case must fail there, the failure must name the
variable and the role, and no secret given in the case may appear anywhere in the output.
Valid values (the defaults among them) must pass, so that the checks are not over-strict. A
second group of hosts runs each role whole (its main entry point) with a variable that only
tasks/validate.yml refuses: nothing but the checks may run.
"""

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ("cluster", "flux", "mesh", "flagger", "vault", "apps")
KUBECONFIG = "/nonexistent/gitops-progressive-test/kubeconfig"


class Case(collections.namedtuple("Case", "role variables variable secrets")):
    """One role run with ``variables`` laid over its defaults; it must fail naming ``variable``."""

    def __new__(cls, role, variables, variable=None, secrets=()):
        return super().__new__(cls, role, variables, variable or next(iter(variables)), tuple(secrets))

    def __str__(self):
        return "%s-%s=%s" % (self.role, self.variable, json.dumps(self.variables.get(self.variable, "..."))[:40])


TOKEN = "ghp_0123456789abcdefSECRET"
WEBAPP = {"namespace": "webapp", "image": "burtlo/devwebapp-ruby", "tag": "k8s", "port": 8080,
          "canary": {"interval": "10s"}, "vault": {}}
VAULT_DEFAULTS = {"database": "postgres", "default_ttl": "1h", "max_ttl": "24h", "token_ttl": "1h",
                  "creation_statements": ["SELECT 1;"], "revocation_statements": ["SELECT 1;"]}


def vault_app(**fields):
    """The vault role wiring one app (webapp) whose catalog entry's ``vault`` holds ``fields``."""
    return {"apps_enabled": ["webapp"], "apps_catalog": {"webapp": dict(WEBAPP, vault=fields)}}


CASES = [
    # cluster
    Case("cluster", {"cluster_name": "Gitops"}),
    Case("cluster", {"cluster_name": "a" * 41}),
    Case("cluster", {"cluster_name": ""}),
    Case("cluster", {"cluster_name": "../escape"}),
    Case("cluster", {"cluster_provider": "kind"}),
    Case("cluster", {"cluster_state": "gone"}),
    Case("cluster", {"cluster_nodes": -1}),
    Case("cluster", {"cluster_nodes": "many"}),
    Case("cluster", {"cluster_nodes": 100000}),
    Case("cluster", {"cluster_api_port": 70000}),
    Case("cluster", {"cluster_api_port": -5}),
    Case("cluster", {"cluster_wait_timeout": 0}),
    Case("cluster", {"cluster_wait_timeout": 10 ** 9}),
    Case("cluster", {"cluster_state_dir": "relative/state"}),
    Case("cluster", {"cluster_state_dir": "/"}),
    Case("cluster", {"cluster_kubeconfig": "kubeconfig"}),
    Case("cluster", {"cluster_cache_dir": "/tmp/a/../../etc"}),
    Case("cluster", {"cluster_cli_install_dir": "bin"}),
    Case("cluster", {"cluster_build_jobs": 0}),
    Case("cluster", {"cluster_kube_version": "1.33"}),
    Case("cluster", {"cluster_etcd_version": "v3.5.24/../../evil"}),
    Case("cluster", {"cluster_kwok_version": "latest"}),
    Case("cluster", {"cluster_k3d_image": "Rancher/K3s:latest!!"}),
    Case("cluster", {"cluster_k3d_port_mappings": ["8080:80@loadbalancer", "http:80"]}),
    Case("cluster", {"cluster_k3d_port_mappings": ["99999:80@loadbalancer"]}),
    Case("cluster", {"cluster_k3d_disable": ["traefik", "*"]}),
    Case("cluster", {"cluster_k3d_servers": 0}),
    Case("cluster", {"cluster_minikube_memory": "8 gigs"}),
    Case("cluster", {"cluster_minikube_cpus": 0}),
    Case("cluster", {"cluster_minikube_driver": "docker; rm -rf /"}),
    Case("cluster", {"cluster_context": "ctx\nother"}),
    Case("cluster", {"cluster_minikube_tunnel": "perhaps"}),
    Case("cluster", {"cluster_real_nodes": 2}),
    Case("cluster", {"cluster_registry_port": 0}),
    Case("cluster", {"cluster_coredns_version": "latest"}),
    Case("cluster", {"cluster_dns_address": "10.0.0.1"}),
    Case("cluster", {"cluster_dns_address": "10.96.0.10"}),
    Case("cluster", {"cluster_dns_address": "10.0.0.10\n"}),
    Case("cluster", {"cluster_real_node_ports": ["18080"]}),
    Case("cluster", {"cluster_real_node_host_ports": [70000]}),
    Case("cluster", {"cluster_real_node_host_ports": [18300, 18300]}),
    Case("cluster", {"cluster_real_node_host_ports": 18300}),
    Case("cluster", {"cluster_real_node_ports": "18080:30080"}),
    Case("cluster", {"cluster_real_node_ports": ["99999:30080"]}),
    Case("cluster", {"cluster_real_node_ports": ["18080:30080", "18080:30081"]}),
    Case("cluster", {"cluster_real_node_ports": ["18306:30080"]}),
    Case("cluster", {"cluster_dns_address": "10.0.0.010"}),
    # flux
    Case("flux", {"flux_repo_name": "../../escape"}),
    Case("flux", {"flux_controllers": "containers"}),
    Case("flux", {"flux_receiver_node_port": 8080}),
    # Pods need a cluster with a real node that forwards the git and chart ports.
    Case("flux", {"flux_controllers": "pods"}),
    Case("flux", {"flux_controllers": "pods", "cluster_real_node_count": 1, "cluster_host_address": "192.0.2.2",
                  "cluster_host_ports": [18300, 18304], "cluster_published_ports": ["18302:30092"],
                  "flux_log_level": "trace"}, variable="flux_controllers"),
    Case("flux", {"flux_repo_name": ".hidden"}),
    Case("flux", {"flux_repo_name": "a/b"}),
    Case("flux", {"flux_repo_name": ""}),
    Case("flux", {"flux_namespace": "Flux-System"}),
    Case("flux", {"flux_namespace": "*"}),
    Case("flux", {"flux_namespace": "f" * 64}),
    Case("flux", {"flux_environment": "prod/../x"}),
    Case("flux", {"flux_repo_branch": "main branch"}),
    Case("flux", {"flux_repo_branch": "feature..x"}),
    Case("flux", {"flux_repo_branch": "-x"}),
    Case("flux", {"flux_repo_branch": "refs/heads/main"}),
    Case("flux", {"flux_git_interval": "1 hour"}),
    Case("flux", {"flux_git_interval": "0s"}),
    Case("flux", {"flux_requeue_dependency": "2"}),
    Case("flux", {"flux_git_port": 0}),
    Case("flux", {"flux_git_port": 65536}),
    Case("flux", {"flux_events_port": 18300}),
    Case("flux", {"flux_controller_port_base": 65530}),
    Case("flux", {"flux_wait_timeout": -1}),
    Case("flux", {"flux_version": "2.9.3"}),
    Case("flux", {"flux_registry_version": "v3.1.2 "}),
    Case("flux", {"flux_repo_url": "http://git:hunter2pass@127.0.0.1:18300/platform.git"}, secrets=["hunter2pass"]),
    Case("flux", {"flux_bootstrap_url": "https://x-access-token:%s@github.com/o/r.git" % TOKEN}, secrets=[TOKEN]),
    Case("flux", {"flux_bootstrap_url": "ftp://example.com/repo.git"}),
    Case("flux", {"flux_repo_username": "git user"}),
    Case("flux", {"flux_repo_author_email": "not-an-email"}),
    Case("flux", {"flux_repo_author_name": "x\ny"}),
    Case("flux", {"flux_log_level": "verbose"}),
    Case("flux", {"flux_components_extra": ["image-reflector"]}),
    Case("flux", {"flux_state_dir": "relative"}),
    Case("flux", {"flux_git_state_dir": "/"}),
    Case("flux", {"flux_bootstrap_token": TOKEN + " \nnext"}, secrets=[TOKEN]),
    Case("flux", {"flux_cli": "flux --insecure"}),
    Case("flux", {"flux_bootstrap_owner": "../org"}),
    Case("flux", {"flux_bootstrap_repository": "repo/../x"}),
    Case("flux", {"flux_bootstrap_private_key_file": "id_ed25519"}),
    Case("flux", {"flux_sync_objects": [{"kind": "GitRepository"}]}),
    Case("flux", {"flux_install_mode": "kubectl"}),
    Case("flux", {"flux_install_mode": "cli", "flux_bootstrap_provider": "github"}, "flux_bootstrap_owner"),
    # mesh
    Case("mesh", {"mesh_environment": "Staging"}),
    Case("mesh", {"mesh_istio_namespace": "istio_system"}),
    Case("mesh", {"mesh_linkerd_namespace": "l" * 64}),
    Case("mesh", {"mesh_chart_interval": "1 hour"}),
    Case("mesh", {"mesh_istio_repo_url": "https://user:chartpass@charts.example.com"}, secrets=["chartpass"]),
    Case("mesh", {"mesh_istio_repo_url": "istio-release.storage.googleapis.com/charts"}),
    Case("mesh", {"mesh_istio_version": "latest"}),
    Case("mesh", {"mesh_gateway_api_version": "1.2.1"}),
    Case("mesh", {"mesh_traefik_gateway_api_version": "latest"}),
    Case("mesh", {"mesh_traefik_metrics_node_port": 80}),
    Case("mesh", {"mesh_traefik_version": "v39"}),
    Case("mesh", {"mesh_traefik_app_version": "v2.11.0"}),
    Case("mesh", {"mesh_linkerd_issuer_validity_days": 30}),
    Case("mesh", {"mesh_linkerd_issuer_validity_days": 100000}),
    Case("mesh", {"mesh_istio_public_hosts": []}),
    Case("mesh", {"mesh_istio_public_hosts": ["exa mple.com"]}),
    Case("mesh", {"mesh_istio_gateway_release": "Istio_GW"}),
    Case("mesh", {"mesh_linkerd_trust_anchor_secret": "*"}),
    Case("mesh", {"mesh_wait_timeout": 0}),
    Case("mesh", {"mesh_state_dir": "/"}),
    Case("mesh", {"mesh_helm_binary": "helm --debug"}),
    Case("mesh", {"mesh_flux_namespace": ""}),
    Case("mesh", {"mesh_provider": "consul"}),
    Case("mesh", {"mesh_cert_manager_values": "crds"}),
    # flagger
    Case("flagger", {"flagger_port": 0}),
    Case("flagger", {"flagger_prometheus_targets": ["0.0.0.0:9100"]}),
    Case("flagger", {"flagger_prometheus_targets": "127.0.0.1:9100"}),
    Case("flagger", {"flagger_prometheus_port": 18080}),
    Case("flagger", {"flagger_metrics_server": "http://admin:promsecret@prom:9090"}, secrets=["promsecret"]),
    Case("flagger", {"flagger_metrics_server": "prometheus:9090"}),
    Case("flagger", {"flagger_control_loop_interval": "10 seconds"}),
    Case("flagger", {"flagger_prometheus_scrape_interval": "1.5s"}),
    Case("flagger", {"flagger_selector_labels": "app, name"}),
    Case("flagger", {"flagger_namespace": "Flagger"}),
    Case("flagger", {"flagger_loadtester_service": "1loadtester"}),
    Case("flagger", {"flagger_loadtester_user": "Load Tester"}),
    Case("flagger", {"flagger_loadtester_dir": "/"}),
    Case("flagger", {"flagger_traffic_rps": -3}),
    Case("flagger", {"flagger_version": "1.41.0"}),
    Case("flagger", {"flagger_chart_version": "latest"}),
    Case("flagger", {"flagger_helm_repo_url": "ftp://flagger.app"}),
    Case("flagger", {"flagger_chart_repository_url": "https://u:chartpw@charts.example"}, secrets=["chartpw"]),
    Case("flagger", {"flagger_environment": "../prod"}),
    Case("flagger", {"flagger_prometheus_binary": "prometheus"}),
    Case("flagger", {"flagger_mesh_provider": "istio2"}),
    Case("flagger", {"flagger_chart_interval": "0"}),
    Case("flagger", {"flagger_state_dir": "state"}),
    # vault
    Case("vault", {"vault_port": 70000}),
    Case("vault", {"vault_cluster_port": 18200}),
    Case("vault", {"vault_url": "http://root:s.roottoken@127.0.0.1:18200"}, secrets=["s.roottoken"]),
    Case("vault", {"vault_url": "127.0.0.1:18200"}),
    Case("vault", {"vault_install_mode": "external", "vault_url": ""}, "vault_url"),
    Case("vault", {"vault_key_shares": 0}),
    Case("vault", {"vault_key_shares": 300}),
    Case("vault", {"vault_key_threshold": 5}),
    Case("vault", {"vault_keys_file": "keys.json"}),
    Case("vault", {"vault_token_file": "/tmp/vault/init/keys.json", "vault_keys_file": "/tmp/vault/init/keys.json"}),
    Case("vault", {"vault_state_dir": "/"}),
    Case("vault", {"vault_namespace": "Vault"}),
    Case("vault", {"vault_reviewer_service_account": "*"}),
    Case("vault", {"vault_apps": ["*"]}),
    Case("vault", {"vault_app_defaults": dict(VAULT_DEFAULTS, default_ttl="1 hour")}, "vault_app_defaults.default_ttl"),
    Case("vault", dict(vault_app(token_ttl="-1h")), "apps_catalog.webapp.vault.token_ttl"),
    Case("vault", dict(vault_app(policy="default")), "vault_allow_default_policy_change"),
    Case("vault", dict(vault_app(policy="root"), vault_allow_default_policy_change=True),
         "apps_catalog.webapp.vault.policy"),
    Case("vault", dict(vault_app(policy="WebApp")), "apps_catalog.webapp.vault.policy"),
    Case("vault", {"vault_database_connections": [{"name": "pg", "plugin_name": "postgresql-database-plugin",
                                                   "connection_url": "postgresql://vault:dbpass123@db:5432/postgres",
                                                   "username": "vault"}]}, secrets=["dbpass123"]),
    Case("vault", {"vault_database_passwords": {"mongo": "pw-abc-123"}}, secrets=["pw-abc-123"]),
    Case("vault", {"vault_kubernetes_host": "kubernetes.default.svc"}),
    Case("vault", {"vault_helm_repo_url": "https://u:helmpw@openbao.example"}, secrets=["helmpw"]),
    Case("vault", {"vault_bao_binary": "bao"}),
    Case("vault", {"vault_install_mode": "docker"}),
    Case("vault", {"vault_install_mode": "helm", "vault_url": "http://vault:8200"}, "vault_keys_in_clear"),
    Case("vault", {"vault_postgres_port": 0}),
    Case("vault", {"vault_chart_version": "latest"}),
    Case("vault", {"vault_keys_file_password": "pass\nword-xyz"}, secrets=["word-xyz"]),
    # apps
    Case("apps", {"apps_wait_timeout": 0}),
    Case("apps", {"apps_metrics_server": "http://u:metricspw@prom:9090"}, secrets=["metricspw"]),
    Case("apps", {"apps_loadtester_url": "flagger-loadtester/"}),
    Case("apps", {"apps_gateway_url": "http://127.0.0.1:18080/;reboot"}),
    Case("apps", {"apps_gateway_url": "http://u:gatewaypw@127.0.0.1:18080"}, secrets=["gatewaypw"]),
    Case("apps", {"apps_gateway_ref": {"name": "Traefik Gateway", "namespace": "traefik"}}),
    Case("apps", {"apps_gateway_ref": {"name": "traefik-gateway"}}),
    Case("apps", {"apps_gateway_load_test_cmd": "hey -host {host} http://x/"}),
    Case("apps", {"apps_conformance_cmd": "curl -sf"}),
    Case("apps", {"apps_load_test_cmd": ""}),
    Case("apps", {"apps_image_scan_interval": "every minute"}),
    Case("apps", {"apps_image_automation_interval": "1d"}),
    Case("apps", {"apps_flux_namespace": "Flux"}),
    Case("apps", {"apps_ingress_domain": "*.example.com"}),
    Case("apps", {"apps_public_gateway": "istio-ingress/public/gw"}),
    Case("apps", {"apps_ingress_class": "Nginx"}),
    Case("apps", {"apps_namespace_labels": {"istio-injection": "enabled!"}}),
    Case("apps", {"apps_namespace_labels": {"bad key!": "x"}}),
    Case("apps", {"apps_namespace_annotations": {"linkerd.io/inject": ["enabled"]}}),
    Case("apps", {"apps_image_automation_author": {"name": "bot"}}),
    Case("apps", {"apps_flagger_provider": "istio2"}),
    Case("apps", {"apps_vault_url": "https://u:vaultpw@vault:8200"}, secrets=["vaultpw"]),
    Case("apps", {"apps_state": "gone"}),
    Case("apps", {"apps_kubeconfig": "kube"}),
    Case("apps", {"apps_enabled": ["podinfo", "podinfo"]}),
]

# Valid values that are not the defaults: each must pass its role's checks.
VALID = [
    ("cluster", {}),
    ("cluster", {"cluster_provider": "k3d", "cluster_nodes": 0, "cluster_api_port": 6443,
                 "cluster_k3d_port_mappings": ["0.0.0.0:8080:80/tcp@loadbalancer", "443"],
                 "cluster_k3d_image": "rancher/k3s:v1.33.1-k3s1", "cluster_state_dir": "~/state",
                 "cluster_minikube_memory": "8g", "cluster_context": "arn:aws:eks:eu-west-1:1:cluster/x"}),
    ("flux", {}),
    ("flux", {"flux_repo_branch": "release/2026-01", "flux_git_interval": "1m30s", "flux_repo_name": "platform.v2",
              "flux_install_mode": "cli", "flux_bootstrap_provider": "gitlab", "flux_bootstrap_owner": "group/sub",
              "flux_bootstrap_repository": "fleet", "flux_bootstrap_token": TOKEN, "flux_log_level": "debug",
              "flux_bootstrap_url": "ssh://git@example.com/fleet.git", "flux_cli": "/usr/local/bin/flux"}),
    ("mesh", {}),
    ("mesh", {"mesh_provider": "linkerd", "mesh_istio_public_hosts": ["*.example.com", "istio-ingress/app.example"],
              "mesh_linkerd_version": "2025.6.2", "mesh_helm_binary": "/usr/local/bin/helm3",
              "mesh_istio_repo_url": "oci://registry.example/istio"}),
    ("flagger", {}),
    ("flagger", {"flagger_loadtester_user": "", "flagger_prometheus_scrape_interval": "1m30s",
                 "flagger_chart_repository_url": "http://127.0.0.1:18304", "flagger_selector_labels": "app"}),
    ("vault", {}),
    ("vault", dict(vault_app(service_account="web.app", token_ttl=3600, max_ttl="48h"),
                   vault_database_passwords={"postgres": "not-shown"})),
    ("vault", dict(vault_app(policy="default"), vault_allow_default_policy_change=True)),
    ("vault", {"vault_install_mode": "helm", "vault_url": "https://vault.example:8200", "vault_keys_in_clear": True}),
    # Whitespace around the password is dropped, as ansible-vault drops it from a password file.
    ("vault", {"vault_install_mode": "external", "vault_url": "https://vault.example",
               "vault_keys_file_password": "x\n"}),
    ("apps", {}),
    ("apps", {"apps_public_gateway": "istio-ingress/public-gateway", "apps_ingress_class": "",
              "apps_namespace_labels": {"istio-injection": "enabled"}, "apps_flagger_provider": "gatewayapi:v1beta1"}),
]

# A variable only tasks/validate.yml refuses, per role: the whole role must stop at its checks.
WHOLE = {
    "cluster": {"cluster_name": "Gitops"},
    "flux": {"flux_repo_name": "../../escape"},
    "mesh": {"mesh_chart_interval": "1 hour"},
    "flagger": {"flagger_metrics_server": "prometheus:9090"},
    "vault": {"vault_reviewer_service_account": "*"},
    "apps": {"apps_image_scan_interval": "every minute"},
}


def ansible_playbook():
    found = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(found):
        pytest.skip("ansible-playbook is not installed")
    return found


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Every host's task results, in order: ``{host: [(task name, result)]}``."""
    tmp = tmp_path_factory.mktemp("role-inputs")
    groups = {role: {} for role in ROLES}
    whole = {}
    for index, case in enumerate(CASES):
        groups[case.role]["case%03d" % index] = case.variables
    for index, (role, variables) in enumerate(VALID):
        groups[role]["valid%03d" % index] = variables
    for role, variables in WHOLE.items():
        whole["whole_%s" % role] = dict(variables, whole_role=role)
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "cluster_kubeconfig": KUBECONFIG, "cluster_provider": "kwok",
                 "cluster_state_dir": str(tmp / "state")},
        "children": dict({role: {"hosts": hosts} for role, hosts in groups.items()},
                         whole={"hosts": whole})}}
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    plays = [{"name": role, "hosts": role, "gather_facts": False,
              "tasks": [{"name": "Check the %s role's variables" % role, "ansible.builtin.include_role": {
                  "name": "gitops.progressive.%s" % role, "tasks_from": "validate"}}]} for role in ROLES]
    plays.append({"name": "whole roles", "hosts": "whole", "gather_facts": False, "tasks": [
        {"name": "Run the role", "ansible.builtin.include_role": {"name": "gitops.progressive.{{ whole_role }}"}}]})
    (tmp / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_HOME=str(tmp / "ansible-home"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="8",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    done = subprocess.run([ansible_playbook(), "-i", str(tmp / "inventory.yml"), str(tmp / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=str(tmp), timeout=600, check=False)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        pytest.fail("ansible-playbook gave no JSON: %s\n%s" % (done.stdout[-3000:], done.stderr[-3000:]))
    hosts = collections.defaultdict(list)
    for play in result["plays"]:
        for task in play["tasks"]:
            for host, answer in task["hosts"].items():
                hosts[host].append((task["task"]["name"], answer))
    return {"hosts": hosts, "stdout": done.stdout, "stderr": done.stderr}


def messages(answer):
    """The messages of a task result, of each loop item too."""
    found = [answer.get("msg", "")]
    found.extend(item.get("msg", "") for item in answer.get("results", []) if item.get("failed"))
    return [str(message) for message in found if message]


def failure(outcome, host):
    for name, answer in outcome["hosts"][host]:
        if answer.get("failed"):
            return name, answer
    return None


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_naming_role_and_variable(outcome, case):
    host = "case%03d" % CASES.index(case)
    failed = failure(outcome, host)
    assert failed, "%s passed the %s role's checks: %s" % (
        case.variables, case.role, [name for name, _answer in outcome["hosts"][host]])
    name, answer = failed
    text = " ".join(messages(answer))
    assert case.variable in text, (name, text)
    assert ("%s role" % case.role) in text or name.startswith("gitops.progressive.%s : " % case.role), (name, text)
    seen = json.dumps(outcome["hosts"][host])
    for secret in case.secrets:
        assert secret not in seen, "%s appears in the output: %s" % (secret, seen)


def test_the_battery_is_large_enough():
    assert len(CASES) >= 60
    assert {case.role for case in CASES} == set(ROLES)


@pytest.mark.parametrize("index", range(len(VALID)), ids=lambda index: "%s-%d" % (VALID[index][0], index))
def test_valid_values_pass(outcome, index):
    host = "valid%03d" % index
    assert outcome["hosts"][host], outcome["stderr"][-2000:]
    failed = failure(outcome, host)
    assert failed is None, (VALID[index], failed)


def validate_task_names(role):
    with open(os.path.join(ROOT, "roles", role, "tasks", "validate.yml")) as handle:
        tasks = yaml.safe_load(handle)
    names = set()
    for task in tasks:
        names.add(task["name"])
        names.update(inner["name"] for inner in task.get("block", []))
    return names


@pytest.mark.parametrize("role", ROLES)
def test_the_role_stops_at_its_checks(outcome, role):
    """The whole role, with a variable only its checks refuse: nothing past them runs."""
    ran = outcome["hosts"]["whole_%s" % role]
    assert ran and ran[-1][1].get("failed"), ran
    allowed = validate_task_names(role) | {"Check the apps", "Check the names and paths Vault is configured with"}
    for name, _answer in ran[1:]:
        assert name.split(" : ", 1)[-1] in allowed or name.split(" : ", 1)[-1].startswith("Validating arguments"), name
    assert next(iter(WHOLE[role])) in " ".join(messages(ran[-1][1]))


@pytest.mark.parametrize("role", ROLES)
def test_the_checks_come_first(role):
    """main.yml imports validate.yml before any task that acts (after the apps' and Vault's own checks)."""
    with open(os.path.join(ROOT, "roles", role, "tasks", "main.yml")) as handle:
        tasks = yaml.safe_load(handle)
    position = next(index for index, task in enumerate(tasks)
                    if task.get("ansible.builtin.import_tasks") == "validate.yml")
    assert all("ansible.builtin.assert" in task for task in tasks[:position]), tasks[:position]
    assert tasks[position].get("tags") == ["always"]
