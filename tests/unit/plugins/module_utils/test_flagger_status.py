import os

import yaml

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import status

HERE = os.path.dirname(os.path.abspath(__file__))


def fixture(name):
    with open(os.path.join(HERE, "fixtures", name + ".yaml")) as handle:
        return yaml.safe_load(handle)


def with_status(canary, **changes):
    canary = dict(canary, status=dict(canary["status"], **changes))
    return canary


KEY = "test/podinfo"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Evidence:
    def __init__(self, rolled_back=False, spoke=False):
        self._rolled_back, self._spoke = rolled_back, spoke
        self.asked = []

    def rolled_back(self):
        self.asked.append("rolled_back")
        return self._rolled_back

    def spoke(self):
        self.asked.append("spoke")
        return self._spoke


def judge(before, clock=None, follow=False, **settings):
    clock = clock or Clock()
    return status.ReleaseJudge(KEY, status.Baseline.of(before, follow=follow), clock,
                               status.JudgeSettings(follow=follow, **settings))


def outcome(verdict):
    return verdict.data.get("outcome") if verdict.done else None


def test_promoted_condition_at_initialized_is_not_a_verdict():
    """The trap: Promoted=True before the new revision was even picked up."""
    initialized = fixture("canary_initialized")
    assert not judge(initialized)({KEY: initialized}).done
    assert initialized["status"]["conditions"][0]["status"] == "True"


def test_old_succeeded_is_not_taken_for_the_new_release():
    old = fixture("canary_succeeded_old")
    assert not judge(old)({KEY: old}).done


def test_new_revision_succeeded_is_promoted():
    initialized = fixture("canary_initialized")
    predicate = judge(initialized)
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="new")}).done
    verdict = predicate({KEY: with_status(initialized, phase="Succeeded", lastAppliedSpec="new")})
    assert outcome(verdict) == "promoted" and verdict.ok


def test_a_missed_analysis_that_succeeded_is_still_promoted():
    """A relist after 410 or a late start sees only the end: Succeeded on a new revision."""
    initialized = fixture("canary_initialized")
    verdict = judge(initialized)({KEY: with_status(initialized, phase="Succeeded", lastAppliedSpec="new")})
    assert outcome(verdict) == "promoted"


def test_failed_on_the_new_revision_ends_the_wait_as_rolled_back():
    initialized = fixture("canary_initialized")
    predicate = judge(initialized)
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="new")}).done
    verdict = predicate({KEY: with_status(initialized, phase="Failed", lastAppliedSpec="new")})
    assert outcome(verdict) == "failed" and not verdict.ok and verdict.message == "rolled back"


def test_a_missed_failure_after_a_succeeded_baseline_is_the_verdict():
    initialized = fixture("canary_initialized")
    verdict = judge(initialized)({KEY: with_status(initialized, phase="Failed", lastAppliedSpec="new")})
    assert outcome(verdict) == "failed"


def test_a_failed_canary_resynced_to_the_new_revision_is_not_its_verdict():
    """Flagger writes the new revision into a Failed canary before it turns Progressing."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad")
    evidence = Evidence(rolled_back=False)
    predicate = judge(failed, evidence=evidence)
    assert not predicate({KEY: with_status(failed, lastAppliedSpec="next")}).done
    assert evidence.asked == ["rolled_back"]
    assert not predicate({KEY: with_status(failed, phase="Progressing", lastAppliedSpec="next")}).done
    assert outcome(predicate({KEY: with_status(failed, phase="Succeeded", lastAppliedSpec="next")})) == "promoted"


def test_a_missed_failure_of_a_retry_is_confirmed_by_flaggers_events():
    """Failed before, Failed after, in-flight phase missed: the events tell a rollback from a re-sync."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad")
    verdict = judge(failed, evidence=Evidence(rolled_back=True))({KEY: with_status(failed, lastAppliedSpec="next")})
    assert outcome(verdict) == "failed"


def test_going_back_to_the_promoted_revision_after_a_rollback_is_promoted():
    """Flagger analyses nothing: it records the primary's revision as applied, stays Failed."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad",
                         lastPromotedSpec="good")
    verdict = judge(failed)({KEY: with_status(failed, lastAppliedSpec="good")})
    assert outcome(verdict) == "promoted" and "back at the revision the primary runs" in verdict.message


def test_back_at_the_primary_spec_with_a_changed_config_is_not_a_shortcut():
    """A tracked ConfigMap changed too: Flagger analyses that, so the verdict must wait for it."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad",
                         lastPromotedSpec="good", trackedConfigs={"configmap/podinfo": "aaa"})
    predicate = judge(failed)
    resynced = with_status(failed, lastAppliedSpec="good", trackedConfigs={"configmap/podinfo": "bbb"})
    assert not predicate({KEY: resynced}).done
    assert not predicate({KEY: with_status(resynced, phase="Progressing")}).done
    assert outcome(predicate({KEY: with_status(resynced, phase="Failed")})) == "failed"


