import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.kube import wait
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import nodes_ready_predicate


def node(name, ready, version="1"):
    return {"metadata": {"name": name, "resourceVersion": version},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_predicate_true_at_the_first_list_returns_without_watching():
    def watcher(_version, _timeout):
        raise AssertionError("no watch needed")

    verdict = wait.wait_for(lambda: ([node("a", True)], "10"), watcher, nodes_ready_predicate(1), 5)
    assert verdict.done and verdict.data["ready"] == ["a"]


def test_events_are_applied_until_the_predicate_holds():
    watched = []

    def watcher(version, timeout):
        watched.append(version)
        yield "ADDED", node("b", False, "11")
        yield "MODIFIED", node("b", True, "12")
        raise AssertionError("read past the verdict")

    stats = wait.WaitStats()
    verdict = wait.wait_for(lambda: ([node("a", True)], "10"), watcher, nodes_ready_predicate(2), 5, stats=stats)
    assert verdict.data["ready"] == ["a", "b"]
    assert watched == ["10"]
    assert (stats.lists, stats.watches, stats.events) == (1, 1, 2)


def test_a_closed_watch_resumes_from_the_last_resource_version():
    streams = iter([[("MODIFIED", node("a", False, "11"))], [("MODIFIED", node("a", True, "12"))]])
    seen = []

    def watcher(version, _timeout):
        seen.append(version)
        return next(streams)

    wait.wait_for(lambda: ([node("a", False)], "10"), watcher, nodes_ready_predicate(1), 5)
    assert seen == ["10", "11"]


def test_gone_relists():
    lists = iter([([node("a", False)], "10"), ([node("a", True)], "50")])
    calls = []

    def lister():
        calls.append("list")
        return next(lists)

    def watcher(_version, _timeout):
        yield "ERROR", {"code": 410, "metadata": {}}

    verdict = wait.wait_for(lister, watcher, nodes_ready_predicate(1), 5)
    assert verdict.done and calls == ["list", "list"]


def test_deleted_objects_leave_the_local_copy():
    def watcher(_version, _timeout):
        yield "DELETED", node("b", False, "11")

    verdict = wait.wait_for(lambda: ([node("a", True), node("b", False)], "10"), watcher,
                            nodes_ready_predicate(1), 5)
    assert verdict.data["ready"] == ["a"]


def test_a_terminal_failure_ends_the_wait_at_once():
    def predicate(objects):
        phase = objects["ns/app"]["status"]["phase"]
        if phase == "Failed":
            return wait.Verdict(done=True, ok=False, message="rolled back")
        return None

    def watcher(_version, _timeout):
        yield "MODIFIED", {"metadata": {"name": "app", "namespace": "ns", "resourceVersion": "2"},
                           "status": {"phase": "Failed"}}
        raise AssertionError("kept waiting after Failed")

    first = {"metadata": {"name": "app", "namespace": "ns"}, "status": {"phase": "Progressing"}}
    verdict = wait.wait_for(lambda: ([first], "1"), watcher, predicate, 5)
    assert not verdict.ok and verdict.message == "rolled back"


def test_timeout_carries_the_last_verdict():
    clock = FakeClock()

    def watcher(_version, timeout):
        clock.now += timeout
        return iter(())

    with pytest.raises(wait.WaitTimeout) as error:
        wait.wait_for(lambda: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 3, clock=clock)
    assert error.value.last.message == "0 of 1 nodes Ready"


def test_progress_callback_sees_every_change():
    changes = []

    def watcher(_version, _timeout):
        yield "MODIFIED", node("a", True, "2")

    wait.wait_for(lambda: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 5,
                  on_change=lambda objects, verdict: changes.append(verdict.message))
    assert changes == ["0 of 1 nodes Ready", "1 of 1 nodes Ready"]
