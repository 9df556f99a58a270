"""The release workflow (flagger/release.py) on an in-memory API and load tester.

The API fake keeps objects and plays a script of canary states through the watch, one
state per event, advancing a fake clock; everything else is the real workflow.
"""

import copy

import pytest
from test_flagger_gates import FakeLoadTester

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import release as release_module
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.release import Release, ReleaseError
from ansible_collections.gitops.progressive.plugins.module_utils.kube import api

KEY = "test/podinfo"
URL = "http://127.0.0.1:18888"


def canary(phase="Succeeded", applied="r1", promoted="r1", webhooks=()):
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "1"},
            "spec": {"targetRef": {"kind": "Deployment", "name": "podinfo"}, "service": {"port": 9898}, "progressDeadlineSeconds": 60,
                     "analysis": {"interval": "10s", "threshold": 2, "maxWeight": 50, "stepWeight": 25,
                                  "webhooks": list(webhooks)}},
            "status": {"phase": phase, "lastAppliedSpec": applied, "lastPromotedSpec": promoted}}


def target(env_value="0", image="podinfo:6.7.0"):
    return {"kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": image, "env": [{"name": "ERROR_FRACTION", "value": env_value}]}]}}}}


def event(uid, kind, message):
    return {"metadata": {"uid": uid}, "type": kind, "message": message, "count": 1,
            "involvedObject": {"kind": "Canary", "namespace": "test", "name": "podinfo"}}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeKube:
    """Objects in memory; the watch plays ``script`` (phase, applied[, weight]) one event at a time."""

    def __init__(self, first, deployment, clock, script=()):
        self.canary, self.deployment, self.clock = first, deployment, clock
        self.script = list(script)
        self.patches, self.requests, self.events = [], 0, []
        self.on_patch = None

    def get(self, resource, namespace, name):
        self.requests += 1
        return copy.deepcopy(self.canary if resource is api.CANARY else self.deployment)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None, timeout=None):
        self.requests += 1
        if resource is api.EVENT:
            return copy.deepcopy(self.events), "1"
        return [copy.deepcopy(self.canary)], "1"

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="strategic"):
        self.requests += 1
        self.patches.append((patch, dry_run))
        if not dry_run:
            container = self.deployment["spec"]["template"]["spec"]["containers"][0]
            for change in patch["spec"]["template"].get("spec", {}).get("containers", []):
                container.update({key: value for key, value in change.items() if key != "env"})
                for item in change.get("env", []):
                    container["env"] = [entry for entry in container["env"] if entry["name"] != item["name"]]
                    container["env"].append({"name": item["name"], "value": item["value"]})
            if self.on_patch:
                self.on_patch()
        return copy.deepcopy(self.deployment)

    def source(self, resource, namespace=None, name=None, label_selector=None):
        def lister(_timeout):
            return [copy.deepcopy(self.canary)], "1"

        def watcher(_version, timeout):
            if not self.script:
                self.clock.now += timeout
                return
            phase, applied, *weight = self.script.pop(0)
            self.clock.now += 1
            self.canary["status"].update(phase=phase, lastAppliedSpec=applied, canaryWeight=weight[0] if weight else 0)
            if phase == "Succeeded":
                self.canary["status"]["lastPromotedSpec"] = applied
            yield "MODIFIED", copy.deepcopy(self.canary)

        return lister, watcher


def run(kube, clock, check_mode=False, tester=None, **args):
    defaults = dict(name="podinfo", namespace="test", images={}, env={}, annotations={}, approval="manual",
                    wait_timeout=600, in_flight="wait", fail_on_rollback=True, progress=True)
    defaults.update(args)
    said = []
    workflow = Release(kube, defaults, check_mode=check_mode, say=said.append, clock=clock,
                       opener=tester)
    return workflow.run(), said


