"""The mesh role without Flux: kubernetes.core.helm installs Istio (base, istiod, the
gateway), ingress-nginx and the public Gateway in order on a cluster of the test's own,
with Helm 3 built from its module and the fixture charts from their directories; a
second run changes nothing; absent uninstalls the releases and keeps the CRDs."""

import pytest
from conftest import assert_ok, cluster_vars, run_playbook

RELEASES = {"istio-base": "istio-system", "istiod": "istio-system", "istio-ingressgateway": "istio-ingress",
            "ingress-nginx": "ingress-nginx"}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    state = tmp_path_factory.mktemp("mesh-helm")
    variables = cluster_vars(state, "mesh-helm", cluster_nodes=1, mesh_install_mode="helm",
                             mesh_ingress_nginx_enabled=True)
    try:
        up = run_playbook("mesh.yml", variables)
        yield dict(vars=variables, run=up, kubeconfig=str(state / "mesh-helm.kubeconfig"))
    finally:
        down = run_playbook("cluster.yml", dict(variables, cluster_state="absent"))
    assert_ok(down)


def helm_releases(kubeconfig):
    """{release name: (namespace, status)} from Helm 3's release Secrets."""
    import kubernetes

    core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))
    found = {}
    for secret in core.list_secret_for_all_namespaces(label_selector="owner=helm").items:
        labels = secret.metadata.labels
        found[labels["name"]] = (secret.metadata.namespace, labels["status"])
    return found


def test_helm_installs_the_mesh_in_order_and_a_second_run_changes_nothing(mesh):
    assert_ok(mesh["run"])
    installed = mesh["run"].results("Install or remove the mesh's charts with Helm")[0]["results"]
    assert [result["item"]["name"] for result in installed] == list(RELEASES)
    assert helm_releases(mesh["kubeconfig"]) == {name: (namespace, "deployed") for name, namespace in RELEASES.items()}
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=mesh["kubeconfig"])
    gateway = kubernetes.client.CustomObjectsApi(client).get_namespaced_custom_object(
        "networking.istio.io", "v1", "istio-ingress", "gateways", "public-gateway")
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    deployment = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("istiod", "istio-system")
    assert deployment.metadata.labels["gitops.progressive/fixture"] == "true"

    second = assert_ok(run_playbook("mesh.yml", mesh["vars"]))
    assert second.stats["changed"] == 0, second.changed_tasks()


def test_absent_uninstalls_the_releases_and_keeps_the_crds(mesh):
    assert_ok(run_playbook("mesh.yml", dict(mesh["vars"], mesh_state="absent")))
    assert helm_releases(mesh["kubeconfig"]) == {}
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=mesh["kubeconfig"])
    crd = kubernetes.client.ApiextensionsV1Api(client).read_custom_resource_definition(
        "virtualservices.networking.istio.io")
    assert crd.metadata.name == "virtualservices.networking.istio.io"
