"""Traefik as the data plane of canaries on the real node: the mesh role (mesh_provider
traefik, helm mode) installs the traefik fixture chart, whose pod is real Traefik built from
its module, on a real node whose web and metrics node ports the cluster role publishes on
127.0.0.1. An HTTPRoute on Traefik's Gateway splits real requests by weight between two
real apps, and Traefik's own Prometheus metrics count them under the backend's service name
(``<namespace>-<service>-http-<port>@kubernetesgateway``). Then Flagger (local processes,
its gatewayapi provider: its traefik provider writes TraefikServices of the API group
Traefik v3 dropped, fluxcd/flagger#1641) releases a real app through a canary: hey sends
real requests through Traefik, Prometheus scrapes Traefik, and the verdict follows the real
5xx answers."""

import json
import os
import re
import subprocess
import time

import pytest
from conftest import assert_ok, cluster_vars, demo_app_deployment, free_port, http_get, real_node_turn, run_playbook

from ansible_collections.gitops.progressive.plugins.module_utils.host import process

NAME = "it-traefik"
NAMESPACE = "shop"


@pytest.fixture(scope="module")
def traefik(tmp_path_factory):
    assert os.geteuid() == 0, "a real node needs root; the suite runs as root"
    state = tmp_path_factory.mktemp("traefik")
    web, metrics = free_port(), free_port()
    variables = cluster_vars(state, NAME, cluster_nodes=1, cluster_real_nodes=1, cluster_registry_port=free_port(),
                             cluster_real_node_ports=["%d:30080" % web, "%d:30091" % metrics],
                             mesh_provider="traefik", mesh_install_mode="helm", flagger_install_mode="local",
                             flagger_port=free_port(), flagger_loadtester_port=free_port(),
                             flagger_prometheus_port=free_port(), flagger_traffic_port=free_port(),
                             cluster_kubeconfig=str(state / (NAME + ".kubeconfig")))
    with real_node_turn():
        try:
            up = assert_ok(run_playbook("real_data_plane.yml", variables))
            yield dict(vars=variables, run=up, web=web, metrics=metrics, kubeconfig=str(state / (NAME + ".kubeconfig")))
        finally:
            # Flagger's local processes (the load tester with its hey among them), then the
            # cluster with its real node and the forwarders of its published ports.
            flagger_down = run_playbook("flagger.yml", dict(variables, flagger_state="absent"))
            cluster_down = run_playbook("cluster.yml", dict(variables, cluster_state="absent"))
            assert_ok(flagger_down)
            assert_ok(cluster_down)
            for port in (web, metrics):
                assert process.bindable("127.0.0.1", port, reuse=True), "127.0.0.1:%d still held after teardown" % port


@pytest.fixture(scope="module")
def api(traefik):
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=traefik["kubeconfig"])
    return (kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client),
            kubernetes.client.CustomObjectsApi(client))


def wait_available(apps, namespace, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment = apps.read_namespaced_deployment(name, namespace)
        if (deployment.status.available_replicas or 0) >= 1:
            return deployment
        time.sleep(1)
    raise AssertionError("%s/%s not available after %ds" % (namespace, name, timeout))


def counter(metrics_text, name, service, code):
    """The value of ``name`` for one service and status code (0 when Traefik has no such series)."""
    for line in metrics_text.splitlines():
        if line.startswith(name + "{") and 'service="%s"' % service in line and 'code="%d"' % code in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_traefik_runs_on_the_real_node_as_the_charts_release(traefik, api):
    core, apps, _custom = api
    installed = traefik["run"].results("Install or remove the mesh's charts with Helm")[0]["results"]
    assert [result["item"]["name"] for result in installed] == ["traefik"]
    pods = core.list_namespaced_pod("traefik", label_selector="app.kubernetes.io/name=traefik").items
    assert len(pods) == 1 and pods[0].spec.node_name == NAME + "-real"
    assert pods[0].spec.containers[0].image == "docker.io/traefik:v3.6.12"
    assert [c.ready for c in pods[0].status.container_statuses] == [True]
    # The CRDs are Traefik's own, from its module.
    import kubernetes

    crds = kubernetes.client.ApiextensionsV1Api(
        kubernetes.config.new_client_from_config(config_file=traefik["kubeconfig"])).list_custom_resource_definition()
    assert {"traefikservices.traefik.io", "ingressroutes.traefik.io"} <= {crd.metadata.name for crd in crds.items}


GATEWAY = {"name": "traefik-gateway", "namespace": "traefik"}


# Each test's routes answer their own host on the shared Gateway.
SPLIT_HOST = "split.example"
CANARY_HOST = "podinfo.example"


def http_route(namespace, name, backends):
    """An HTTPRoute on Traefik's Gateway with weighted backends, as Flagger's gatewayapi router writes it."""
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [GATEWAY], "hostnames": [SPLIT_HOST], "rules": [{"backendRefs": [
                {"name": service, "port": 9898, "weight": weight} for service, weight in backends]}]}}


