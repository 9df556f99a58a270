"""The apps on the shared cluster: podinfo's canary taken over by Flagger, routed through
the public Gateway, its namespace labelled for Istio's injection."""

from platform_checks import custom, kube


def test_podinfo_is_a_canary_behind_the_public_gateway(host):
    canary = custom(host, "flagger.app", "v1beta1", "demo", "canaries", "podinfo")
    assert canary["status"]["phase"] in ("Initialized", "Succeeded")
    assert canary["spec"]["service"]["gateways"] == ["istio-ingress/public-gateway", "mesh"]


def test_the_apps_namespace_joins_the_mesh(host):
    import kubernetes

    namespace = kubernetes.client.CoreV1Api(kube(host)).read_namespace("demo")
    assert namespace.metadata.labels["istio-injection"] == "enabled"
