"""The release engine (module_utils/release/) on an in-memory API and load tester.

The API fake keeps objects (the canary, its target, the primary Flagger promotes to,
Leases) and plays a script of canary states through the watch, one state per event,
advancing a fake clock; when the script reaches Succeeded, the primary takes the
target's template, as Flagger's promotion does. Everything else is the real pipeline
with the real Flagger backend.
"""

import copy
import os
import signal
from datetime import datetime, timedelta, timezone

import pytest
from test_flagger_gates import FakeLoadTester

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError
from ansible_collections.gitops.progressive.plugins.module_utils.kube import api
from ansible_collections.gitops.progressive.plugins.module_utils.release import args as release_args
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import lease_name, micro_time
from ansible_collections.gitops.progressive.plugins.module_utils.release.pipeline import canary_rollout

KEY = "test/podinfo"
URL = "http://127.0.0.1:18888"
EPOCH = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)


def canary(phase="Succeeded", applied="r1", promoted="r1", webhooks=(), interval="10s"):
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "1"},
            "spec": {"targetRef": {"kind": "Deployment", "name": "podinfo"}, "service": {"port": 9898},
                     "progressDeadlineSeconds": 60,
                     "analysis": {"interval": interval, "threshold": 2, "maxWeight": 50, "stepWeight": 25,
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
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class FakeKube:
    """Objects in memory; the watch plays ``script`` (phase, applied[, weight[, seconds]]) one event at a time.

    ``primary`` is what Flagger promoted: the target's template as it was, and the target's
    template again whenever the script reaches Succeeded.
    """

    def __init__(self, first, deployment, clock, script=(), primary=None, server_ahead=0.0):
        self.canary, self.deployment, self.clock = first, deployment, clock
        self.primary = copy.deepcopy(primary if primary is not None else deployment)
        self.primary["metadata"]["name"] = "podinfo-primary"
        self.script = list(script)
        self.patches, self.requests, self.events = [], 0, []
        self.leases, self.lease_writes, self.recorded = {}, [], []
        self.on_patch = None
        self.before_watch = None  # called before each watch request: a test's way to act mid-release
        self.server_ahead = server_ahead

    def server_now(self):
        return EPOCH + timedelta(seconds=self.clock.now + self.server_ahead)

    def get(self, resource, namespace, name):
        self.requests += 1
        if resource is api.CANARY:
            return copy.deepcopy(self.canary)
        if resource is api.LEASE:
            return copy.deepcopy(self.leases.get(name))
        return copy.deepcopy(self.primary if name.endswith("-primary") else self.deployment)

    def create(self, resource, obj, dry_run=False, timeout=None):
        if resource is api.EVENT:
            self.recorded.append(obj)
            return obj
        assert resource is api.LEASE
        name = obj["metadata"]["name"]
        if name in self.leases:
            raise api.ApiError("exists", status=409)
        return self._store(obj)

    def replace(self, resource, obj, timeout=None):
        current = self.leases.get(obj["metadata"]["name"])
        if current is None:
            raise api.ApiError("gone", status=404)
        if current["metadata"]["resourceVersion"] != obj["metadata"].get("resourceVersion"):
            raise api.ApiError("conflict", status=409)
        return self._store(obj)

    def _store(self, obj):
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(len(self.lease_writes) + 1)
        self.leases[obj["metadata"]["name"]] = obj
        self.lease_writes.append(obj)
        return copy.deepcopy(obj)

    def delete(self, resource, namespace, name, dry_run=False, resource_version=None, timeout=None):
        current = self.leases.get(name)
        if current is None:
            return False
        if resource_version and current["metadata"]["resourceVersion"] != resource_version:
            raise api.ApiError("conflict", status=409)
        del self.leases[name]
        return True

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
            answer = copy.deepcopy(self.deployment)  # what the server answered, before any later writer
            if self.on_patch:
                self.on_patch()
            return answer
        return copy.deepcopy(self.deployment)

    def source(self, resource, namespace=None, name=None, label_selector=None):
        def lister(_timeout):
            return [copy.deepcopy(self.canary)], "1"

        def watcher(_version, timeout):
            if self.before_watch:
                self.before_watch()
            if not self.script:
                self.clock.now += timeout
                return
            phase, applied, *more = self.script.pop(0)
            self.clock.now += more[1] if len(more) > 1 else 1
            self.canary["status"].update(phase=phase, lastAppliedSpec=applied, canaryWeight=more[0] if more else 0)
            if phase == "Succeeded":
                self.canary["status"]["lastPromotedSpec"] = applied
                self.primary["spec"]["template"] = copy.deepcopy(self.deployment["spec"]["template"])
            yield "MODIFIED", copy.deepcopy(self.canary)

        return lister, watcher


def run(kube, clock, check_mode=False, tester=None, **args):
    defaults = dict(name="podinfo", namespace="test", images={}, env={}, annotations={}, approval="manual",
                    wait_timeout=600, in_flight="wait", fail_on_rollback=True, progress=True)
    defaults.update(args)
    said = []
    release = canary_rollout(kube, defaults, check_mode=check_mode, say=said.append, opener=tester, clock=clock,
                             sleep=clock.sleep, lease_holder={"user": "me", "host": "here", "pid": 1})
    return release.run(), said


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
    (dict(images={"app": ""}), r"images\[app\] must be an image reference"),
    (dict(images={"app": None}), r"images\[app\] must be an image reference"),
    (dict(images={"app": False}), r"images\[app\] must be an image reference"),
    (dict(images={"app": "Bad Ref::!!"}), r"images\[app\] is not an image reference"),
    (dict(wait_timeout=0, env={"A": "1"}), "wait_timeout must be between 1 and"),
    (dict(approval_timeout=-5, env={"A": "1"}), "approval_timeout must be between 1 and"),
    (dict(loadtester_url="flagger-loadtester:80", env={"A": "1"}), "loadtester_url must be an address starting"),
    (dict(name=None), "name is required"),
    (dict(label_selector="team=a", env={"A": "1"}, name=None), "label_selector follows releases in flight"),
])
def test_bad_input_is_refused_before_any_request(args, message):
    clock = Clock()
    kube = FakeKube(canary(), target(), clock)
    with pytest.raises(InputError, match=message):
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
    assert result["failed"] and result["changed"] and result["verdict"] == "timeout"
    assert "could not open the confirm-rollout gate" in result["msg"]
    assert "load tester at http://127.0.0.1:18888 did not answer /gate/open" in result["msg"]
    assert clock.now <= 601