def test_an_http_route_splits_real_requests_by_weight_and_traefik_counts_them(traefik, api):
    core, apps, custom = api
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    for name, version, error_rate in (("podinfo-primary", "1.0.0", "0"), ("podinfo-canary", "2.0.0", "0.5")):
        apps.create_namespaced_deployment(NAMESPACE, demo_app_deployment(NAMESPACE, name, error_rate, version))
        core.create_namespaced_service(NAMESPACE, {"metadata": {"name": name}, "spec": {
            "selector": {"app": name}, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]}})
    custom.create_namespaced_custom_object("gateway.networking.k8s.io", "v1", NAMESPACE, "httproutes", http_route(
        NAMESPACE, "podinfo", [("podinfo-primary", 80), ("podinfo-canary", 20)]))
    for name in ("podinfo-primary", "podinfo-canary"):
        wait_available(apps, NAMESPACE, name)
    # Until Traefik has read the route and both backends' endpoints (bounded).
    deadline = time.monotonic() + 60
    seen = set()
    while seen != {"1.0.0", "2.0.0"}:
        assert time.monotonic() < deadline, "Traefik never routed to both versions: %s" % seen
        status, body = http_get(traefik["web"], host=SPLIT_HOST)
        seen |= set(re.findall(r'"version": ?"([0-9.]+)"', body)) if status in (200, 500) else set()
        time.sleep(0.2)
    before = http_get(traefik["metrics"], "/metrics")[1]
    statuses = {"1.0.0": [], "2.0.0": []}
    for _request in range(200):
        status, body = http_get(traefik["web"], host=SPLIT_HOST)
        versions = re.findall(r'"version": ?"([0-9.]+)"', body)
        assert len(versions) == 1, (status, body)
        statuses[versions[0]].append(status)
    # Traefik's weighted round robin: 80/20 of 200, give or take the scheduler's phase.
    assert abs(len(statuses["2.0.0"]) - 40) <= 2, {version: len(codes) for version, codes in statuses.items()}
    assert set(statuses["1.0.0"]) == {200}
    canary_errors = statuses["2.0.0"].count(500)
    assert abs(canary_errors - len(statuses["2.0.0"]) / 2) <= 1
    after = http_get(traefik["metrics"], "/metrics")[1]
    canary = "%s-podinfo-canary-http-9898@kubernetesgateway" % NAMESPACE
    primary = "%s-podinfo-primary-http-9898@kubernetesgateway" % NAMESPACE
    # The series the canaries' MetricTemplates select, with exactly the answers the apps gave.
    assert re.search(r'^traefik_service_request_duration_seconds_bucket\{.*service="%s"' % re.escape(canary), after, re.M)
    assert (counter(after, "traefik_service_requests_total", canary, 500)
            - counter(before, "traefik_service_requests_total", canary, 500)) == canary_errors
    assert (counter(after, "traefik_service_requests_total", canary, 200)
            - counter(before, "traefik_service_requests_total", canary, 200)) == len(statuses["2.0.0"]) - canary_errors
    assert (counter(after, "traefik_service_requests_total", primary, 200)
            - counter(before, "traefik_service_requests_total", primary, 200)) == len(statuses["1.0.0"])


def test_the_mesh_publishes_traefiks_addresses_and_prometheus_scrapes_them(traefik):
    facts = traefik["run"].results("Publish what Flagger and the apps take from the mesh")[0]["ansible_facts"]
    assert facts["mesh_flagger_provider"] == "gatewayapi:v1"
    assert facts["mesh_metrics_targets"] == ["127.0.0.1:%d" % traefik["metrics"]]
    assert facts["mesh_ingress_url"] == "http://127.0.0.1:%d" % traefik["web"]
    # The published ports listen on the machine's loopback and nowhere else.
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout.split("\n")
    for port in (traefik["web"], traefik["metrics"]):
        addresses = {line.split()[3] for line in listening if line.split() and line.split()[3].endswith(":%d" % port)}
        assert addresses == {"127.0.0.1:%d" % port}, (port, addresses)
    prometheus = traefik["vars"]["flagger_prometheus_port"]
    deadline = time.monotonic() + 30
    while True:
        status, body = http_get(prometheus, "/api/v1/targets?state=active")
        targets = json.loads(body)["data"]["activeTargets"] if status == 200 else []
        published = [target for target in targets if target["labels"].get("job") == "published"]
        if [(target["labels"]["instance"], target["health"]) for target in published] == [
                ("127.0.0.1:%d" % traefik["metrics"], "up")]:
            break
        assert time.monotonic() < deadline, published
        time.sleep(1)


