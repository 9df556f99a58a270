"""The release engine's backend seam, proven on a second backend.

A toy progressive-delivery controller ("Rollout": phases Progressing, Paused, Healthy,
Degraded; a revision counter; a paused step held at a gate) runs under the same pipeline
as Flagger, with the target-patch change strategy. Nothing in module_utils/release/ may
need to know which backend it drives: if this test needs a change there, the seam leaks.
"""

import copy
from datetime import datetime, timezone

from test_release_pipeline import Clock

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError
from ansible_collections.gitops.progressive.plugins.module_utils.kube import api
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict
from ansible_collections.gitops.progressive.plugins.module_utils.release.backend import Backend
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import TargetPatch
from ansible_collections.gitops.progressive.plugins.module_utils.release.pipeline import Release

ROLLOUT = api.Resource("example.io/v1", "Rollout", "rollouts")


class Cluster:
    """A Rollout, its workload, Leases; the watch plays the controller's moves after a patch."""

    def __init__(self, clock, moves):
        self.clock, self.moves = clock, list(moves)
        self.rollout = {"metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"workloadRef": {"name": "web"}, "steps": 2},
                        "status": {"phase": "Healthy", "revision": 1, "stableRevision": 1}}
        self.workload = {"metadata": {"name": "web", "namespace": "shop"},
                         "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
        self.stable = copy.deepcopy(self.workload["spec"]["template"])
        self.leases, self.gate_calls, self.recorded = {}, [], []

    def server_now(self):
        return datetime(2026, 12, 7, tzinfo=timezone.utc)

    def get(self, resource, namespace, name):
        if resource is api.LEASE:
            return copy.deepcopy(self.leases.get(name))
        return copy.deepcopy(self.rollout if resource is ROLLOUT else self.workload)

    def create(self, resource, obj, dry_run=False, timeout=None):
        obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion="1"))
        self.leases[obj["metadata"]["name"]] = obj
        return obj

    def replace(self, resource, obj, timeout=None):
        return self.create(resource, obj)

    def delete(self, resource, namespace, name, dry_run=False, resource_version=None, timeout=None):
        return self.leases.pop(name, None) is not None

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="strategic"):
        if not dry_run:
            for change in patch["spec"]["template"]["spec"]["containers"]:
                self.workload["spec"]["template"]["spec"]["containers"][0].update(change)
        return copy.deepcopy(self.workload)

    def source(self, resource, namespace=None, name=None, label_selector=None):
        def lister(_timeout):
            return [copy.deepcopy(self.rollout)], "1"

        def watcher(_version, timeout):
            if not self.moves:
                self.clock.now += timeout
                return
            phase = self.moves.pop(0)
            self.clock.now += 5
            status = self.rollout["status"]
            if phase == "Progressing" and status["phase"] not in ("Progressing", "Paused"):
                status["revision"] += 1
            status["phase"] = phase
            if phase == "Healthy":
                status["stableRevision"] = status["revision"]
                self.stable = copy.deepcopy(self.workload["spec"]["template"])
            yield "MODIFIED", copy.deepcopy(self.rollout)

        return lister, watcher


class RolloutJudge:
    def __init__(self, key, baseline, clock=None, start_window=None):
        self.key, self.baseline = key, baseline
        self.clock, self.start_window = clock, start_window
        self.started = clock() if clock else 0
        self.seen = False

    def __call__(self, objects):
        status = objects[self.key]["status"]
        new = status["revision"] != self.baseline
        self.seen = self.seen or (new and status["phase"] in ("Progressing", "Paused"))
        data = {"in_flight_seen": self.seen, "gate": "pause" if new and status["phase"] == "Paused" else None}
        if new and status["phase"] == "Healthy":
            return Verdict(done=True, ok=True, message="promoted", data=dict(data, outcome="promoted"))
        if new and status["phase"] == "Degraded":
            return Verdict(done=True, ok=False, message="aborted", data=dict(data, outcome="failed"))
        if not new and self.start_window and self.clock() - self.started >= self.start_window:
            return Verdict(done=True, ok=False, message="nothing new", data=dict(data, outcome="not_started"))
        return Verdict(done=False, message=status["phase"], data=data,
                       recheck_in=self.start_window if not new else None)


