"""The release engine's promises on the real Flagger: gates, concurrent releases, faults.

Each test has its own namespace. The fault tests stop one part of the platform by PID
(Flagger, Prometheus, the load tester, kube-apiserver) and bring it back through the
role that started it, so the next test finds the platform whole.
"""

import os
import time

import pytest
from conftest import BackgroundPlaybook, assert_ok, children, interrupt, lease, phase_is, run_playbook, wait_canary
from test_canary_releases import deploy, gate, release, rollout_result

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import LoadTester
from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def flagger_pidfile(platform, name):
    variables = platform["vars"]
    return os.path.join(variables["cluster_state_dir"], variables["cluster_name"], "flagger", name + ".pid")


def wait_in_flight(platform, namespace, follower, phases=("Progressing",), timeout=120):
    """Wait until the release the follower started is in flight; its output if it never is."""
    try:
        return wait_canary(platform["kubeconfig"], namespace, "podinfo", phase_is(*phases), timeout=timeout)
    except Exception:
        if follower.process.poll() is None:
            follower.process.kill()
        out, err = follower.process.communicate()
        raise AssertionError("canary %s/podinfo never reached %s; the release task said:\n%s" % (
            namespace, phases, (out + err)[-3000:]))


class Stopped:
    """A platform process stopped by PID, brought back through the flagger role afterwards."""

    def __init__(self, platform, name):
        self.platform, self.name = platform, name

    def __enter__(self):
        pid, start_time = process.read_pidfile(flagger_pidfile(self.platform, self.name))
        assert process.stop(pid, start_time), "%s was not running" % self.name
        return self

    def __exit__(self, *_exc):
        assert_ok(run_playbook("flagger.yml", self.platform["vars"]))
        assert process.pidfile_running(flagger_pidfile(self.platform, self.name))


def deployment_version(kube, namespace):
    import kubernetes

    return kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", namespace).metadata.resource_version


def test_both_gates_are_opened_by_approval_auto_and_closed_again(platform):
    variables, _run = deploy(platform, "gates-auto", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-rollout", "confirm-promotion"],
                             canary_loadtester_url=platform["loadtester_url"])
    result = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "5"},
                                              rollout_approval="auto")))
    assert result["verdict"] == "promoted"
    phases = [entry["phase"] for entry in result["timeline"]]
    assert "Waiting" in phases and "WaitingPromotion" in phases
    assert not LoadTester(platform["loadtester_url"]).gate_is_open("podinfo", "gates-auto")


def test_a_promote_leaves_no_gate_open_for_the_next_release(platform):
    variables, _run = deploy(platform, "gates-manual", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    gated = dict(variables, gate_loadtester_url=platform["loadtester_url"])
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_canary(platform["kubeconfig"], "gates-manual", "podinfo", phase_is("WaitingPromotion"), timeout=120)
        promoted = gate(gated, "promote")
        assert promoted["changed"] and "closed again" in promoted["message"]
        assert rollout_result(assert_ok(follower.result()))["verdict"] == "promoted"
    finally:
        follower.stop()
    assert not LoadTester(platform["loadtester_url"]).gate_is_open("podinfo", "gates-manual")
    second = release(variables, rollout_env={"ERROR_FRACTION": "6"}, rollout_approval_timeout=25)
    result = rollout_result(second)
    assert second.returncode != 0 and result["verdict"] == "not_approved"
    assert "confirm-promotion" in result["reason"]


def test_a_release_started_while_another_is_in_flight_gets_its_own_verdict(platform):
    variables, _run = deploy(platform, "inflight", canary_max_weight=50, canary_step_weight=25)
    # Started and not followed (wait: false): in flight, and no release holds the app.
    started = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "5"}, rollout_wait=False)))
    assert started["changed"] and "not followed" in started["msg"]
    wait_canary(platform["kubeconfig"], "inflight", "podinfo", phase_is("Progressing"), timeout=120)
    second = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "7"})))
    assert second["waited_for"]["verdict"] == "promoted"
    assert second["verdict"] == "promoted" and second["revision"] != second["waited_for"]["revision"]
    assert "Progressing" in [entry["phase"] for entry in second["timeline"]]


def test_a_second_release_of_the_same_app_is_refused_naming_the_first(platform, kube):
    variables, _run = deploy(platform, "twice", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    first = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_in_flight(platform, "twice", first, phases=("WaitingPromotion",))
        held = lease(kube, "twice")
        assert held is not None and any("pid %d" % worker in held.spec.holder_identity
                                        for worker in children(first.process.pid)), "the worker running it holds it"
        before = deployment_version(kube, "twice")
        run = release(variables, rollout_env={"ERROR_FRACTION": "6"})
        refused = rollout_result(run)
        assert run.returncode != 0 and not refused.get("changed")
        assert "another release of this app is running, held by %s since" % held.spec.holder_identity in refused["msg"]
        assert deployment_version(kube, "twice") == before, "nothing was written"
        gate(dict(variables, gate_loadtester_url=platform["loadtester_url"]), "promote")
        assert rollout_result(assert_ok(first.result()))["verdict"] == "promoted"
    finally:
        first.stop()
    assert lease(kube, "twice") is None, "the first release let go of the app"


def test_ctrl_c_at_an_open_gate_closes_it_and_releases_the_lease(platform, kube):
    variables, _run = deploy(platform, "interrupted", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    tester = LoadTester(platform["loadtester_url"])
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"},
                                                      rollout_approval="auto", rollout_timeout=600))
    try:
        wait_in_flight(platform, "interrupted", follower, phases=("WaitingPromotion",))
        # Hold the release at its gate: with Flagger stopped nothing passes it.
        with Stopped(platform, "flagger"):
            deadline = time.monotonic() + 30
            while not tester.gate_is_open("podinfo", "interrupted") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert tester.gate_is_open("podinfo", "interrupted"), "approval=auto opened the gate"
            assert lease(kube, "interrupted") is not None
            left = interrupt(follower)
            assert left == [], "workers still running after the interrupt: %s" % left
            assert not tester.gate_is_open("podinfo", "interrupted"), "the gate is closed again"
            assert lease(kube, "interrupted") is None, "the Lease is released"
    finally:
        follower.stop()


