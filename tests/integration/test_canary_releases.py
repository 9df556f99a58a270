"""Canary releases from playbook tasks, on the simulated platform.

Real kube-apiserver, real Flagger and load tester, real Prometheus; pods by KWOK and mesh
telemetry by the traffic simulator, driven by each pod template's ERROR_FRACTION.
"""

import time

import pytest
from conftest import BackgroundPlaybook, assert_ok, phase_is, run_playbook, wait_canary
from screenshot import count_colour, pixels, screenshot


def app_vars(platform, namespace, **canary):
    values = dict(platform["vars"], app_name="podinfo", app_namespace=namespace)
    values.update(canary)
    return values


def deploy(platform, namespace, **canary):
    """The app and its canary, initialised by Flagger."""
    variables = app_vars(platform, namespace, **canary)
    run = assert_ok(run_playbook("app.yml", variables))
    wait_canary(platform["kubeconfig"], namespace, "podinfo", phase_is("Initialized"))
    return variables, run


def release(variables, **rollout):
    return run_playbook("rollout.yml", dict(variables, **rollout))


def rollout_result(run):
    return run.results("Start the release and follow it to its verdict")[0]


def primary_env(kube, namespace):
    import kubernetes

    primary = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo-primary", namespace)
    container = primary.spec.template.spec.containers[0]
    return container.image, {env.name: env.value for env in container.env or []}


@pytest.fixture(scope="module")
def weighted(platform):
    """One app released with traffic weights: 25 % steps up to 50 %."""
    variables, _run = deploy(platform, "weighted", canary_gateways=["mesh"], canary_max_weight=50,
                             canary_step_weight=25)
    return variables


def test_flagger_initialises_the_canary(platform, weighted, kube):
    import kubernetes

    apps, core = kubernetes.client.AppsV1Api(kube), kubernetes.client.CoreV1Api(kube)
    primary = apps.read_namespaced_deployment("podinfo-primary", "weighted")
    assert primary.status.ready_replicas == 2
    services = {service.metadata.name for service in core.list_namespaced_service("weighted").items}
    assert {"podinfo", "podinfo-canary", "podinfo-primary"} <= services
    virtual_service = kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "weighted", "virtualservices", "podinfo")
    route = virtual_service["spec"]["http"][0]["route"]
    assert {(item["destination"]["host"], item["weight"]) for item in route} == {
        ("podinfo-primary", 100), ("podinfo-canary", 0)}


def test_a_failing_release_is_rolled_back_with_flaggers_reason(weighted, kube, tmp_path):
    page = str(tmp_path / "release.html")
    run = release(weighted, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.1"},
                  rollout_env={"ERROR_FRACTION": "75"}, rollout_report=page)
    assert run.returncode != 0
    result = rollout_result(run)
    assert result["failed"] and result["verdict"] == "failed" and result["phase"] == "Failed"
    assert "success rate 25.00% < 70%" in result["reason"]
    assert result["revision"] != result["revision_before"]
    image, env = primary_env(kube, "weighted")
    assert image == "ghcr.io/stefanprodan/podinfo:6.7.0"
    assert env["ERROR_FRACTION"] == "0"
    # The report of this release: written, and in a browser the chart (the weight it reached, the
    # failed checks' values under their threshold), not an error page.
    assert result["report"] == page
    with open(page) as handle:
        text = handle.read()
    assert "Release weighted/podinfo" in text and "success rate 25.00% &lt; 70%" in text
    code, said = screenshot(page, str(tmp_path / "release.png"), tmp_path)
    assert code == 0, said[-2000:]
    _width, _height, rows = pixels(str(tmp_path / "release.png"))
    assert count_colour(rows, "#1f77b4") > 300, "no weight line in the screenshot"
    assert count_colour(rows, "#ff7f0e") > 300, "no threshold in the screenshot"
    # The legend has one dot (about 60 pixels): more is a failed check drawn.
    assert count_colour(rows, "#d62728", tolerance=8) > 100, "no failed check in the screenshot"


def test_a_healthy_release_is_promoted_through_each_weight(weighted, kube):
    run = assert_ok(release(weighted, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.2"},
                            rollout_env={"ERROR_FRACTION": "20"}))
    result = rollout_result(run)
    assert result["verdict"] == "promoted" and result["phase"] == "Succeeded"
    assert result["changed"]
    assert [weight for weight in dict.fromkeys(result["weights"]) if weight] == [25, 50]
    assert any("weighted/podinfo: Progressing weight 50%" in line for line in run.progress)
    phases = [entry["phase"] for entry in result["timeline"]]
    assert phases.index("Progressing") < phases.index("Promoting") < phases.index("Succeeded")
    image, env = primary_env(kube, "weighted")
    assert image == "ghcr.io/stefanprodan/podinfo:6.7.2" and env["ERROR_FRACTION"] == "20"
    stats = run.output["global_custom_stats"]["canary_rollout"]["weighted/podinfo"]
    assert stats["verdict"] == "promoted"