def test_a_healthy_release_is_promoted_and_env_values_are_not_returned():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Progressing", "r2", 50),
                                                ("Promoting", "r2"), ("Succeeded", "r2")])
    result, said = run(kube, clock, env={"ERROR_FRACTION": 20})
    assert result["verdict"] == "promoted" and result["changed"] and not result.get("failed")
    assert result["weights"] == [25, 50]
    assert result["patch"]["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "ERROR_FRACTION"}]
    assert kube.deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "20"
    assert any("Progressing weight 50%" in line for line in said)


def test_a_canary_flagger_has_not_initialised_is_not_released():
    clock = Clock()
    kube = FakeKube(canary(phase="Initializing", applied=None, promoted=None), target(), clock)
    with pytest.raises(ReleaseError, match="not initialised by Flagger .phase Initializing.*no analysis"):
        run(kube, clock, env={"ERROR_FRACTION": "1"})
    assert kube.patches == []


@pytest.mark.parametrize("args,message", [
    (dict(env={"DEBUG": True}), "env.DEBUG must be a string"),
    (dict(env={"X": None}), "env.X must be a string"),
    (dict(images={"app": ""}), "images.app must be a non-empty image reference"),
    (dict(images={"app": None}), "images.app must be a non-empty image reference"),
    (dict(images={"app": False}), "images.app must be a non-empty image reference"),
    (dict(wait_timeout=0, env={"A": "1"}), "wait_timeout must be a positive number"),
    (dict(approval_timeout=-5, env={"A": "1"}), "approval_timeout must be a positive number"),
    (dict(loadtester_url="flagger-loadtester:80", env={"A": "1"}), "loadtester_url must be an http"),
    (dict(name=None), "name and namespace are required"),
    (dict(label_selector="team=a", env={"A": "1"}, name=None), "label_selector follows releases in flight"),
])
def test_bad_input_is_refused_before_any_request(args, message):
    clock = Clock()
    kube = FakeKube(canary(), target(), clock)
    with pytest.raises(ReleaseError, match=message):
        run(kube, clock, **args)
    assert kube.requests == 0


def test_approval_auto_opens_and_closes_both_gates():
    clock = Clock()
    hooks = [{"name": "rollout", "type": "confirm-rollout", "url": URL + "/gate/check"},
             {"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    tester = FakeLoadTester()
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [
        ("Waiting", "r1"), ("Progressing", "r2", 25), ("WaitingPromotion", "r2"), ("Promoting", "r2"),
        ("Succeeded", "r2")])
    result, said = run(kube, clock, tester=tester, approval="auto", env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted"
    opened_closed = [call for call in tester.calls if call in ("/gate/open", "/gate/close")]
    assert opened_closed == ["/gate/open", "/gate/close", "/gate/open", "/gate/close"]
    assert not tester.gates.get("podinfo.test")


def test_manual_approval_times_out_at_the_confirm_rollout_gate():
    clock = Clock()
    hooks = [{"name": "rollout", "type": "confirm-rollout", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [("Waiting", "r1")])
    result, _said = run(kube, clock, tester=FakeLoadTester(), approval_timeout=30, env={"ERROR_FRACTION": "5"})
    assert result["failed"] and result["changed"] and result["verdict"] == "not_approved"
    assert clock.now < 60


def test_a_gate_an_earlier_release_left_open_is_closed_first():
    clock = Clock()
    tester = FakeLoadTester()
    tester.gates["podinfo.test"] = True
    hooks = [{"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [("Progressing", "r2"), ("Succeeded", "r2")])
    result, _said = run(kube, clock, tester=tester, env={"ERROR_FRACTION": "5"})
    assert result["closed_gate"] and not tester.gates["podinfo.test"]


def test_an_open_rollback_request_refuses_the_release():
    clock = Clock()
    tester = FakeLoadTester()
    tester.rollbacks["podinfo.test"] = True
    hooks = [{"name": "rollback", "type": "rollback", "url": URL + "/rollback/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock)
    with pytest.raises(ReleaseError, match="rollback request is open"):
        run(kube, clock, tester=tester, env={"ERROR_FRACTION": "5"})
    assert kube.patches == []


def test_a_load_tester_down_when_a_gate_must_open_fails_naming_it_and_says_changed():
    clock = Clock()
    tester = FakeLoadTester()
    hooks = [{"name": "rollout", "type": "confirm-rollout", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [("Waiting", "r1")])
    kube.on_patch = lambda: setattr(tester, "down", True)
    result, _said = run(kube, clock, tester=tester, approval="auto", env={"ERROR_FRACTION": "5"})
    assert result["failed"] and result["changed"]
    assert "load tester at http://127.0.0.1:18888 did not answer /gate/open" in result["msg"]


def test_a_release_in_flight_while_promoting_is_waited_for_first():
    clock = Clock()
    kube = FakeKube(canary(phase="Promoting", applied="r2", promoted="r1"), target(), clock, [
        ("Finalising", "r2"), ("Succeeded", "r2"), ("Progressing", "r3"), ("Succeeded", "r3")])
    result, said = run(kube, clock, in_flight="supersede", env={"ERROR_FRACTION": "5"})
    assert result["waited_for"]["verdict"] == "promoted"
    assert result["verdict"] == "promoted" and result["revision"] == "r3"
    assert len([p for p, dry in kube.patches if not dry]) == 1


def test_in_flight_fail_refuses():
    clock = Clock()
    kube = FakeKube(canary(phase="Progressing", applied="r2", promoted="r1"), target(), clock)
    with pytest.raises(ReleaseError, match="another release is in flight"):
        run(kube, clock, in_flight="fail", env={"ERROR_FRACTION": "5"})


def test_a_change_made_by_someone_else_before_the_verdict_is_reported_superseded():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2"), ("Succeeded", "r2")])
    original = kube.source

    def source(*args, **kwargs):
        lister, watcher = original(*args, **kwargs)

        def meddling(version, timeout):
            kube.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "someone:else"
            return watcher(version, timeout)

        return lister, meddling

    kube.source = source
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "superseded" and result["failed"]


def test_the_same_release_again_reports_the_same_outcome():
    clock = Clock()
    promoted = FakeKube(canary(), target(env_value="5"), clock)
    result, _said = run(promoted, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted" and not result["changed"] and promoted.patches == []
    rolled_back = FakeKube(canary(phase="Failed", applied="r2", promoted="r1"), target(env_value="75"), clock)
    result, _said = run(rolled_back, clock, env={"ERROR_FRACTION": "75"})
    assert result["verdict"] == "failed" and result["failed"] and not result["changed"]


def test_check_mode_in_follow_mode_neither_waits_nor_opens_a_gate():
    clock = Clock()
    tester = FakeLoadTester()
    hooks = [{"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(phase="WaitingPromotion", applied="r2", promoted="r1", webhooks=hooks), target(), clock)
    result, _said = run(kube, clock, check_mode=True, tester=tester, approval="auto")
    assert "nothing waited for" in result["msg"] and tester.calls == [] and clock.now == 0


def test_following_an_idle_canary_ends_after_the_named_start_window():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock)
    result, _said = run(kube, clock)
    assert result["verdict"] == "not_started" and "nothing to follow" in result["reason"]
    assert "within 50s" in result["reason"] and clock.now <= 60


def test_flagger_stopped_mid_release_is_reported_well_before_the_timeout():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25)])
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "stalled" and "is Flagger running" in result["reason"]
    assert "phase Progressing weight 25" in result["reason"]
    assert clock.now < 120


def test_a_rollback_for_lack_of_metrics_names_the_metrics_server():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2"), ("Failed", "r2")])
    kube.events = [event("1", "Normal", "New revision detected! Scaling up podinfo.test"),
                   event("2", "Warning", "Prometheus query failed: dial tcp 127.0.0.1:19090: connection refused")]
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "failed" and result["cause"] == "metrics_unavailable"
    assert "metrics server did not answer" in result["reason"]


def test_in_flight_choices_are_the_documented_ones():
    assert release_module.IN_FLIGHT_CHOICES == ("wait", "supersede", "fail")


def test_an_unreachable_load_tester_is_a_warning_before_a_manual_release():
    clock = Clock()
    tester = FakeLoadTester()
    tester.down = True
    hooks = [{"name": "rollback", "type": "rollback", "url": URL + "/rollback/check"},
             {"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [("Progressing", "r2"), ("Succeeded", "r2")])
    result, _said = run(kube, clock, tester=tester, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted"
    assert any("rollback request" in warning for warning in result["warnings"])
    assert any("approval gate" in warning for warning in result["warnings"])