def test_a_load_tester_blip_at_a_gate_is_retried_not_the_end_of_the_release():
    clock = Clock()
    tester = FakeLoadTester()
    hooks = [{"name": "rollout", "type": "confirm-rollout", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [
        ("Waiting", "r1"), ("Waiting", "r1", 0, 2), ("Progressing", "r2", 25), ("Succeeded", "r2")])
    kube.on_patch = lambda: setattr(tester, "down", True)

    def recovering():
        if kube.script and kube.script[0][0] == "Waiting" and len(kube.script) == 3:
            tester.down = False  # back before the second look

    kube.before_watch = recovering
    result, _said = run(kube, clock, tester=tester, approval="auto", env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted", result["msg"]
    assert any("could not open the confirm-rollout gate" in warning for warning in result["warnings"])
    assert not tester.gates.get("podinfo.test")


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

    def meddling():
        kube.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "someone:else"

    kube.before_watch = meddling
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "superseded" and result["failed"]


def test_the_same_release_again_reports_the_same_outcome():
    clock = Clock()
    promoted = FakeKube(canary(), target(env_value="5"), clock)
    result, _said = run(promoted, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted" and not result["changed"] and promoted.patches == []
    rolled_back = FakeKube(canary(phase="Failed", applied="r2", promoted="r1"), target(env_value="75"), clock,
                           primary=target(env_value="5"))
    result, _said = run(rolled_back, clock, env={"ERROR_FRACTION": "75"})
    assert result["verdict"] == "failed" and result["failed"] and not result["changed"]
    assert "rolled this version back before" in result["reason"]


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
    assert release_args.IN_FLIGHT_CHOICES == ("wait", "supersede", "fail")


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


# --- the review's defects (../shared/reviews/2026-12-release-engine), each failing on the old engine ---

def test_a_change_the_target_holds_but_flagger_never_analysed_is_followed_not_called_promoted():
    """#1: the target already holds the image, the canary still shows the previous revision
    as promoted; Flagger then analyses the new one and fails it."""
    clock = Clock()
    kube = FakeKube(canary(), target(image="podinfo:6.7.1"), clock,
                    [("Progressing", "r2", 25), ("Failed", "r2")], primary=target(image="podinfo:6.7.0"))
    result, said = run(kube, clock, images={"app": "podinfo:6.7.1"})
    assert result["verdict"] == "failed" and result["failed"] and not result["changed"]
    assert kube.patches == []
    assert any("the target holds this change already; watching 25 s" in line for line in said)


def test_a_change_flagger_never_takes_up_is_not_started_never_promoted():
    clock = Clock()
    kube = FakeKube(canary(), target(image="podinfo:6.7.1"), clock, primary=target(image="podinfo:6.7.0"))
    result, _said = run(kube, clock, images={"app": "podinfo:6.7.1"})
    assert result["verdict"] == "not_started" and result["failed"]


def test_a_release_in_flight_that_ends_without_a_verdict_is_not_released_over():
    """#4: the release in flight stalls in Finalising: nothing is patched."""
    clock = Clock()
    kube = FakeKube(canary(phase="Finalising", applied="r2", promoted="r1"), target(), clock)
    with pytest.raises(ReleaseError, match="did not reach a verdict .stalled.*copy it to the primary with no "
                                           "analysis. Nothing was written"):
        run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert [patch for patch, dry_run in kube.patches if not dry_run] == []
    assert kube.leases == {}


def test_a_second_writers_revision_is_superseded_not_adopted():
    """#5: someone changes the target right after this release did, before Flagger takes
    either up: the revision in flight is theirs, and this release does not adopt it."""
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])

    def second_writer():
        kube.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "podinfo:someone-else"
    kube.on_patch = second_writer
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "superseded" and result["failed"] and result["changed"]
    assert "changed by someone else before Flagger took this release up" in result["reason"]


def test_the_in_flight_wait_leaves_the_analysis_its_time_or_refuses():
    """#6: the in-flight release would eat the budget; the change is refused, not made and timed out."""
    clock = Clock()
    kube = FakeKube(canary(phase="Progressing", applied="r2", promoted="r1", interval="40s"), target(), clock,
                    [("Progressing", "r2", 50, 65), ("Succeeded", "r2", 0, 65)])
    with pytest.raises(ReleaseError, match="(?i)nothing was written"):
        run(kube, clock, wait_timeout=200, env={"ERROR_FRACTION": "5"})
    assert [patch for patch, dry_run in kube.patches if not dry_run] == []
    assert clock.now <= 131, "the in-flight wait stopped at its share (the fake's last event came at 130 s)"


def test_the_floor_is_checked_again_against_the_time_left_right_before_the_change():
    """#6: a metric window that would eat into the analysis's time is refused before the change."""
    clock = Clock()
    failed = canary(phase="Failed", applied="r2", promoted="r1", interval="40s")
    failed["spec"]["analysis"]["metrics"] = [{"name": "request-success-rate", "interval": "1m"}]
    kube = FakeKube(failed, target(), clock)
    failed["status"]["lastTransitionTime"] = kube.server_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ReleaseError, match="needs 140 s; nothing was written"):
        run(kube, clock, wait_timeout=100, env={"ERROR_FRACTION": "5"})
    assert kube.patches == [] and clock.slept == []


