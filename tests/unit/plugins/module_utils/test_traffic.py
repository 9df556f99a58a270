import re

from ansible_collections.gitops.progressive.plugins.module_utils.sim import traffic


def pod(name, workload_hash="7bd6dc7ffd", error=None, latency=None, phase="Running", ready="True", uid=None):
    env = []
    if error is not None:
        env.append({"name": "ERROR_FRACTION", "value": str(error)})
    if latency is not None:
        env.append({"name": "LATENCY_MS", "value": str(latency)})
    return {"metadata": {"name": name, "namespace": "test", "uid": uid or name,
                         "labels": {"app": "podinfo-primary", "pod-template-hash": workload_hash},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "podinfo-primary-" + workload_hash}]},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0", "env": env}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}}


def sample(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % item in line for item in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s %s in output" % (name, labels))


def test_workload_is_the_deployment_behind_the_replicaset():
    assert traffic.workload_of(pod("podinfo-primary-7bd6dc7ffd-abcde")) == "podinfo-primary"


def test_only_running_ready_pods_serve():
    assert traffic.is_serving(pod("a"))
    assert not traffic.is_serving(pod("a", ready="False"))
    assert not traffic.is_serving(pod("a", phase="Pending"))


def test_error_fraction_and_latency_come_from_the_pod_template():
    served = traffic.traffic_for(pod("a", error=75, latency=120), now=0)
    assert (served.error_percent, served.latency_ms) == (75.0, 120.0)
    assert traffic.traffic_for(pod("b", error="lots"), now=0).error_percent == 0.0
    assert traffic.traffic_for(pod("c", error=250), now=0).error_percent == 100.0


def test_counts_are_exact_fractions_of_elapsed_time():
    served = traffic.traffic_for(pod("a", error=20), now=100.0)
    assert traffic.counts(served, rps=10, now=110.0) == (100.0, 20.0)


def test_exposition_has_the_series_flagger_queries():
    clock = [1000.0]
    registry = traffic.Registry(clock=lambda: clock[0])
    registry.sync({"test/a": pod("podinfo-primary-7bd6dc7ffd-a", error=25, latency=40)})
    clock[0] = 1010.0
    registry.sync({"test/a": pod("podinfo-primary-7bd6dc7ffd-a", error=25, latency=40)})
    text = traffic.render(registry.snapshot(), rps=2, now=clock[0])
    istio = dict(reporter="destination", destination_workload="podinfo-primary", destination_workload_namespace="test")
    assert sample(text, "istio_requests_total", response_code="200", **istio) == 15.0
    assert sample(text, "istio_requests_total", response_code="500", **istio) == 5.0
    assert sample(text, "istio_request_duration_milliseconds_bucket", le="+Inf", **istio) == 20.0
    assert sample(text, "istio_request_duration_milliseconds_bucket", le="50", **istio) == 15.0
    assert sample(text, "istio_request_duration_milliseconds_bucket", le="100", **istio) == 20.0
    assert sample(text, "istio_request_duration_milliseconds_bucket", le="25", **istio) == 2.5
    assert sample(text, "response_total", deployment="podinfo-primary", classification="failure",
                  direction="inbound") == 5.0
    assert sample(text, "http_request_duration_seconds_count", kubernetes_pod_name="podinfo-primary-7bd6dc7ffd-a",
                  status="500") == 5.0
    assert re.search(r'^# TYPE istio_requests_total counter$', text, re.M)


def test_a_pod_that_stops_serving_leaves_the_exposition():
    registry = traffic.Registry(clock=lambda: 0.0)
    registry.sync({"test/a": pod("a")})
    registry.sync({"test/a": pod("a", ready="False")})
    assert registry.snapshot() == []


def test_histogram_buckets_are_cumulative():
    counts = traffic.bucket_counts(100.0, 40.0, (10, 20, 40, 60, 100))
    assert counts == [0.0, 0.0, 50.0, 100.0, 100.0]


def test_the_registry_answers_which_serving_pods_a_selector_picks():
    registry = traffic.Registry(clock=lambda: 0.0)
    registry.sync({"test/b": pod("podinfo-primary-7bd6dc7ffd-b"), "test/a": pod("podinfo-primary-7bd6dc7ffd-a"),
                   "test/c": pod("podinfo-primary-7bd6dc7ffd-c", ready="False")})
    picked = registry.selected("test", {"app": "podinfo-primary"})
    assert [item.pod for item in picked] == ["podinfo-primary-7bd6dc7ffd-a", "podinfo-primary-7bd6dc7ffd-b"]
    assert picked[0].image == "ghcr.io/stefanprodan/podinfo:6.7.0"
    assert registry.selected("other", {"app": "podinfo-primary"}) == []
    assert registry.selected("test", {"app": "podinfo"}) == []
    assert registry.selected("test", {}) == []  # a Service without a selector picks nothing


def test_describe_lists_what_the_simulator_knows():
    registry = traffic.Registry(clock=lambda: 0.0)
    registry.sync({"test/a": pod("podinfo-primary-7bd6dc7ffd-a", error=5)})
    (item,) = traffic.describe(registry.snapshot())
    assert item["workload"] == "podinfo-primary" and item["error_percent"] == 5.0
    assert item["labels"]["app"] == "podinfo-primary"


def _ingress(name, host, service, port, canary=False, klass="nginx"):
    annotations = {"nginx.ingress.kubernetes.io/canary": "true"} if canary else {}
    return {"metadata": {"namespace": "shop", "name": name, "annotations": annotations},
            "spec": {"ingressClassName": klass,
                     "rules": [{"host": host, "http": {"paths": [
                         {"path": "/", "backend": {"service": {"name": service, "port": {"number": port}}}}]}}]}}


def _service(selector):
    return {"spec": {"selector": selector}}


def test_nginx_canary_traffic_is_counted_under_the_main_ingress():
    services = {("shop", "web-primary"): _service({"app": "web-primary"}),
                ("shop", "web-canary"): _service({"app": "web"})}
    ingresses = [_ingress("web", "web.example", "web-primary", 80),
                 _ingress("web-canary", "web.example", "web-canary", 80, canary=True),
                 _ingress("other", "web.example", "web-primary", 80, klass="traefik")]
    routes = traffic.nginx_routes(ingresses, lambda namespace, name: services.get((namespace, name)))
    assert [(route.ingress, route.service, route.canary) for route in routes] == [
        ("web", "web-primary", ""), ("web", "web-canary", "shop-web-canary-80")]
    pods = [traffic.PodTraffic("shop", "web-1", "web", 25.0, 10.0, 0.0, labels={"app": "web"}),
            traffic.PodTraffic("shop", "web-primary-1", "web-primary", 0.0, 10.0, 0.0, labels={"app": "web-primary"})]
    text = traffic.render(pods, 10.0, 4.0, routes)
    assert ('nginx_ingress_controller_requests{status="500",namespace="shop",ingress="web",service="web-canary",'
            'canary="shop-web-canary-80",pod="web-1"} 10.000000') in text
    assert ('nginx_ingress_controller_requests{status="200",namespace="shop",ingress="web",service="web-primary",'
            'canary="",pod="web-primary-1"} 40.000000') in text


def test_nginx_routes_skip_services_without_selector_and_other_classes():
    ingresses = [_ingress("web", "a", "gone", 80), _ingress("web2", "a", "web", 80, klass="istio")]
    assert traffic.nginx_routes(ingresses, lambda namespace, name: None) == []
