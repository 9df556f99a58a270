import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import routing, traffic


def served(name, workload, labels, error=0.0, image="ghcr.io/stefanprodan/podinfo:6.7.1", namespace="test"):
    return traffic.PodTraffic(namespace, name, workload, error, 25.0, 0.0, labels=labels, image=image)


SERVICES = {
    ("test", "podinfo-canary"): {"spec": {"selector": {"app": "podinfo"}, "ports": [{"port": 9898}]}},
    ("test", "podinfo"): {"spec": {"selector": {"app": "podinfo-primary"}, "ports": [{"port": 9898}]}},
    ("test", "external"): {"spec": {"ports": [{"port": 80}]}},
    ("test", "idle"): {"spec": {"selector": {"app": "idle"}, "ports": [{"port": 80}]}},
}
PODS = [served("podinfo-6b7-a", "podinfo", {"app": "podinfo", "pod-template-hash": "6b7"}, error=75),
        served("podinfo-6b7-b", "podinfo", {"app": "podinfo", "pod-template-hash": "6b7"}, error=75),
        served("podinfo-primary-5c4-a", "podinfo-primary", {"app": "podinfo-primary"}, image="podinfo:6.7.0"),
        served("other-ns-a", "podinfo", {"app": "podinfo"}, namespace="elsewhere")]


def find_service(namespace, name):
    return SERVICES.get((namespace, name))


def selected(namespace, selector):
    return sorted((pod for pod in PODS if pod.matches(namespace, selector)), key=lambda pod: pod.pod)


@pytest.mark.parametrize("authority,target", [
    ("podinfo-canary.test:9898", routing.Target("podinfo-canary", "test", 9898)),
    ("podinfo-canary.test.svc:9898", routing.Target("podinfo-canary", "test", 9898)),
    ("podinfo-canary.test.svc.cluster.local:9898", routing.Target("podinfo-canary", "test", 9898)),
    ("Flagger-Loadtester.Test.", routing.Target("flagger-loadtester", "test", 80)),
    ("flagger-loadtester", routing.Target("flagger-loadtester", None, 80)),
])
def test_in_cluster_addresses_are_parsed(authority, target):
    assert routing.parse_authority(authority) == target


@pytest.mark.parametrize("authority,message", [
    ("example.com.evil.org", "not an in-cluster address"),
    ("podinfo.test.svc.cluster.example", "not an in-cluster address"),
    ("10.0.0.1:80", "IP address"),
    ("[::1]:80", "IP address"),
    ("podinfo.test:http", "no valid port"),
    ("podinfo.test:0", "no valid port"),
    ("pod_info.test", "not an in-cluster address"),
])
def test_other_addresses_are_refused_with_a_reason(authority, message):
    with pytest.raises(routing.RouteError, match=message):
        routing.parse_authority(authority)


def test_the_load_tester_is_found_by_name_in_any_namespace_without_a_service():
    for authority in ("flagger-loadtester.test", "flagger-loadtester.anywhere.svc.cluster.local:80",
                      "flagger-loadtester"):
        decision = routing.route(routing.parse_authority(authority), find_service, selected)
        assert isinstance(decision, routing.ToLoadTester)
    custom = routing.parse_authority("tester.test")
    assert isinstance(routing.route(custom, find_service, selected, loadtester_service="tester"),
                      routing.ToLoadTester)


def test_an_app_service_resolves_to_the_ready_pods_its_selector_picks_in_its_namespace():
    decision = routing.route(routing.parse_authority("podinfo-canary.test:9898"), find_service, selected)
    assert decision.service == "test/podinfo-canary"
    assert [pod.pod for pod in decision.pods] == ["podinfo-6b7-a", "podinfo-6b7-b"]
    primary = routing.route(routing.parse_authority("podinfo.test.svc:9898"), find_service, selected)
    assert [pod.workload for pod in primary.pods] == ["podinfo-primary"]