def test_a_timeout_below_the_worst_case_is_a_warning_below_the_analysis_a_refusal():
    """Found by releasing: the whole progress deadline is not added to the floor."""
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    result, _said = run(kube, clock, wait_timeout=30, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted"
    assert any("below the worst case" in warning for warning in result["warnings"])
    with pytest.raises(ReleaseError, match="too short.*needs at least 20 s"):
        run(FakeKube(canary(), target(), Clock()), Clock(), wait_timeout=19, env={"ERROR_FRACTION": "6"})


def test_the_metric_window_is_measured_on_the_servers_clock_and_bounded():
    """#13: the API server is an hour ahead of this machine; the wait is the window's rest."""
    clock = Clock()
    failed = canary(phase="Failed", applied="r2", promoted="r1")
    failed["spec"]["analysis"]["metrics"] = [{"name": "request-success-rate", "interval": "1m",
                                              "thresholdRange": {"min": 70}}]
    kube = FakeKube(failed, target(), clock, [("Progressing", "r3", 25), ("Succeeded", "r3")], server_ahead=3600)
    failed["status"]["lastTransitionTime"] = (kube.server_now() - timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert clock.slept == [50.0]
    assert result["metric_window_waited"] == 50.0 and result["verdict"] == "promoted"


def test_a_second_release_of_the_app_is_refused_naming_the_holder_before_anything_is_written():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    now = kube.server_now()
    kube.leases[lease_name("podinfo")] = {
        "metadata": {"name": lease_name("podinfo"), "namespace": "test", "resourceVersion": "7"},
        "spec": {"holderIdentity": "alice@ci-1 pid 42 (AWX job 9)", "leaseDurationSeconds": 60,
                 "acquireTime": micro_time(now - timedelta(seconds=30)), "renewTime": micro_time(now)}}
    with pytest.raises(ReleaseError, match="another release of this app is running, held by alice@ci-1 pid 42 "
                                           ".AWX job 9. since 2026-12-07T11:59:30"):
        run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert kube.patches == [] and kube.leases[lease_name("podinfo")]["metadata"]["resourceVersion"] == "7"


def test_a_lease_its_holder_stopped_renewing_is_taken_over_and_released_at_the_end():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    then = kube.server_now() - timedelta(seconds=120)
    kube.leases[lease_name("podinfo")] = {
        "metadata": {"name": lease_name("podinfo"), "namespace": "test", "resourceVersion": "7"},
        "spec": {"holderIdentity": "bob@dead-host pid 7", "leaseDurationSeconds": 60,
                 "acquireTime": micro_time(then), "renewTime": micro_time(then)}}
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["verdict"] == "promoted"
    assert kube.lease_writes[0]["spec"]["holderIdentity"] == "me@here pid 1"
    assert kube.leases == {}, "the Lease is released at the end"


def test_the_lease_is_released_when_the_release_fails():
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "75"})
    assert result["verdict"] == "failed" and len(kube.lease_writes) == 1 and kube.leases == {}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_at_an_open_gate_closes_it_and_releases_the_lease(signum):
    """#2: the signal arrives while the release waits at a gate it opened (approval=auto)."""
    clock = Clock()
    tester = FakeLoadTester()
    hooks = [{"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, [("Progressing", "r2", 25), ("WaitingPromotion", "r2")])

    def interrupted():
        if not kube.script:
            assert tester.gates.get("podinfo.test"), "the gate is open when the signal arrives"
            os.kill(os.getpid(), signum)  # the real signal, through the real handler

    kube.before_watch = interrupted
    previous = signal.getsignal(signum)
    result, _said = run(kube, clock, tester=tester, approval="auto", env={"ERROR_FRACTION": "5"})
    assert result["interrupted"] == signal.Signals(signum).name and result["failed"] and result["changed"]
    assert tester.gates.get("podinfo.test") is False, "the gate is closed again"
    assert kube.leases == {}, "the Lease is released"
    assert "the target is patched" in result["msg"]
    assert signal.getsignal(signum) is previous, "the previous handler is back"


def test_a_change_copied_to_the_primary_during_promoting_is_still_followed_to_its_own_analysis():
    """Review of the rebuild, #1: someone changed the target while Flagger promoted an older
    revision, so the primary runs the new template unanalysed; Flagger takes it up next."""
    clock = Clock()
    kube = FakeKube(canary(), target(image="podinfo:6.7.1"), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    result, _said = run(kube, clock, images={"app": "podinfo:6.7.1"})
    assert result["verdict"] == "failed" and not result["changed"] and kube.patches == []


def test_the_same_release_again_is_promoted_once_flagger_has_nothing_left_to_analyse():
    clock = Clock()
    kube = FakeKube(canary(), target(image="podinfo:6.7.1"), clock)
    result, _said = run(kube, clock, images={"app": "podinfo:6.7.1"})
    assert result["verdict"] == "promoted" and not result.get("failed") and not result["changed"]
    assert "no new revision within 25 s" in result["msg"] and clock.now <= 30


def test_an_in_flight_release_when_the_target_holds_the_change_is_not_taken_for_this_release():
    """Review of the rebuild, #1: r2 (an older template) is Promoting while the target holds
    6.7.1; r2's promotion is not this release's verdict."""
    clock = Clock()
    kube = FakeKube(canary(phase="Promoting", applied="r2", promoted="r1"), target(image="podinfo:6.7.1"), clock,
                    [("Succeeded", "r2"), ("Progressing", "r3", 25), ("Failed", "r3")],
                    primary=target(image="podinfo:6.7.0"))
    original = kube.source

    def source(*args, **kwargs):
        lister, watcher = original(*args, **kwargs)

        def older_promoted(version, timeout):
            for event in watcher(version, timeout):
                if kube.canary["status"]["phase"] == "Succeeded":
                    kube.primary["spec"]["template"] = copy.deepcopy(target(image="podinfo:6.7.0")["spec"]["template"])
                yield event

        return lister, older_promoted

    kube.source = source
    result, _said = run(kube, clock, in_flight="supersede", images={"app": "podinfo:6.7.1"})
    assert result["waited_for"]["verdict"] == "promoted" and result["verdict"] == "failed", result["msg"]


def test_a_blip_reading_events_at_the_verdict_costs_the_report_its_events_not_the_verdict():
    """Review of the rebuild, #7."""
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    original = kube.list

    def flaky(resource, *args, **kwargs):
        if resource is api.EVENT and kube.canary["status"]["phase"] == "Failed":
            raise api.ApiError("listing Events: the API server did not answer")
        return original(resource, *args, **kwargs)

    kube.list = flaky
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "75"})
    assert result["verdict"] == "failed"
    assert any("could not read the events" in warning for warning in result["warnings"])


def test_a_second_signal_during_the_cleanup_does_not_cut_it():
    """Review of the rebuild, #6: Ctrl-C while the gate is being closed at the end."""
    clock = Clock()
    tester = FakeLoadTester()
    hooks = [{"name": "promotion", "type": "confirm-promotion", "url": URL + "/gate/check"}]
    script = [("Progressing", "r2", 25), ("WaitingPromotion", "r2"), ("Promoting", "r2"), ("Succeeded", "r2")]
    kube = FakeKube(canary(webhooks=hooks), target(), clock, script)
    original = tester.__call__

    class Interrupting(FakeLoadTester):
        def __call__(self, url, data, method, timeout, headers):
            answer = original(url, data, method, timeout, headers)
            if url.endswith("/gate/close"):
                os.kill(os.getpid(), signal.SIGINT)
            return answer

    interrupting = Interrupting()
    interrupting.gates, interrupting.rollbacks, interrupting.calls = tester.gates, tester.rollbacks, tester.calls
    result, _said = run(kube, clock, tester=interrupting, approval="auto", env={"ERROR_FRACTION": "5"})
    assert kube.leases == {} and not tester.gates.get("podinfo.test")
    assert result.get("verdict") == "promoted" or result.get("interrupted") == "SIGINT"


def test_an_interrupt_is_recorded_on_the_canary_for_whoever_looks_next():
    """Review of the rebuild, #5: the console that started the task may be gone."""
    clock = Clock()
    kube = FakeKube(canary(), target(), clock, [("Progressing", "r2", 25)])

    def interrupted():
        if not kube.script:
            os.kill(os.getpid(), signal.SIGTERM)

    kube.before_watch = interrupted
    result, _said = run(kube, clock, env={"ERROR_FRACTION": "5"})
    assert result["interrupted"] == "SIGTERM"
    [event] = kube.recorded
    assert event["reason"] == "ReleaseInterrupted" and event["involvedObject"]["name"] == "podinfo"
    assert "the target is patched" in event["message"]


def test_a_lease_taken_over_mid_release_stops_every_later_write():
    """Review of the rebuild, #3: the renewal finds the Lease someone else's."""
    from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import ReleaseLease

    clock = Clock()
    kube = FakeKube(canary(), target(), clock)
    lease = ReleaseLease(kube, "test", "podinfo", who={"user": "me", "host": "here", "pid": 1})
    lease.acquire()
    name = lease_name("podinfo")
    kube.leases[name] = dict(kube.leases[name], metadata=dict(kube.leases[name]["metadata"], resourceVersion="99"))
    lease.renew()
    with pytest.raises(ReleaseError, match="not reverting: Lease test/.* was deleted or taken over"):
        lease.ensure_held("reverting")
    assert lease.release() is False and name in kube.leases, "another's Lease is not deleted"
