"""The seed flows of the source documents, each one release through git on a platform
stood up by the real site.yml (cluster, Flux, the mesh, Flagger, the apps):

- an Istio canary (podinfo through the public Gateway, traffic weights);
- an A/B test by header on ingress-nginx (faces-gui: Flagger's canary Ingress matches
  the header, the analysis reads ingress-nginx's metrics);
- blue/green on the kubernetes provider (webapp: iterations, then the switch), the web app
  wired to Vault (the vault role's OpenBao and PostgreSQL): its conformance webhook needs
  Vault to serve the app, so a release while Vault is sealed is rolled back;
- a Linkerd canary (podinfo through the Gateway API, Linkerd's metrics), on a second
  platform with Linkerd as its mesh;
- a Traefik canary on real pods (the demo app on a real node, Traefik's Gateway, hey's
  real requests, Traefik's metrics), on a third platform: promoted, then a version failing
  half its requests rolled back and reverted.

Each platform is its own simulated cluster (module fixtures), torn down by teardown.yml.
"""

import json
import os
import time

import pytest
from conftest import (ROOT, assert_ok, cluster_vars, free_block, free_port, http_get, phase_is, real_node_turn,
                      run_playbook, wait_canary)

SITE = os.path.join(ROOT, "playbooks", "site.yml")
TEARDOWN = os.path.join(ROOT, "playbooks", "teardown.yml")
PODINFO = "ghcr.io/stefanprodan/podinfo"
FACES_GUI = "ghcr.io/buoyantio/faces-gui"
WEBAPP = "burtlo/devwebapp-ruby"
SUCCESS = [dict(name="request-success-rate", thresholdRange={"min": 90}, interval="15s")]
# Short analyses: Flagger checks every 2 s, a step or an iteration every 5 s.
CATALOG = dict(
    podinfo=dict(namespace="seed", image=PODINFO, tag="6.7.0", port=9898, env={"ERROR_FRACTION": "0"},
                 canary=dict(interval="5s", threshold=2, maxWeight=50, stepWeight=25, progressDeadlineSeconds=60,
                             metrics=SUCCESS)),
    **{"faces-gui": dict(namespace="faces", image=FACES_GUI, tag="1.4.1", port=8000, provider="nginx", strategy="ab",
                         env={"ERROR_FRACTION": "0"},
                         canary=dict(interval="5s", threshold=2, iterations=3, progressDeadlineSeconds=60,
                                     match=[{"headers": {"x-faces-user": {"exact": "testuser"}}}],
                                     metrics=SUCCESS)),
       "webapp": dict(namespace="webapp", image=WEBAPP, tag="k8s", port=8080, provider="kubernetes",
                      strategy="bluegreen", env={"ERROR_FRACTION": "0"}, vault={},
                      canary=dict(interval="5s", threshold=2, iterations=3, progressDeadlineSeconds=60,
                                  metrics=SUCCESS))})


def platform_vars(state, name, **overrides):
    values = cluster_vars(state, name, cluster_nodes=1)
    values.update(
        flux_git_port=free_port(), flux_events_port=free_port(), flux_receiver_port=free_port(),
        flux_storage_port=free_port(), flux_chart_port=free_port(), flux_controller_port_base=free_block(12),
        flagger_port=free_port(), flagger_loadtester_port=free_port(), flagger_prometheus_port=free_port(),
        flagger_traffic_port=free_port(), flagger_control_loop_interval="2s", apps_catalog=CATALOG)
    values.update(overrides)
    return values


def stand_up(tmp_path_factory, name, **overrides):
    state = tmp_path_factory.mktemp(name)
    variables = platform_vars(state, name, **overrides)
    try:
        up = run_playbook(SITE, variables)
        yield dict(vars=variables, run=up, state=str(state),
                   kubeconfig=os.path.join(str(state), "%s.kubeconfig" % name))
    finally:
        down = run_playbook(TEARDOWN, variables)
    assert_ok(down)


@pytest.fixture(scope="module")
def istio(tmp_path_factory):
    """Istio and ingress-nginx, Vault, podinfo (Istio canary), faces-gui (A/B), webapp (blue/green, Vault)."""
    yield from stand_up(tmp_path_factory, "seed-istio", mesh_provider="istio", mesh_ingress_nginx_enabled=True,
                        apps_enabled=["podinfo", "faces-gui", "webapp"], vault_enabled=True, vault_port=free_port(),
                        vault_cluster_port=free_port(), vault_postgres_port=free_port())