CANARY_NAMESPACE = "release"


# The success rate of the canary's backend in Traefik's series (Flagger fills in the names).
SUCCESS_RATE = (
    'sum(rate(traefik_service_requests_total{service=~"{{ namespace }}-{{ target }}-canary-http-[0-9]+@kubernetesgateway",'
    'code!~"5.."}[{{ interval }}])) / sum(rate(traefik_service_requests_total{service=~"{{ namespace }}-{{ target }}'
    '-canary-http-[0-9]+@kubernetesgateway"}[{{ interval }}])) * 100')


def canary_definition(web_port):
    return {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": CANARY_NAMESPACE},
        "spec": {
            "provider": "gatewayapi:v1",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "targetPort": 9898, "gatewayRefs": [GATEWAY], "hosts": [CANARY_HOST]},
            "analysis": {
                "interval": "10s", "threshold": 3, "maxWeight": 50, "stepWeight": 25,
                "metrics": [{"name": "traefik-success-rate", "templateRef": {"name": "traefik-success-rate"},
                             "thresholdRange": {"min": 99}, "interval": "20s"}],
                "webhooks": [{
                    "name": "load-test", "type": "rollout", "url": "http://flagger-loadtester.flagger-system/",
                    # Real requests through Traefik's published entry point, bounded in time.
                    "metadata": {"cmd": "hey -z 2m -q 20 -c 2 -host %s http://127.0.0.1:%d/" % (CANARY_HOST, web_port)}}],
            },
        },
    }


@pytest.fixture(scope="module")
def released(traefik, api):
    """The app (a real Deployment on the real node) on Traefik's Gateway, and its Canary
    initialised by Flagger (the primary's pods ready)."""
    core, apps, custom = api
    core.create_namespace({"metadata": {"name": CANARY_NAMESPACE}})
    apps.create_namespaced_deployment(CANARY_NAMESPACE, demo_app_deployment(CANARY_NAMESPACE, "podinfo"))
    custom.create_namespaced_custom_object("flagger.app", "v1beta1", CANARY_NAMESPACE, "metrictemplates", {
        "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": {"name": "traefik-success-rate"},
        "spec": {"provider": {"type": "prometheus",
                              "address": "http://127.0.0.1:%d" % traefik["vars"]["flagger_prometheus_port"]},
                 "query": SUCCESS_RATE}})
    variables = dict(traefik["vars"], canary_definition=canary_definition(traefik["web"]), canary_wait_timeout=180)
    assert_ok(run_playbook("canary_definition.yml", variables))
    wait_available(apps, CANARY_NAMESPACE, "podinfo-primary")
    return dict(variables, app_name="podinfo", app_namespace=CANARY_NAMESPACE)


def release(variables, version, error_rate):
    run = run_playbook("rollout.yml", dict(variables, rollout_env={"APP_VERSION": version, "ERROR_RATE": error_rate},
                                           rollout_timeout=300, rollout_approval="auto"))
    return run, run.results("Start the release and follow it to its verdict")[0]


def primary_version(traefik):
    status, body = http_get(traefik["web"], host=CANARY_HOST)
    return status, (re.findall(r'"version": ?"([0-9.]+)"', body) or [None])[0]


def test_releases_on_real_traffic_a_healthy_one_promoted_then_a_failing_one_rolled_back(traefik, api, released):
    """One sequence (each step starts from where the one before left the app)."""
    _core, _apps, custom = api
    route = custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", CANARY_NAMESPACE, "httproutes",
                                                "podinfo")
    assert route["spec"]["parentRefs"][0]["name"] == "traefik-gateway" and route["spec"]["hostnames"] == [CANARY_HOST]
    weights = {entry["name"]: entry["weight"] for entry in route["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert primary_version(traefik) == (200, "1.0.0")

    run, result = release(released, "2.0.0", "0")
    assert_ok(run)
    assert result["verdict"] == "promoted" and result["phase"] == "Succeeded", result
    assert [weight for weight in dict.fromkeys(result["weights"]) if weight] == [25, 50]
    assert primary_version(traefik) == (200, "2.0.0")

    run, result = release(released, "3.0.0", "0.5")
    assert run.returncode != 0
    assert result["verdict"] == "failed" and result["phase"] == "Failed", result
    # Flagger's reason carries the success rate Prometheus measured from Traefik's series.
    match = re.search(r"traefik-success-rate ([0-9.]+) < 99", result["reason"])
    assert match and 40 <= float(match.group(1)) <= 60, result["reason"]
    assert primary_version(traefik) == (200, "2.0.0")


def test_a_second_run_changes_nothing(traefik):
    second = assert_ok(run_playbook("real_data_plane.yml", traefik["vars"]))
    assert second.stats["changed"] == 0, second.changed_tasks()
