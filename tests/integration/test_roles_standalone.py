"""Roles that stand alone: each runs against the cluster its environment names (the
``K8S_AUTH_KUBECONFIG`` an AWX credential injects) without the cluster role, takes the
real-cluster path unless the play targets the simulated platform, and has real-cluster
defaults (an in-cluster Prometheus, not a loopback port)."""

import os

import pytest

from conftest import assert_ok, cluster_vars, run_playbook

ISTIO_ROUTING = ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
                 "gateways.networking.istio.io")


def alone_env(kubeconfig, tmp_path):
    """This process's environment with only the injected kubeconfig: KUBECONFIG names a file
    that does not exist, so nothing else can be the one the roles use."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("K8S_AUTH_", "KUBECONFIG"))}
    env["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    if kubeconfig:
        env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    return env


def resolved(role, names, tmp_path, kubeconfig=None, **variables):
    run = assert_ok(run_playbook("role_defaults.yml", dict(variables, alone_role=role, alone_names=list(names)),
                                 environ=alone_env(kubeconfig, tmp_path)))
    return run.custom_stats["resolved"]


REAL = {
    "flux": {"flux_install_mode": "cli"},
    "mesh": {"mesh_fixture_charts": False},
    "vault": {"vault_install_mode": "helm"},
    "flagger": {"flagger_local": False, "flagger_prometheus_install": True,
                "flagger_metrics_server": "http://flagger-prometheus.flagger-system:9090"},
    "apps": {"apps_metrics_server": "http://flagger-prometheus.flagger-system:9090",
             "apps_load_test_cmd": "hey -z 1m -q 10 -c 2 {url}"},
}
SIMULATED = {
    "flux": {"flux_install_mode": "local"},
    "mesh": {"mesh_fixture_charts": True},
    "vault": {"vault_install_mode": "local"},
    "flagger": {"flagger_local": True, "flagger_prometheus_install": False,
                "flagger_metrics_server": "http://127.0.0.1:19090"},
    "apps": {"apps_load_test_cmd": "for i in $(seq 1 20); do curl -s --max-time 2 -o /dev/null {url}; done",
             "apps_metrics_server": "http://127.0.0.1:19090"},
}


@pytest.mark.parametrize("role", sorted(REAL))
def test_a_role_alone_takes_the_real_cluster_path_and_the_injected_kubeconfig(role, tmp_path):
    names = ["%s_kubeconfig" % role] + sorted(REAL[role])
    injected = str(tmp_path / "awx" / "kubeconfig")
    assert resolved(role, names, tmp_path, injected) == dict(REAL[role], **{"%s_kubeconfig" % role: injected})
    # Nothing injected: no kubeconfig at all (kubernetes.core's own defaults), never a made-up path.
    assert resolved(role, names[:1], tmp_path) == {"%s_kubeconfig" % role: None}


@pytest.mark.parametrize("role", sorted(SIMULATED))
def test_the_simulated_platform_is_taken_only_when_the_play_targets_it(role, tmp_path):
    """The cluster role's facts (or the same variables set by hand) target it; its
    kubeconfig wins over an injected one."""
    names = ["%s_kubeconfig" % role] + sorted(SIMULATED[role])
    values = resolved(role, names, tmp_path, str(tmp_path / "injected"), cluster_provider="kwok",
                      cluster_kubeconfig="/srv/sim/dev.kubeconfig")
    assert values == dict(SIMULATED[role], **{"%s_kubeconfig" % role: "/srv/sim/dev.kubeconfig"})


def test_the_cluster_role_on_an_existing_cluster_takes_the_injected_kubeconfig(tmp_path):
    """An existing cluster in AWX: the credential's K8S_AUTH_KUBECONFIG, not a path of the role's
    own; with nothing injected none (kubernetes.core's defaults). k3d, minikube and kwok write theirs."""
    injected = str(tmp_path / "awx" / "kubeconfig")
    assert resolved("cluster", ["cluster_kubeconfig"], tmp_path, injected, cluster_provider="existing") == {
        "cluster_kubeconfig": injected}
    assert resolved("cluster", ["cluster_kubeconfig"], tmp_path, cluster_provider="existing") == {
        "cluster_kubeconfig": None}
    written = resolved("cluster", ["cluster_kubeconfig"], tmp_path, injected, cluster_provider="k3d",
                       cluster_state_dir="/srv/state", cluster_name="dev")
    assert written == {"cluster_kubeconfig": "/srv/state/dev.kubeconfig"}


def test_flaggers_chart_installs_its_prometheus_on_a_real_cluster_and_not_on_the_simulated_one(tmp_path):
    real = resolved("flagger", ["flagger_chart_values"], tmp_path, str(tmp_path / "kubeconfig"))
    assert real["flagger_chart_values"]["prometheus"] == {"install": True}
    assert real["flagger_chart_values"]["metricsServer"] == "http://flagger-prometheus.flagger-system:9090"
    simulated = resolved("flagger", ["flagger_chart_values"], tmp_path, cluster_provider="kwok",
                         cluster_kubeconfig="/srv/sim/dev.kubeconfig")
    assert simulated["flagger_chart_values"]["prometheus"] == {"install": False}


@pytest.mark.parametrize("role, message", [
    ("flux", "flux_kubeconfig is required with flux_install_mode=local"),
    ("flagger", "flagger_kubeconfig is required when Flagger runs on this machine"),
    ("vault", "vault_kubeconfig is required with vault_install_mode=local"),
])
def test_a_role_that_runs_processes_here_without_any_kubeconfig_is_refused_before_it_starts_anything(role, message, tmp_path):
    state = tmp_path / "state"
    run = run_playbook("role_alone.yml", {"alone_role": role, "cluster_provider": "kwok", "%s_state_dir" % role: str(state)},
                       environ=alone_env(None, tmp_path))
    assert run.returncode != 0
    assert message in str(run.failures()), run.raw[-3000:]
    assert not state.exists()


def test_flux_alone_asks_for_its_bootstrap_settings_and_starts_no_local_controller(tmp_path):
    """Left unset, the provider no longer means the simulated platform: Flux alone wants a
    git host to bootstrap from, instead of starting controllers on this machine."""
    state = tmp_path / "flux-state"
    run = run_playbook("role_alone.yml", {"alone_role": "flux", "flux_state_dir": str(state)},
                       environ=alone_env(str(tmp_path / "kubeconfig"), tmp_path))
    assert run.returncode != 0
    assert "flux_bootstrap_url is required with flux_install_mode=cli" in str(run.failures()), run.raw[-3000:]
    assert not state.exists()


def test_the_mesh_role_alone_installs_on_the_cluster_the_environment_names(tmp_path):
    """A cluster of its own (so that the CRDs cannot have come from another test), then the
    mesh role in a second playbook run: no cluster role, no cluster variable, only the
    injected kubeconfig. A second run changes nothing."""
    import kubernetes

    variables = cluster_vars(tmp_path / "cluster", "it-alone", cluster_nodes=1)
    up = assert_ok(run_playbook("cluster.yml", variables))
    try:
        kubeconfig = up.results("Bring the simulated cluster to the wanted state")[0]["kubeconfig"]
        api = kubernetes.client.ApiextensionsV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))
        before = {crd.metadata.name for crd in api.list_custom_resource_definition().items}
        assert not before & set(ISTIO_ROUTING)
        mesh = {"alone_role": "mesh", "mesh_install_mode": "crds", "mesh_state_dir": str(tmp_path / "mesh")}
        env = alone_env(kubeconfig, tmp_path)
        first = assert_ok(run_playbook("role_alone.yml", mesh, environ=env))
        after = {crd.metadata.name for crd in api.list_custom_resource_definition().items}
        assert set(ISTIO_ROUTING) <= after
        assert first.stats["changed"] > 0
        again = assert_ok(run_playbook("role_alone.yml", mesh, environ=env))
        assert again.stats["changed"] == 0, again.changed_tasks()
    finally:
        assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))