@pytest.fixture(scope="module")
def linkerd(tmp_path_factory):
    """Linkerd (cert-manager, Gateway API, control plane), podinfo routed by the Gateway API."""
    yield from stand_up(tmp_path_factory, "seed-linkerd", mesh_provider="linkerd", apps_enabled=["podinfo"])


def client(platform):
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=platform["kubeconfig"])


def custom(platform, group, version, namespace, plural, name):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(client(platform)).get_namespaced_custom_object(
        group, version, namespace, plural, name)


def release(platform, app, namespace, image, tag, fail_on_rollback=False, **extra):
    """Ship ``image:tag`` through git with the collection's release playbook; the result. The
    verdict is published for AWX (the job's artifacts) under git_release, also when the job
    fails on a rollback (``fail_on_rollback``)."""
    variables = dict(platform["vars"], release_app=app, release_namespace=namespace,
                     release_images={image: tag}, release_timeout=300, release_fail_on_rollback=fail_on_rollback,
                     flagger_prometheus_url="http://127.0.0.1:%d" % platform["vars"]["flagger_prometheus_port"],
                     release_repo_url="http://127.0.0.1:%d/platform.git" % platform["vars"]["flux_git_port"], **extra)
    run = run_playbook(os.path.join(ROOT, "playbooks", "release.yml"), variables)
    result = run.results("Ship the release through git and follow it to its verdict")[0]
    if fail_on_rollback and result.get("verdict") == "failed":
        assert run.returncode != 0 and "Fail the job when the release was rolled back" in run.failures()[0][0], \
            run.failures()
    else:
        assert_ok(run)
    published = run.custom_stats["git_release"]["%s/%s" % (namespace, app)]
    assert published["verdict"] == result["verdict"] and published.get("reason") == result.get("reason"), published
    return result


def primary_image(platform, app, namespace):
    import kubernetes

    deployment = kubernetes.client.AppsV1Api(client(platform)).read_namespaced_deployment(
        "%s-primary" % app, namespace)
    return deployment.spec.template.spec.containers[0].image


def fresh_tag(prefix):
    return "%s.%d" % (prefix, int(time.time() * 10) % 100000)