def test_a_canary_flagger_has_not_initialised_is_not_released(platform, kube):
    with Stopped(platform, "flagger"):
        variables = dict(platform["vars"], app_name="podinfo", app_namespace="uninitialised",
                         canary_max_weight=50, canary_step_weight=50)
        assert_ok(run_playbook("app.yml", variables))
        before = deployment_version(kube, "uninitialised")
        run = release(variables, rollout_env={"ERROR_FRACTION": "5"})
        result = rollout_result(run)
        assert run.returncode != 0 and "not initialised by Flagger" in result["msg"]
        assert not result.get("changed")
        assert deployment_version(kube, "uninitialised") == before


def test_flagger_stopped_mid_release_is_reported_long_before_the_timeout(platform):
    variables, _run = deploy(platform, "stall", canary_max_weight=50, canary_step_weight=10)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"},
                                                      rollout_timeout=900))
    try:
        wait_in_flight(platform, "stall", follower)
        with Stopped(platform, "flagger"):
            result = rollout_result(follower.result(timeout=300))
    finally:
        follower.stop()
    assert result["verdict"] == "stalled" and result["changed"]
    assert "is Flagger running" in result["reason"] and "phase Progressing" in result["reason"]
    assert result["duration"] < 200


def test_prometheus_down_during_an_analysis_is_not_blamed_on_the_release(platform):
    variables, _run = deploy(platform, "nometrics", canary_max_weight=50, canary_step_weight=10)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "1"},
                                                      rollout_fail_on_rollback=False))
    try:
        wait_in_flight(platform, "nometrics", follower)
        with Stopped(platform, "prometheus"):
            result = rollout_result(assert_ok(follower.result(timeout=300)))
    finally:
        follower.stop()
    assert result["verdict"] == "failed"
    assert result["cause"] == "metrics_unavailable"
    assert "metrics server did not answer" in result["reason"]


def test_a_load_tester_down_when_a_gate_must_open_is_named(platform):
    variables, _run = deploy(platform, "ltdown", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-rollout"], canary_loadtester_url=platform["loadtester_url"])
    with Stopped(platform, "loadtester"):
        run = release(variables, rollout_env={"ERROR_FRACTION": "5"}, rollout_approval="auto", rollout_timeout=60)
    result = rollout_result(run)
    assert run.returncode != 0 and result["changed"] and result["verdict"] == "timeout"
    assert "could not open the confirm-rollout gate" in result["msg"]
    assert "load tester at %s did not answer /gate/open" % platform["loadtester_url"] in result["msg"]


def test_the_api_server_restarting_while_a_release_waits(platform, sim_cluster):
    variables, _run = deploy(platform, "apirestart", canary_max_weight=50, canary_step_weight=25)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_in_flight(platform, "apirestart", follower)
        pidfile = os.path.join(sim_cluster["vars"]["cluster_state_dir"], "kwok", "clusters",
                               sim_cluster["vars"]["cluster_name"], "pids", "kube-apiserver.pid")
        pid, _none = process.read_pidfile(pidfile)  # kwokctl's PID files hold the PID alone
        assert "kube-apiserver" in " ".join(process.command_line(pid) or []), "the PID file names the API server"
        assert process.stop(pid, process.start_time_of(pid))
        time.sleep(5)
        assert_ok(run_playbook("cluster.yml", sim_cluster["vars"]))  # kwokctl starts what is not running
        result = rollout_result(assert_ok(follower.result(timeout=400)))
    finally:
        follower.stop()
    assert result["verdict"] == "promoted"
    assert result["watch"]["retries"] >= 1


@pytest.mark.parametrize("action", ["rollback"])
def test_a_rollback_where_flagger_ignores_it_fails_at_once(platform, action):
    variables, _run = deploy(platform, "ignored", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["rollback"], canary_loadtester_url=platform["loadtester_url"])
    started = time.monotonic()
    run = run_playbook("gate.yml", dict(variables, gate_action=action, gate_loadtester_url=platform["loadtester_url"]))
    assert run.returncode != 0
    assert "Flagger acts on rollback requests only while a release is Progressing or WaitingPromotion" in \
        run.results("Work the gate")[0]["msg"]
    assert time.monotonic() - started < 30
    assert not LoadTester(platform["loadtester_url"]).rollback_requested("podinfo", "ignored")
