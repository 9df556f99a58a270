import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.kube import wait
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
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

    verdict = wait.wait_for(lambda _timeout: ([node("a", True)], "10"), watcher, nodes_ready_predicate(1), 5)
    assert verdict.done and verdict.data["ready"] == ["a"]


def test_events_are_applied_until_the_predicate_holds():
    watched = []

    def watcher(version, timeout):
        watched.append(version)
        yield "ADDED", node("b", False, "11")
        yield "MODIFIED", node("b", True, "12")
        raise AssertionError("read past the verdict")

    stats = wait.WaitStats()
    verdict = wait.wait_for(lambda _timeout: ([node("a", True)], "10"), watcher, nodes_ready_predicate(2), 5, stats=stats)
    assert verdict.data["ready"] == ["a", "b"]
    assert watched == ["10"]
    assert (stats.lists, stats.watches, stats.events) == (1, 1, 2)


def test_a_closed_watch_resumes_from_the_last_resource_version():
    streams = iter([[("MODIFIED", node("a", False, "11"))], [("MODIFIED", node("a", True, "12"))]])
    seen = []

    def watcher(version, _timeout):
        seen.append(version)
        return next(streams)

    wait.wait_for(lambda _timeout: ([node("a", False)], "10"), watcher, nodes_ready_predicate(1), 5)
    assert seen == ["10", "11"]


def test_gone_relists():
    lists = iter([([node("a", False)], "10"), ([node("a", True)], "50")])
    calls = []

    def lister(_timeout):
        calls.append("list")
        return next(lists)

    def watcher(_version, _timeout):
        yield "ERROR", {"code": 410, "metadata": {}}

    verdict = wait.wait_for(lister, watcher, nodes_ready_predicate(1), 5)
    assert verdict.done and calls == ["list", "list"]


def test_deleted_objects_leave_the_local_copy():
    def watcher(_version, _timeout):
        yield "DELETED", node("b", False, "11")

    verdict = wait.wait_for(lambda _timeout: ([node("a", True), node("b", False)], "10"), watcher,
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
    verdict = wait.wait_for(lambda _timeout: ([first], "1"), watcher, predicate, 5)
    assert not verdict.ok and verdict.message == "rolled back"


def test_timeout_carries_the_last_verdict():
    clock = FakeClock()

    def watcher(_version, timeout):
        clock.now += timeout
        return iter(())

    with pytest.raises(wait.WaitTimeout) as error:
        wait.wait_for(lambda _timeout: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 3, clock=clock)
    assert error.value.last.message == "0 of 1 nodes Ready"


def test_progress_callback_sees_every_change():
    changes = []

    def watcher(_version, _timeout):
        yield "MODIFIED", node("a", True, "2")

    wait.wait_for(lambda _timeout: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 5,
                  on_change=lambda objects, verdict: changes.append(verdict.message))
    assert changes == ["0 of 1 nodes Ready", "1 of 1 nodes Ready"]


# --- the engine's promises under failure ---------------------------------------------

def unreachable(message="connection refused"):
    return ApiError("watching Nodes: the API server did not answer: %s" % message)


class Recorder:
    """A fake clock whose sleep advances it, recording each pause."""

    def __init__(self):
        self.now = 0.0
        self.pauses = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.pauses.append(seconds)
        self.now += seconds


def test_a_dropped_connection_is_resumed_with_a_growing_backoff():
    clock = Recorder()
    attempts = []

    def watcher(_version, _timeout):
        attempts.append(clock.now)
        if len(attempts) < 4:
            raise unreachable()
        yield "MODIFIED", node("a", True, "9")

    stats = wait.WaitStats()
    verdict = wait.wait_for(lambda _timeout: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 60,
                            clock=clock, sleep=clock.sleep, stats=stats)
    assert verdict.done
    assert clock.pauses == [0.25, 0.5, 1.0]
    assert stats.retries == 3 and stats.lists == 4
    assert "connection refused" in stats.errors[-1]


def test_the_backoff_is_capped_and_never_sleeps_past_the_deadline():
    clock = Recorder()

    def lister(_timeout):
        raise unreachable()

    with pytest.raises(wait.WaitTimeout) as error:
        wait.wait_for(lister, None, nodes_ready_predicate(1), 20, clock=clock, sleep=clock.sleep)
    assert max(clock.pauses) == wait.BACKOFF_MAX
    assert clock.now == pytest.approx(20.0)
    assert "connection refused" in str(error.value)


def test_a_silent_connection_cannot_outlive_the_timeout():
    """The watch window (the transport's read timeout too) is never longer than the time left."""
    clock = Recorder()
    windows = []

    def watcher(_version, timeout):
        windows.append(timeout)
        clock.now += timeout  # the server says nothing; the read times out at the window's end
        raise ApiError("watching Nodes: the API server did not answer: Read timed out")

    with pytest.raises(wait.WaitTimeout):
        wait.wait_for(lambda _timeout: ([node("a", False)], "1"), watcher, nodes_ready_predicate(1), 7.5,
                      clock=clock, sleep=clock.sleep)
    assert windows[0] == 8 and all(window <= 8 for window in windows)
    assert clock.now <= 7.5 + 1


def test_an_error_event_other_than_gone_backs_off_and_relists_instead_of_spinning():
    clock = Recorder()
    lists = []

    def lister(_timeout):
        lists.append(clock.now)
        return [node("a", False)], "1"

    def watcher(_version, _timeout):
        yield "ERROR", {"code": 500, "message": "etcdserver: request timed out"}

    with pytest.raises(wait.WaitTimeout) as error:
        wait.wait_for(lister, watcher, nodes_ready_predicate(1), 10, clock=clock, sleep=clock.sleep)
    # backoff 0.25, 0.5, 1, 2, 4, capped: a handful of lists in ten seconds, not thousands
    assert len(lists) <= 8
    assert "etcdserver: request timed out" in str(error.value)


def test_a_refusal_retrying_cannot_cure_ends_the_wait_with_it():
    def lister(_timeout):
        raise ApiError("listing Nodes: the API server answered 403: forbidden", status=403)

    with pytest.raises(ApiError) as error:
        wait.wait_for(lister, None, nodes_ready_predicate(1), 10, sleep=lambda _s: None)
    assert error.value.status == 403


def test_a_predicate_asks_to_be_asked_again_without_events():
    clock = Recorder()
    windows = []

    def watcher(_version, timeout):
        windows.append(timeout)
        clock.now += timeout
        return iter(())

    def predicate(objects):
        if clock.now >= 30:
            return wait.Verdict(done=True, ok=False, message="not approved in 30s")
        return wait.Verdict(done=False, recheck_in=30 - clock.now)

    verdict = wait.wait_for(lambda _timeout: ([node("a", False)], "1"), watcher, predicate, 600, clock=clock)
    assert verdict.message == "not approved in 30s"
    assert windows == [30] and clock.now == 30


def test_a_wait_needs_a_positive_timeout():
    with pytest.raises(ValueError):
        wait.wait_for(lambda _timeout: ([], "1"), None, nodes_ready_predicate(1), 0)
