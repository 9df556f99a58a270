import os

import pytest
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


def test_promoted_condition_at_initialized_is_not_a_verdict():
    """The trap: Promoted=True before the new revision was even picked up."""
    initialized = fixture("canary_initialized")
    predicate = status.rollout_predicate(KEY, status.baseline_of(initialized))
    verdict = predicate({KEY: initialized})
    assert not verdict.done
    assert initialized["status"]["conditions"][0]["status"] == "True"


def test_old_succeeded_is_not_taken_for_the_new_release():
    old = fixture("canary_succeeded_old")
    predicate = status.rollout_predicate(KEY, status.baseline_of(old))
    assert not predicate({KEY: old}).done


def test_new_revision_succeeded_is_promoted():
    initialized = fixture("canary_initialized")
    predicate = status.rollout_predicate(KEY, status.baseline_of(initialized))
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="new")}).done
    verdict = predicate({KEY: with_status(initialized, phase="Succeeded", lastAppliedSpec="new")})
    assert verdict.done and verdict.ok and verdict.message == "promoted"


def test_failed_on_the_new_revision_ends_the_wait_as_rolled_back():
    initialized = fixture("canary_initialized")
    predicate = status.rollout_predicate(KEY, status.baseline_of(initialized))
    assert not predicate({KEY: with_status(initialized, phase="Progressing", lastAppliedSpec="new")}).done
    verdict = predicate({KEY: with_status(initialized, phase="Failed", lastAppliedSpec="new")})
    assert verdict.done and not verdict.ok and verdict.message == "rolled back"


def test_a_failed_canary_resynced_to_the_new_revision_is_not_its_verdict():
    """Flagger writes the new revision into a Failed canary before it turns Progressing."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad")
    predicate = status.rollout_predicate(KEY, status.baseline_of(failed))
    assert not predicate({KEY: with_status(failed, lastAppliedSpec="next")}).done
    assert not predicate({KEY: with_status(failed, phase="Progressing", lastAppliedSpec="next")}).done
    assert predicate({KEY: with_status(failed, phase="Succeeded", lastAppliedSpec="next")}).ok


def test_going_back_to_the_promoted_revision_after_a_rollback_is_promoted():
    """Flagger analyses nothing: it records the primary's revision as applied, stays Failed."""
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad",
                         lastPromotedSpec="good")
    predicate = status.rollout_predicate(KEY, status.baseline_of(failed))
    verdict = predicate({KEY: with_status(failed, lastAppliedSpec="good")})
    assert verdict.done and verdict.ok and "back at the revision the primary runs" in verdict.message


def test_an_old_failure_is_not_the_verdict_of_a_retry():
    failed = with_status(fixture("canary_initialized"), phase="Failed", lastAppliedSpec="bad")
    predicate = status.rollout_predicate(KEY, status.baseline_of(failed))
    assert not predicate({KEY: failed}).done
    assert not predicate({KEY: with_status(failed, phase="Progressing", lastAppliedSpec="retried")}).done
    assert predicate({KEY: with_status(failed, phase="Succeeded", lastAppliedSpec="retried")}).ok


def test_a_changed_tracked_config_is_a_new_revision():
    old = fixture("canary_succeeded_old")
    predicate = status.rollout_predicate(KEY, status.baseline_of(old))
    changed = with_status(old, trackedConfigs={"configmap/podinfo-config": "ffff00"})
    assert not predicate({KEY: with_status(changed, phase="Progressing")}).done
    assert predicate({KEY: changed}).done


def test_a_release_in_flight_is_followed_from_the_promoted_revision():
    progressing = fixture("canary_progressing")
    baseline = status.baseline_of(progressing)
    assert baseline == "7bd6dc7ffd|"
    predicate = status.rollout_predicate(KEY, baseline)
    assert not predicate({KEY: progressing}).done
    verdict = predicate({KEY: with_status(progressing, phase="Succeeded")})
    assert verdict.done and verdict.ok


def test_a_deleted_canary_ends_the_wait():
    verdict = status.rollout_predicate(KEY, "x|")({})
    assert verdict.done and not verdict.ok and "deleted" in verdict.message


@pytest.mark.parametrize("phase", ["Waiting", "WaitingPromotion"])
def test_waiting_at_a_gate_asks_the_approval(phase):
    seen = []

    def approval(canary):
        seen.append(canary["status"]["phase"])
        return None

    initialized = fixture("canary_initialized")
    predicate = status.rollout_predicate(KEY, status.baseline_of(initialized), approval)
    assert not predicate({KEY: with_status(initialized, phase=phase, lastAppliedSpec="new")}).done
    assert seen == [phase]


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