def test_an_old_failure_is_not_the_verdict_of_a_retry():
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad")
    predicate = judge(failed)
    assert not predicate({KEY: failed}).done
    assert not predicate({KEY: with_status(failed, phase="Progressing", lastAppliedSpec="retried")}).done
    assert predicate({KEY: with_status(failed, phase="Succeeded", lastAppliedSpec="retried")}).ok


def test_a_changed_tracked_config_is_a_new_revision():
    old = fixture("canary_succeeded_old")
    predicate = judge(old)
    changed = with_status(old, trackedConfigs={"configmap/podinfo-config": "ffff00"})
    assert not predicate({KEY: with_status(changed, phase="Progressing")}).done
    assert predicate({KEY: changed}).done


def test_a_release_in_flight_is_followed_from_the_promoted_revision():
    progressing = fixture("canary_progressing")
    baseline = status.Baseline.of(progressing, follow=True)
    assert baseline.revision == "7bd6dc7ffd|"
    predicate = judge(progressing, follow=True)
    assert not predicate({KEY: progressing}).done
    verdict = predicate({KEY: with_status(progressing, phase="Succeeded")})
    assert verdict.done and verdict.ok


def test_another_revision_during_the_analysis_supersedes_this_one():
    """Flagger restarts the analysis with the newer revision: that verdict is not this release's."""
    initialized = fixture("canary_initialized")
    predicate = judge(initialized)
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="mine")}).done
    verdict = predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="theirs")})
    assert outcome(verdict) == "superseded" and "mine was replaced by theirs" in verdict.message
    mine = with_status(initialized, phase="Succeeded", lastAppliedSpec="mine")
    assert outcome(judge(initialized)({KEY: mine})) == "promoted"


def test_a_deleted_canary_ends_the_wait():
    verdict = judge(fixture("canary_initialized"))({})
    assert outcome(verdict) == "deleted" and not verdict.ok


def test_confirm_rollout_is_waiting_without_a_new_revision_and_auto_reports_the_gate():
    """Flagger holds the revision before taking it up: lastAppliedSpec is still the old one."""
    initialized = fixture("canary_initialized")
    verdict = judge(initialized, approval="auto")({KEY: with_status(initialized, phase="Waiting")})
    assert not verdict.done and verdict.data["gate"] == "confirm-rollout"


def test_manual_approval_times_out_at_each_gate_with_a_fresh_timer():
    clock = Clock()
    initialized = fixture("canary_initialized")
    predicate = judge(initialized, clock, approval="manual", approval_timeout=60)
    waiting = predicate({KEY: with_status(initialized, phase="Waiting")})
    assert waiting.data["gate"] == "confirm-rollout" and waiting.recheck_in == 60
    clock.now += 50
    assert not predicate({KEY: with_status(initialized, phase="Waiting")}).done
    clock.now += 5
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="new")}).done
    clock.now += 5
    held = predicate({KEY: with_status(initialized, phase="WaitingPromotion", lastAppliedSpec="new")})
    assert not held.done and held.data["gate"] == "confirm-promotion" and held.recheck_in == 60
    clock.now += 59
    assert not predicate({KEY: with_status(initialized, phase="WaitingPromotion", lastAppliedSpec="new")}).done
    clock.now += 1
    verdict = predicate({KEY: with_status(initialized, phase="WaitingPromotion", lastAppliedSpec="new")})
    assert outcome(verdict) == "not_approved" and "confirm-promotion" in verdict.message


def test_a_revision_flagger_never_takes_up_is_reported_after_the_start_window():
    clock = Clock()
    initialized = fixture("canary_initialized")
    evidence = Evidence(spoke=False)
    predicate = judge(initialized, clock, start_window=50, evidence=evidence)
    first = predicate({KEY: initialized})
    assert not first.done and first.recheck_in == 50
    clock.now += 50
    verdict = predicate({KEY: initialized})
    assert outcome(verdict) == "not_started" and "within 50s" in verdict.message


def test_following_an_idle_canary_says_there_is_nothing_to_follow():
    clock = Clock()
    old = fixture("canary_succeeded_old")
    predicate = judge(old, clock, follow=True, start_window=50)
    assert not predicate({KEY: old}).done
    clock.now += 50
    verdict = predicate({KEY: old})
    assert outcome(verdict) == "not_started" and verdict.message.startswith("nothing to follow")