def test_with_linkerd_viz_flagger_queries_the_meshs_prometheus_and_installs_none(tmp_path):
    """Linkerd's proxies carry no scrape annotations: Flagger's chart Prometheus would find no
    data; the mesh role's fact names linkerd-viz's."""
    values = resolved("flagger", ["flagger_metrics_server", "flagger_prometheus_install"], tmp_path,
                      str(tmp_path / "kubeconfig"), mesh_metrics_server="http://prometheus.linkerd-viz.svc:9090")
    assert values == {"flagger_metrics_server": "http://prometheus.linkerd-viz.svc:9090", "flagger_prometheus_install": False}


def bearer_token_credential(kubeconfig, tmp_path):
    """What AWX's "OpenShift or Kubernetes API Bearer Token" credential injects: the API
    server, a service account's token and the CA as a file; no kubeconfig anywhere."""
    import kubernetes

    api = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    core, rbac = kubernetes.client.CoreV1Api(api), kubernetes.client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account("kube-system", {"metadata": {"name": "awx"}})
    rbac.create_cluster_role_binding({
        "metadata": {"name": "awx-cluster-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "awx", "namespace": "kube-system"}]})
    token = core.create_namespaced_service_account_token(
        "awx", "kube-system", {"spec": {"expirationSeconds": 3600}}).status.token
    ca_file = tmp_path / "awx-ca.crt"
    if api.configuration.ssl_ca_cert:
        with open(api.configuration.ssl_ca_cert, "rb") as handle:
            ca_file.write_bytes(handle.read())
    env = alone_env(None, tmp_path)
    env.update(K8S_AUTH_HOST=api.configuration.host, K8S_AUTH_API_KEY=token, K8S_AUTH_SSL_CA_CERT=str(ca_file),
               K8S_AUTH_VERIFY_SSL="true")
    return env, api.configuration.host


def test_the_vault_role_alone_configures_kubernetes_auth_from_awxs_bearer_token_credential(tmp_path):
    """The vault role on the simulated platform with only K8S_AUTH_HOST, K8S_AUTH_API_KEY and
    K8S_AUTH_SSL_CA_CERT: Vault's Kubernetes auth names that API server and CA, a second run
    changes nothing; then torn down."""
    import json

    import hvac

    from conftest import free_port

    variables = cluster_vars(tmp_path / "cluster", "it-vault-alone", cluster_nodes=1)
    up = assert_ok(run_playbook("cluster.yml", variables))
    vault = {"alone_role": "vault", "cluster_provider": "kwok", "vault_state_dir": str(tmp_path / "vault"),
             "vault_port": free_port(), "vault_cluster_port": free_port(), "vault_postgres_port": free_port()}
    try:
        kubeconfig = up.results("Bring the simulated cluster to the wanted state")[0]["kubeconfig"]
        env, host = bearer_token_credential(kubeconfig, tmp_path)
        first = run_playbook("role_alone.yml", vault, environ=env)
        assert_ok(first)
        with open(os.path.join(vault["vault_state_dir"], "init", "keys.json")) as handle:
            root = hvac.Client(url="http://127.0.0.1:%d" % vault["vault_port"], token=json.load(handle)["root_token"])
        config = root.auth.kubernetes.read_config()
        assert config["kubernetes_host"] == host
        assert config["kubernetes_ca_cert"].strip() == (tmp_path / "awx-ca.crt").read_text().strip()
        again = assert_ok(run_playbook("role_alone.yml", vault, environ=env))
        assert again.stats["changed"] == 0, again.changed_tasks()
    finally:
        down = run_playbook("role_alone.yml", dict(vault, vault_state="absent"), environ=alone_env(None, tmp_path))
        assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert_ok(down)