class Timeline:
    def __init__(self):
        self.entries = []

    def observe(self, obj):
        return None


class Book:
    def refresh(self):
        return self

    def events(self, key):
        return []


class Gate:
    def __init__(self, cluster):
        self.cluster = cluster

    def open(self):
        self.cluster.gate_calls.append("open")
        self.cluster.moves.insert(0, "Progressing")  # a promote of the paused step moves it on

    def close(self):
        self.cluster.gate_calls.append("close")


class RolloutBackend(Backend):
    name, noun = "rollouts", "rollout"

    def __init__(self, cluster):
        self.cluster = cluster

    def get(self, namespace, name):
        return self.cluster.get(ROLLOUT, namespace, name)

    def phase(self, obj):
        return obj["status"]["phase"]

    def revision(self, obj):
        return str(obj["status"]["revision"])

    def in_flight(self, obj):
        return obj["status"]["phase"] in ("Progressing", "Paused")

    def promoting(self, obj):
        return False

    def gate_held(self, obj):
        return False

    def need(self, obj):
        return 10.0, 60.0

    def target(self, obj):
        return self.cluster.get(None, "shop", "web")

    def target_of(self, obj):
        return api.DEPLOYMENT, "shop", obj["spec"]["workloadRef"]["name"]

    def serving_matches(self, obj, template):
        return self.cluster.stable == template

    def source(self, namespace, name=None, selector=None):
        return self.cluster.source(ROLLOUT, namespace, name, selector)

    def before_change(self, obj, approval, check_mode, result, say, warn):
        pass

    def preflight(self, obj, budget, metric_window, check_mode, result, say, need_after):
        return obj

    def baseline(self, obj, follow=False):
        return obj["status"]["stableRevision"] if follow else obj["status"]["revision"]

    def events(self, namespace, name):
        return Book()

    def judge(self, key, obj, baseline, clock, book, follow, approval, approval_timeout, start_window=None):
        return RolloutJudge(key, baseline, clock, start_window)

    def confirm_window(self, obj):
        return 20

    def record(self, namespace, name, reason, message, warn):
        self.cluster.recorded.append((reason, message))

    def timeline(self, clock, started):
        return Timeline()

    def gate(self, obj):
        return Gate(self.cluster)

    def progress_message(self, obj):
        return None

    def outcome(self, key, obj, verdict, timeline, events):
        return dict(verdict=verdict.data["outcome"], phase=obj["status"]["phase"], revision=self.revision(obj),
                    timeline=timeline, events=events, message=verdict.message,
                    reason=None if verdict.ok else "the rollout was aborted")


def release(cluster, clock, **args):
    options = dict(name="web", namespace="shop", images={"web": "web:2"}, wait_timeout=300, approval="auto")
    options.update(args)
    run = Release(cluster, options, TargetPatch(options), RolloutBackend(cluster), clock=clock, sleep=clock.sleep,
                  lease_holder={"user": "ci", "host": "runner", "pid": 2})
    return run.run()


def test_the_whole_pipeline_runs_on_a_second_backend_to_a_promotion_through_its_gate():
    clock = Clock()
    cluster = Cluster(clock, ["Progressing", "Paused", "Healthy"])
    result = release(cluster, clock)
    assert result["verdict"] == "promoted" and result["changed"] and not result.get("failed"), result
    assert cluster.workload["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert cluster.gate_calls == ["open", "close"] and cluster.leases == {}


def test_a_second_backend_rollback_is_a_failed_verdict():
    clock = Clock()
    cluster = Cluster(clock, ["Progressing", "Degraded"])
    result = release(cluster, clock)
    assert result["verdict"] == "failed" and result["failed"] and result["reason"] == "the rollout was aborted"


def test_a_second_backend_already_serving_the_change_is_promoted_without_a_write():
    clock = Clock()
    cluster = Cluster(clock, [])
    result = release(cluster, clock, images={"web": "web:1"})
    assert result["verdict"] == "promoted" and not result["changed"]


def test_a_second_backend_refuses_bad_input_before_any_request():
    clock = Clock()
    cluster = Cluster(clock, [])
    try:
        release(cluster, clock, wait_timeout=0)
    except InputError as error:
        assert "wait_timeout must be between 1 and" in str(error)
    else:
        raise AssertionError("wait_timeout=0 was accepted")