def test_releasing_the_same_version_again_is_promoted_after_one_look_of_flaggers(weighted):
    """What the primary runs is promoted only once Flagger has had a look (its interval and
    some slack) and found nothing new to analyse: a copy made during Promoting is not."""
    run = assert_ok(release(weighted, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.2"},
                            rollout_env={"ERROR_FRACTION": "20"}))
    result = rollout_result(run)
    assert not result["changed"] and result["verdict"] == "promoted" and result["duration"] < 40
    assert "no new revision within 25 s" in result["msg"]


def test_canary_info_reports_the_release(weighted):
    info = assert_ok(run_playbook("info.yml", weighted)).results("Read the canary")[0]["canaries"]
    assert len(info) == 1
    canary = info[0]
    assert (canary["phase"], canary["strategy"], canary["weight"]) == ("Succeeded", "canary", 0)
    assert canary["revision"] == canary["promoted_revision"]
    assert any("Promotion completed" in event["message"] for event in canary["events"])


def test_going_back_to_the_running_version_after_a_rollback_is_promoted_at_once(weighted, kube):
    """Flagger has nothing to analyse: the target matches the primary again."""
    failing = release(weighted, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.3"},
                      rollout_env={"ERROR_FRACTION": "90"})
    assert failing.returncode != 0 and rollout_result(failing)["verdict"] == "failed"
    back = rollout_result(assert_ok(release(weighted, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.2"},
                                            rollout_env={"ERROR_FRACTION": "20"})))
    assert back["changed"] and back["verdict"] == "promoted" and back["duration"] < 30
    assert "back at the revision the primary runs" in back["msg"]
    assert primary_env(kube, "weighted") == ("ghcr.io/stefanprodan/podinfo:6.7.2", {"ERROR_FRACTION": "20"})


def test_ab_testing_by_header_with_iterations(platform, kube):
    import kubernetes

    variables, _run = deploy(platform, "ab", canary_iterations=3,
                             canary_match=[{"headers": {"x-user": {"exact": "testuser"}}}])
    run = release(variables, rollout_env={"ERROR_FRACTION": "5"})
    result = rollout_result(assert_ok(run))
    assert result["verdict"] == "promoted" and result["strategy"] == "ab-testing"
    assert max(entry["iterations"] for entry in result["timeline"]) >= 1
    virtual_service = kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "ab", "virtualservices", "podinfo")
    matches = [route.get("match") for route in virtual_service["spec"]["http"] if route.get("match")]
    assert {"x-user": {"exact": "testuser"}} in [rule[0]["headers"] for rule in matches]


def test_blue_green_with_the_kubernetes_provider(platform, kube):
    import kubernetes

    variables, _run = deploy(platform, "bluegreen", canary_provider="kubernetes", canary_iterations=2)
    result = rollout_result(assert_ok(release(variables, rollout_images={"app": "ghcr.io/stefanprodan/podinfo:6.7.1"})))
    assert result["verdict"] == "promoted" and result["strategy"] == "blue-green"
    assert primary_env(kube, "bluegreen")[0] == "ghcr.io/stefanprodan/podinfo:6.7.1"
    routes = kubernetes.client.CustomObjectsApi(kube).list_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "bluegreen", "virtualservices")["items"]
    assert routes == []


@pytest.fixture(scope="module")
def gated(platform):
    variables, _run = deploy(platform, "gated", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion", "rollback"],
                             canary_loadtester_url=platform["loadtester_url"])
    return dict(variables, gate_loadtester_url=platform["loadtester_url"])


def gate(variables, action):
    return assert_ok(run_playbook("gate.yml", dict(variables, gate_action=action))).results("Work the gate")[0]


def test_a_release_waits_for_promotion_until_canary_gate_promotes(gated, platform, kube):
    follower = BackgroundPlaybook("rollout.yml", dict(gated, rollout_env={"ERROR_FRACTION": "10"}))
    try:
        wait_canary(platform["kubeconfig"], "gated", "podinfo", phase_is("WaitingPromotion"), timeout=120)
        time.sleep(20)  # two analysis intervals: it must still be held
        held = wait_canary(platform["kubeconfig"], "gated", "podinfo", lambda canary: True)
        assert held["status"]["phase"] == "WaitingPromotion"
        assert follower.process.poll() is None
        promoted = gate(gated, "promote")
        assert promoted["changed"] and promoted["final_phase"] in ("Promoting", "Finalising", "Succeeded")
        result = rollout_result(assert_ok(follower.result()))
    finally:
        follower.stop()
    assert result["verdict"] == "promoted"
    assert "WaitingPromotion" in [entry["phase"] for entry in result["timeline"]]
    assert primary_env(kube, "gated")[1]["ERROR_FRACTION"] == "10"
    # Nothing left to promote, and the gate was closed again once Flagger passed it.
    assert not gate(gated, "promote")["changed"]
    assert not gate(gated, "hold")["changed"]