def test_the_site_stood_istio_and_ingress_nginx_up_through_flux(istio):
    assert_ok(istio["run"])
    for name in ("istio-base", "istiod", "istio-ingressgateway", "ingress-nginx"):
        release_object = custom(istio, "helm.toolkit.fluxcd.io", "v2", "flux-system", "helmreleases", name)
        ready = next(c for c in release_object["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", (name, ready)
    gateway = custom(istio, "networking.istio.io", "v1", "istio-ingress", "gateways", "public-gateway")
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    import kubernetes

    namespace = kubernetes.client.CoreV1Api(client(istio)).read_namespace("seed")
    assert namespace.metadata.labels["istio-injection"] == "enabled"
    classes = kubernetes.client.NetworkingV1Api(client(istio)).read_ingress_class("nginx")
    assert classes.spec.controller == "k8s.io/ingress-nginx"
    assert classes.metadata.labels["gitops.progressive/fixture"] == "true"


def test_istio_canary_shifts_weights_through_the_public_gateway(istio):
    tag = fresh_tag("6.8")
    result = release(istio, "podinfo", "seed", PODINFO, tag)
    assert result["verdict"] == "promoted", result
    assert primary_image(istio, "podinfo", "seed") == "%s:%s" % (PODINFO, tag)
    service = custom(istio, "networking.istio.io", "v1beta1", "seed", "virtualservices", "podinfo")["spec"]
    assert service["gateways"] == ["istio-ingress/public-gateway", "mesh"]
    assert service["hosts"] == ["podinfo"]


def test_ab_by_header_on_ingress_nginx_reads_nginx_metrics(istio):
    tag = fresh_tag("1.5")
    result = release(istio, "faces-gui", "faces", FACES_GUI, tag)
    assert result["verdict"] == "promoted", result
    assert primary_image(istio, "faces-gui", "faces") == "%s:%s" % (FACES_GUI, tag)
    import kubernetes

    networking = kubernetes.client.NetworkingV1Api(client(istio))
    canary_ingress = networking.read_namespaced_ingress("faces-gui-canary", "faces")
    assert canary_ingress.metadata.annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    canary = custom(istio, "flagger.app", "v1beta1", "faces", "canaries", "faces-gui")
    assert canary["spec"]["ingressRef"]["name"] == "faces-gui"
    assert canary["status"]["phase"] == "Succeeded"


def test_blue_green_on_the_kubernetes_provider_switches_after_its_iterations(istio):
    tag = fresh_tag("k8s")
    result = release(istio, "webapp", "webapp", WEBAPP, tag)
    assert result["verdict"] == "promoted", result
    assert primary_image(istio, "webapp", "webapp") == "%s:%s" % (WEBAPP, tag)
    canary = custom(istio, "flagger.app", "v1beta1", "webapp", "canaries", "webapp")
    assert canary["spec"]["provider"] == "kubernetes"
    assert "stepWeight" not in canary["spec"]["analysis"] and canary["spec"]["analysis"]["iterations"] == 3
    hooks = {hook["name"]: hook for hook in canary["spec"]["analysis"]["webhooks"]}
    assert hooks["conformance"]["type"] == "pre-rollout" and "webapp-canary.webapp:8080" in hooks[
        "conformance"]["metadata"]["cmd"]
    assert hooks["load-test"]["type"] == "rollout"


def vault_of(platform):
    """A root hvac client of the platform's Vault, and its unseal keys."""
    import hvac

    directory = os.path.join(platform["state"], platform["vars"]["cluster_name"], "vault", "init")
    with open(os.path.join(directory, "keys.json")) as handle:
        keys = json.load(handle)
    return hvac.Client(url="http://127.0.0.1:%d" % platform["vars"]["vault_port"], token=keys["root_token"]), keys


def test_the_vault_backed_webapp_is_wired_and_rolled_back_while_vault_is_sealed(istio):
    import kubernetes

    deployment = kubernetes.client.AppsV1Api(client(istio)).read_namespaced_deployment("webapp-primary", "webapp")
    spec = deployment.spec.template.spec
    assert spec.service_account_name == "webapp"
    assert {env.name: env.value for env in spec.containers[0].env}["VAULT_ADDR"] == "http://127.0.0.1:%d" % (
        istio["vars"]["vault_port"])
    assert istio["run"].results("Prove each Vault-backed app's Vault wiring")[0]["results"][0]["revoked"] is True
    root, keys = vault_of(istio)
    before = primary_image(istio, "webapp", "webapp")
    root.sys.seal()
    try:
        result = release(istio, "webapp", "webapp", WEBAPP, fresh_tag("k8s"))
    finally:
        for key in keys["keys_base64"][:keys["threshold"]]:
            root.sys.submit_unseal_key(key)
    assert result["verdict"] == "failed", result
    assert primary_image(istio, "webapp", "webapp") == before
    assert result.get("revert_commit"), result
    # Flagger's own words: the pre-rollout conformance check failed (the app answered 503).
    assert "conformance" in json.dumps(result.get("events", [])), result.get("events")


def test_linkerd_canary_through_the_gateway_api(linkerd, tmp_path):
    assert_ok(linkerd["run"])
    import kubernetes

    anchors = kubernetes.client.CoreV1Api(client(linkerd)).read_namespaced_config_map(
        "linkerd-identity-trust-roots", "linkerd")
    assert anchors.data["ca-bundle.crt"].startswith("-----BEGIN CERTIFICATE-----")
    wait_canary(linkerd["kubeconfig"], "seed", "podinfo", phase_is("Initialized", "Succeeded"), timeout=120)
    tag = fresh_tag("6.9")
    result = release(linkerd, "podinfo", "seed", PODINFO, tag)
    assert result["verdict"] == "promoted", result
    assert primary_image(linkerd, "podinfo", "seed") == "%s:%s" % (PODINFO, tag)
    route = custom(linkerd, "gateway.networking.k8s.io", "v1beta1", "seed", "httproutes", "podinfo")
    assert route["spec"]["parentRefs"][0]["kind"] == "Service"
    template = custom(linkerd, "flagger.app", "v1beta1", "seed", "metrictemplates", "podinfo-linkerd-request-success-rate")
    assert "response_total" in template["spec"]["query"]

    # Linkerd's metrics judge: a version answering 75 % errors is rolled back and reverted.
    page = tmp_path / "linkerd-release.html"
    errors = dict(file="apps/staging/podinfo-env.yaml", value="75",
                  path="spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].value")
    failing = release(linkerd, "podinfo", "seed", PODINFO, fresh_tag("6.9"), fail_on_rollback=True,
                      release_report=str(page), release_values=[errors])
    assert failing["verdict"] == "failed", failing
    # Judged by Linkerd's metric (the MetricTemplate), by its value, not for want of one.
    assert "podinfo-linkerd-request-success-rate" in str(failing) and "no values found" not in str(failing), failing
    assert failing["revert_commit"]
    assert primary_image(linkerd, "podinfo", "seed") == "%s:%s" % (PODINFO, tag)
    # release.yml's report of it: the verdict, the metric against its threshold, both commits.
    text = page.read_text()
    assert failing["report"] == str(page) and "Release seed/podinfo" in text and "request-success-rate" in text
    assert failing["commit"] in text and failing["revert_commit"] in text


DEMO_APP = "ghcr.io/gitops-progressive/demo-app"
# The demo app (real pods on the real node; podinfo cannot be built here), analysed on
# Traefik's metrics of the requests hey sends through Traefik's Gateway.
TRAEFIK_CATALOG = dict(podinfo=dict(
    namespace="seed", image=DEMO_APP, tag="v1.0.0", port=9898, env={"ERROR_RATE": "0", "APP_VERSION": "1.0.0"},
    canary=dict(interval="10s", threshold=3, maxWeight=50, stepWeight=25, progressDeadlineSeconds=120,
                metrics=[dict(name="request-success-rate", thresholdRange={"min": 99}, interval="20s")])))


@pytest.fixture(scope="module")
def traefik(tmp_path_factory):
    """A real node with Traefik on it (Flagger through the Gateway API), podinfo's pods on it."""
    web, metrics = free_port(), free_port()
    with real_node_turn():
        for platform in stand_up(tmp_path_factory, "seed-traefik", mesh_provider="traefik", apps_enabled=["podinfo"],
                                 apps_catalog=TRAEFIK_CATALOG, cluster_real_nodes=1, cluster_registry_port=free_port(),
                                 cluster_real_node_ports=["%d:30080" % web, "%d:30091" % metrics]):
            yield dict(platform, web=web)


def env_release(platform, **env):
    """Change the app's environment through git (no image: the demo app has one tag here); the result.
    With Flagger's processes, the release reads their Prometheus on 127.0.0.1 (with its pods, none here)."""
    local = {} if platform["vars"].get("flagger_controllers") == "pods" else dict(
        flagger_prometheus_url="http://127.0.0.1:%d" % platform["vars"]["flagger_prometheus_port"])
    variables = dict(platform["vars"], release_app="podinfo", release_namespace="seed", release_images={},
                     release_timeout=400, release_fail_on_rollback=False, **local,
                     release_repo_url="http://127.0.0.1:%d/platform.git" % platform["vars"]["flux_git_port"],
                     release_values=[dict(file="apps/staging/podinfo-env.yaml", value=value,
                                          path="spec.template.spec.containers[name=podinfo].env[name=%s].value" % name)
                                     for name, value in env.items()])
    run = run_playbook(os.path.join(ROOT, "playbooks", "release.yml"), variables)
    return assert_ok(run).results("Ship the release through git and follow it to its verdict")[0]


class UserTraffic:
    """Steady requests to the app through Traefik's Gateway, as its users would send (about 5 a
    second, bounded in time): between releases the primary's series exist, as in production."""

    def __init__(self, platform, seconds=900):
        import threading

        self.port, self.deadline = platform["web"], time.monotonic() + seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            http_get(self.port, host="podinfo.example.local")
            self.stopped.wait(0.2)

    def __enter__(self):
        self.thread.start()
        time.sleep(5)
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(10)


def served_version(platform):
    """What Traefik's Gateway answers for podinfo's host (the primary, outside a release)."""
    status, body = http_get(platform["web"], host="podinfo.example.local")
    assert status == 200, (status, body)
    return json.loads(body)["version"]


def test_traefik_canary_on_real_pods_through_git(traefik):
    assert_ok(traefik["run"])
    import kubernetes

    wait_canary(traefik["kubeconfig"], "seed", "podinfo", phase_is("Initialized", "Succeeded"), timeout=180)
    pods = kubernetes.client.CoreV1Api(client(traefik)).list_namespaced_pod("seed").items
    assert pods and {pod.spec.node_name for pod in pods} == {"seed-traefik-real"}
    route = custom(traefik, "gateway.networking.k8s.io", "v1", "seed", "httproutes", "podinfo")
    assert route["spec"]["parentRefs"][0]["name"] == "traefik-gateway"
    assert served_version(traefik) == "1.0.0"

    with UserTraffic(traefik):
        healthy = env_release(traefik, APP_VERSION="2.0.0")
    assert healthy["verdict"] == "promoted", healthy
    assert served_version(traefik) == "2.0.0"

    # Half of its answers are real 500s: Traefik counts them, the MetricTemplate reads them,
    # Flagger rolls the release back and git_release reverts its commit.
    with UserTraffic(traefik):
        failing = env_release(traefik, APP_VERSION="3.0.0", ERROR_RATE="0.5")
    assert failing["verdict"] == "failed", failing
    assert "podinfo-traefik-request-success-rate" in str(failing) and "no values found" not in str(failing), failing
    assert failing["revert_commit"]
    assert served_version(traefik) == "2.0.0"
