"""The mesh through Flux on the shared cluster: Istio and ingress-nginx released and
Ready, the fixture charts labelled, the public Gateway in place."""

from platform_checks import custom, kube, ready, state_dir


def test_the_mesh_releases_are_ready(host):
    for name in ("istio-base", "istiod", "istio-ingressgateway", "ingress-nginx"):
        assert ready(custom(host, "helm.toolkit.fluxcd.io", "v2", "flux-system", "helmreleases", name)), name


def test_the_fixture_charts_say_they_are_fixtures(host):
    import kubernetes

    istiod = kubernetes.client.AppsV1Api(kube(host)).read_namespaced_deployment("istiod", "istio-system")
    assert istiod.metadata.labels["gitops.progressive/fixture"] == "true"
    chart = host.file(state_dir(host, "mesh") + "/charts/istiod-1.26.0/Chart.yaml")
    assert "FIXTURE" in chart.content_string


def test_the_real_istio_crds_and_the_public_gateway(host):
    import kubernetes

    crd = kubernetes.client.ApiextensionsV1Api(kube(host)).read_custom_resource_definition(
        "virtualservices.networking.istio.io")
    assert {version.name for version in crd.spec.versions} >= {"v1", "v1beta1"}
    gateway = custom(host, "networking.istio.io", "v1", "istio-ingress", "gateways", "public-gateway")
    assert gateway["spec"]["servers"][0]["port"]["number"] == 80
