"""The real-cluster path of the whole stack on the rehearsal platform's real node: Flux's
controllers as pods (flux_controllers=pods), Traefik from its chart through Flux, and
Flagger, its load tester and the chart's Prometheus as the pods Flagger's charts deploy
through Flux HelmReleases (flagger_controllers=pods), with images built here under the
charts' names; the demo app as real pods. A release through git_release: a healthy version
promoted, one that answers half its requests with real 500s rolled back by Flagger on
Traefik's metrics (scraped by the chart's Prometheus) and its commit reverted in git."""

import os
import re

import pytest
from conftest import assert_ok, free_port, real_node_turn, run_playbook
from test_seed_flows import SITE, TRAEFIK_CATALOG, UserTraffic, env_release, served_version, stand_up

NAME = "it-flaggerpods"
REAL_NODE = NAME + "-real"
CHART_PODS = {  # Deployment -> (namespace, image the chart names)
    "flagger": ("flagger-system", "ghcr.io/fluxcd/flagger:1.41.0"),
    "flagger-loadtester": ("flagger-system", "ghcr.io/fluxcd/flagger-loadtester:0.35.0"),
    "flagger-prometheus": ("flagger-system", "docker.io/prom/prometheus:v2.41.0"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    assert os.geteuid() == 0, "a real node needs root; the suite runs as root"
    git, charts, receiver, web, metrics = free_port(), free_port(), free_port(), free_port(), free_port()
    with real_node_turn():
        for platform in stand_up(
                tmp_path_factory, NAME, mesh_provider="traefik", apps_enabled=["podinfo"], apps_catalog=TRAEFIK_CATALOG,
                cluster_real_nodes=1, cluster_registry_port=free_port(), cluster_real_node_host_ports=[git, charts],
                cluster_real_node_ports=["%d:30092" % receiver, "%d:30080" % web, "%d:30091" % metrics],
                flux_controllers="pods", flux_git_port=git, flux_chart_port=charts, flux_receiver_port=receiver,
                flagger_controllers="pods"):
            yield dict(platform, web=web)


@pytest.fixture(scope="module")
def kube(stack):
    import kubernetes

    assert_ok(stack["run"])
    client = kubernetes.config.new_client_from_config(config_file=stack["kubeconfig"])
    return kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client)


def pods_of(core, namespace, deployment):
    return [pod for pod in core.list_namespaced_pod(namespace).items
            if pod.metadata.name.startswith(deployment + "-") and pod.metadata.deletion_timestamp is None
            and pod.metadata.name[len(deployment) + 1:].count("-") == 1]


def test_the_charts_pods_run_on_the_real_node_from_images_built_here(stack, kube):
    core, _apps = kube
    for deployment, (namespace, image) in CHART_PODS.items():
        pods = pods_of(core, namespace, deployment)
        assert len(pods) == 1, (deployment, [pod.metadata.name for pod in pods])
        pod = pods[0]
        assert pod.spec.node_name == REAL_NODE, (deployment, pod.spec.node_name)
        assert pod.status.phase == "Running" and all(status.ready for status in pod.status.container_statuses)
        assert pod.spec.containers[0].image.startswith(image), (deployment, pod.spec.containers[0].image)
    # No Flagger, load tester or Prometheus process of the simulated platform on this machine.
    flagger_state = os.path.join(stack["state"], NAME, "flagger")
    assert not [name for name in ("flagger", "loadtester", "prometheus", "traffic-simulator")
                if os.path.exists(os.path.join(flagger_state, name + ".pid"))]


def test_flagger_queries_the_charts_prometheus_for_the_gateway_api(stack, kube):
    core, _apps = kube
    command = pods_of(core, "flagger-system", "flagger")[0].spec.containers[0].command
    assert "-metrics-server=http://flagger-prometheus:9090" in command and "-mesh-provider=gatewayapi:v1" in command


def test_a_second_run_changes_nothing(stack, kube):
    """Before any release (a release changes what the apps role wrote): images, scripts,
    releases and placement as they were."""
    second = assert_ok(run_playbook(SITE, stack["vars"]))
    assert second.stats["changed"] == 0, second.changed_tasks()


def pod_logs(stack, namespace, deployment, lines=15):
    """The last lines each container of the Deployment's pods wrote (the node keeps them as
    files: the API server cannot reach the kubelet by the node's name), for failure messages."""
    root = os.path.join(stack["state"], "nodes", REAL_NODE, "pod-logs")
    found = []
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if entry.startswith("%s_%s-" % (namespace, deployment)):
            for directory, _dirs, files in os.walk(os.path.join(root, entry)):
                for name in sorted(files):
                    with open(os.path.join(directory, name), errors="replace") as handle:
                        found.append("%s/%s:\n%s" % (entry, name, "".join(handle.readlines()[-lines:])))
    return "\n".join(found)


def verdict_is(stack, result, verdict):
    assert result["verdict"] == verdict, "%s\nreason: %s\n%s\n%s" % (
        result["verdict"], result.get("reason"), pod_logs(stack, "flagger-system", "flagger-loadtester"),
        pod_logs(stack, "flagger-system", "flagger"))


def test_git_release_on_the_pods_promotes_a_healthy_version_and_rolls_back_real_5xx(stack, kube):
    """One sequence: each release starts from where the one before left the app."""
    core, _apps = kube
    pods = core.list_namespaced_pod("seed").items
    assert pods and {pod.spec.node_name for pod in pods} == {REAL_NODE}
    assert served_version(stack) == "1.0.0"

    with UserTraffic(stack):
        healthy = env_release(stack, APP_VERSION="2.0.0")
    verdict_is(stack, healthy, "promoted")
    assert served_version(stack) == "2.0.0"

    with UserTraffic(stack):
        failing = env_release(stack, APP_VERSION="3.0.0", ERROR_RATE="0.5")
    verdict_is(stack, failing, "failed")
    # The chart's Prometheus (scraping Traefik's pod by its annotations every 5 s) measured the
    # canary's real 500s: about half its answers, at each check that failed on a value.
    rates = [float(rate) for rate in re.findall(r"podinfo-traefik-request-success-rate ([0-9.]+) < 99", str(failing))]
    assert rates and all(30 <= rate <= 70 for rate in rates), failing.get("reason")
    assert failing["revert_commit"]
    assert served_version(stack) == "2.0.0"