def test_a_forced_rollback_mid_analysis_then_a_retry(gated, platform, kube):
    follower = BackgroundPlaybook("rollout.yml", dict(gated, rollout_env={"ERROR_FRACTION": "1"},
                                                      rollout_fail_on_rollback=False))
    try:
        wait_canary(platform["kubeconfig"], "gated", "podinfo", phase_is("Progressing", "WaitingPromotion"))
        rolled_back = gate(gated, "rollback")
        assert rolled_back["changed"] and rolled_back["final_phase"] == "Failed"
        result = rollout_result(assert_ok(follower.result()))
    finally:
        follower.stop()
    assert result["verdict"] == "failed"
    assert primary_env(kube, "gated")[1]["ERROR_FRACTION"] == "10"
    assert not gate(gated, "rollback")["changed"]

    retried = gate(gated, "retry")
    assert retried["changed"] and retried["phase"] == "Failed"
    follow = assert_ok(release(gated, rollout_approval="auto", rollout_loadtester_url=platform["loadtester_url"]))
    result = rollout_result(follow)
    assert result["verdict"] == "promoted"
    assert "Progressing" in [entry["phase"] for entry in result["timeline"]]
    assert primary_env(kube, "gated")[1]["ERROR_FRACTION"] == "1"
    assert not gate(gated, "retry")["changed"]


def _resource_versions(kube, namespace):
    """What a write to the Deployment or the Canary would change: their generations and specs.

    Not resourceVersions: Flagger updates the Canary's status (and Kubernetes the
    Deployment's) on its own schedule, which a busy machine makes land mid-test.
    """
    import kubernetes

    apps = kubernetes.client.AppsV1Api(kube)
    custom = kubernetes.client.CustomObjectsApi(kube)
    deployment = apps.read_namespaced_deployment("podinfo", namespace)
    canary = custom.get_namespaced_custom_object("flagger.app", "v1beta1", namespace, "canaries", "podinfo")
    return (deployment.metadata.generation, kube.sanitize_for_serialization(deployment.spec.template),
            canary["metadata"]["generation"], canary["spec"])


def test_check_mode_changes_nothing(weighted, kube):
    before = _resource_versions(kube, "weighted")
    canary = run_playbook("canary.yml", dict(weighted, canary_max_weight=80, canary_step_weight=40), check=True)
    assert assert_ok(canary).results("Apply the canary")[0]["changed"]
    rollout = assert_ok(run_playbook("rollout.yml", dict(weighted, rollout_env={"ERROR_FRACTION": "3"}), check=True))
    assert rollout_result(rollout)["changed"]
    assert _resource_versions(kube, "weighted") == before


def test_a_second_apply_of_the_same_canary_is_ok(weighted):
    first = assert_ok(run_playbook("canary.yml", dict(weighted, canary_max_weight=50, canary_step_weight=25)))
    assert not first.results("Apply the canary")[0]["changed"]


@pytest.mark.parametrize("overrides,message", [
    (dict(canary_max_weight=50, canary_step_weight=60), "analysis.stepWeight (option step_weight) must be <= maxWeight (60 > 50)"),
    (dict(canary_max_weight=50, canary_step_weight=10,
          canary_metrics=[{"name": "latency", "template": "nowhere", "threshold_max": 1}]),
     "analysis.metrics[0].templateRef (option metrics[0].template): MetricTemplate badinput/nowhere not found"),
    (dict(canary_max_weight=50, canary_step_weight=10, canary_metrics=[{"name": "error-budget"}]),
     "analysis.metrics[0] (option metrics[0]): unknown metric template 'error-budget'"),
])
def test_bad_input_changes_nothing_and_names_the_field(platform, kube, overrides, message):
    import kubernetes

    variables = app_vars(platform, "badinput", **overrides)
    run = run_playbook("canary.yml", variables)
    assert run.returncode != 0
    result = run.results("Apply the canary")[0]
    assert message in result["msg"] and "Canary badinput/podinfo is invalid" in result["msg"]
    canaries = kubernetes.client.CustomObjectsApi(kube).list_custom_object_for_all_namespaces(
        "flagger.app", "v1beta1", "canaries")["items"]
    assert "badinput" not in {item["metadata"]["namespace"] for item in canaries}