def test_a_silent_flagger_is_reported_stalled_but_a_busy_one_is_not():
    clock = Clock()
    initialized = fixture("canary_initialized")
    evidence = Evidence(spoke=True)
    predicate = judge(initialized, clock, stall_window=60, evidence=evidence)
    progressing = with_status(initialized, phase="Progressing", lastAppliedSpec="new", canaryWeight=10)
    assert predicate({KEY: progressing}).recheck_in == 60
    clock.now += 60
    assert not predicate({KEY: progressing}).done  # Flagger spoke: pods not ready yet, say
    evidence._spoke = False
    clock.now += 60
    verdict = predicate({KEY: progressing})
    assert outcome(verdict) == "stalled" and "is Flagger running" in verdict.message


def test_a_held_traffic_increase_is_not_a_stall():
    clock = Clock()
    initialized = fixture("canary_initialized")
    predicate = judge(initialized, clock, stall_window=60, traffic_gate=True)
    progressing = with_status(initialized, phase="Progressing", lastAppliedSpec="new")
    predicate({KEY: progressing})
    clock.now += 600
    assert not predicate({KEY: progressing}).done


def test_windows_follow_the_analysis_interval():
    canary = fixture("canary_initialized")
    assert status.analysis_interval(canary) == 10  # 5s is raised to Flagger's minimum
    canary["spec"]["analysis"]["interval"] = "1m"
    assert status.windows_for(canary) == (150, 210)


def test_flagger_evidence_compares_events_by_count_not_by_clock():
    events = [{"uid": "a", "count": 3, "message": "Advance podinfo.test canary weight 10", "canary": KEY}]
    book = status.EventBook(lambda: events)
    evidence = status.FlaggerEvidence(book, KEY)
    assert not evidence.spoke() and not evidence.rolled_back()
    events[0] = dict(events[0], count=4)
    assert evidence.spoke() and not evidence.spoke()
    events.append({"uid": "b", "count": 1, "message": "Canary failed! Scaling down podinfo.test", "canary": KEY})
    assert evidence.rolled_back()


def test_metrics_server_outage_is_told_apart_from_a_failing_app():
    events = [
        {"type": "Normal", "message": "New revision detected! Scaling up podinfo.test"},
        {"type": "Warning", "message": 'Prometheus query failed: Post "http://127.0.0.1:19090/api/v1/query": '
                                       "dial tcp 127.0.0.1:19090: connect: connection refused"},
        {"type": "Warning", "message": "Rolling back podinfo.test failed checks threshold reached 2"},
    ]
    assert "connection refused" in status.metrics_unavailable(events)
    assert status.metrics_unavailable(events[:1] + events[2:]) is None


def test_summary_names_strategy_and_revisions():
    summary = status.summarize(fixture("canary_progressing"))
    assert summary["strategy"] == "canary"
    assert (summary["phase"], summary["weight"], summary["failed_checks"]) == ("Progressing", 20, 1)
    assert (summary["revision"], summary["promoted_revision"]) == ("58655789b5", "7bd6dc7ffd")
    assert status.summarize(fixture("canary_succeeded_old"))["strategy"] == "ab-testing"


def test_timeline_records_only_changes():
    now = [10.0]
    timeline = status.Timeline(lambda: now[0], 10.0)
    progressing = fixture("canary_progressing")
    assert timeline.observe(progressing)["weight"] == 20
    now[0] = 12.5
    assert timeline.observe(progressing) is None
    entry = timeline.observe(with_status(progressing, canaryWeight=30))
    assert entry == {"seconds": 2.5, "phase": "Progressing", "weight": 30, "failed_checks": 1, "iterations": 0}
    assert timeline.weights() == [20, 30]


def test_failure_reason_takes_the_warnings_of_the_latest_release():
    events = [
        {"type": "Warning", "message": "Halt podinfo.test advancement success rate 10.00% < 99%"},
        {"type": "Normal", "message": "New revision detected! Scaling up podinfo.test"},
        {"type": "Normal", "message": "Advance podinfo.test canary weight 10"},
        {"type": "Warning", "message": "Halt podinfo.test advancement success rate 25.00% < 70%"},
        {"type": "Warning", "message": "Rolling back podinfo.test failed checks threshold reached 3"},
        {"type": "Warning", "message": "Canary failed! Scaling down podinfo.test"},
    ]
    reason = status.failure_reason(events)
    assert reason.startswith("Halt podinfo.test advancement success rate 25.00% < 70%")
    assert "10.00%" not in reason
    assert status.failure_reason([]) == "no events from Flagger"