@pytest.mark.parametrize("authority,status,message", [
    ("podinfo-canary.nowhere:9898", 502, "no Service 'podinfo-canary' in namespace 'nowhere'"),
    ("missing.test", 502, "no Service 'missing' in namespace 'test'"),
    ("podinfo-canary.test:8080", 502, "Service test/podinfo-canary has no port 8080 (its ports: 9898)"),
    ("podinfo-canary:9898", 502, "names no namespace"),
    ("external.test", 502, "Service test/external has no selector"),
    ("idle.test", 503, "Service test/idle selects no ready pod (selector app=idle)"),
])
def test_what_cannot_be_routed_says_why(authority, status, message):
    with pytest.raises(routing.RouteError) as error:
        routing.route(routing.parse_authority(authority), find_service, selected)
    assert error.value.status == status and message in str(error.value)


@pytest.mark.parametrize("percent,pattern", [
    (75, [False, True, True, True] * 3),
    (100, [True] * 8),
    (0, [False] * 8),
    (20, [False, False, False, False, True] * 2),
    (50, [False, True] * 4),
])
def test_the_error_counter_fails_exactly_that_share_without_randomness(percent, pattern):
    counter = routing.ErrorCounter()
    assert [counter.next_fails("test/podinfo", float(percent)) for _turn in pattern] == pattern


def test_each_workload_and_each_error_fraction_counts_on_its_own():
    counter = routing.ErrorCounter()
    assert [counter.next_fails("test/a", 75.0) for _turn in range(2)] == [False, True]
    assert counter.next_fails("test/b", 75.0) is False
    # A new revision of a with another fraction starts its own sequence.
    assert counter.next_fails("test/a", 50.0) is False
    assert [counter.next_fails("test/a", 75.0) for _turn in range(2)] == [True, True]
    assert sum(counter.next_fails("test/c", 12.5) for _turn in range(800)) == 100


def test_app_answers_fail_three_in_four_at_75_percent_and_name_the_workload_and_image():
    answers = routing.AppAnswers()
    decision = routing.route(routing.parse_authority("podinfo-canary.test:9898"), find_service, selected)
    results = [answers.answer(decision, "GET", "/healthz") for _turn in range(8)]
    assert [status for status, _body in results] == [200, 500, 500, 500] * 2
    ok = results[0][1]
    assert ok["status"] == "OK" and ok["workload"] == "podinfo" and ok["namespace"] == "test"
    assert ok["image"] == "ghcr.io/stefanprodan/podinfo:6.7.1" and ok["service"] == "test/podinfo-canary"
    assert "ERROR_FRACTION=75% on test/podinfo" in results[1][1]["error"]
    # The two pods answer in turn.
    assert [body["pod"] for _status, body in results[:2]] == ["podinfo-6b7-a", "podinfo-6b7-b"]


def test_podinfo_like_endpoints():
    answers = routing.AppAnswers()
    decision = routing.route(routing.parse_authority("podinfo.test:9898"), find_service, selected)
    status, token = answers.answer(decision, "POST", "/token")
    assert status == 200 and token["token"] and token["workload"] == "podinfo-primary"
    assert answers.answer(decision, "GET", "/token")[0] == 405
    status, version = answers.answer(decision, "GET", "/version")
    assert status == 200 and version["version"] == "6.7.0" and version["image"] == "podinfo:6.7.0"
    status, root = answers.answer(decision, "GET", "/?x=1")
    assert status == 200 and root["message"] == "greetings from podinfo v6.7.0" and root["hostname"] == "podinfo-primary-5c4-a"
    assert answers.answer(decision, "GET", "/readyz/")[0] == 200
    assert answers.answer(decision, "GET", "/nope")[0] == 404


def test_image_versions():
    assert routing.image_version("ghcr.io/stefanprodan/podinfo:6.7.0") == "6.7.0"
    assert routing.image_version("localhost:5000/podinfo") == "latest"
    assert routing.image_version("podinfo@sha256:abc") == "latest"
