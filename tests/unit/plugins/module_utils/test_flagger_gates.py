import json

import pytest

from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.canaries import (
    TargetError,
    template_patch,
    without_env_values,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import (
    GateActions,
    GateError,
    LoadTester,
    check_options,
    redact,
    load_tester_base,
)


class FakeLoadTester:
    """The load tester's gate semantics, in memory (as the real one keeps them)."""

    def __init__(self):
        self.gates, self.rollbacks, self.calls = {}, {}, []
        self.down = False

    def __call__(self, url, data, method, timeout, headers):
        if self.down:
            raise OSError("connection refused")
        path = url.split("18888", 1)[1]
        payload = json.loads(data)
        key = "%s.%s" % (payload["name"], payload["namespace"])
        self.calls.append(path)
        answers = {
            "/gate/check": lambda: 200 if self.gates.get(key) else 403,
            "/gate/open": lambda: self.gates.__setitem__(key, True) or 202,
            "/gate/close": lambda: self.gates.__setitem__(key, False) or 202,
            "/rollback/check": lambda: 200 if self.rollbacks.get(key) else 403,
            "/rollback/open": lambda: self.rollbacks.__setitem__(key, True) or 202,
            "/rollback/close": lambda: self.rollbacks.__setitem__(key, False) or 202,
        }
        code = answers[path]()
        if code >= 400:
            raise HTTPError(url, code, "Forbidden", {}, None)
        return type("Response", (), {"getcode": lambda self: code})()


def test_gate_open_close_round_trip():
    fake = FakeLoadTester()
    gates = LoadTester("http://127.0.0.1:18888/", opener=fake)
    assert not gates.gate_is_open("podinfo", "test")
    gates.open_gate("podinfo", "test")
    assert gates.gate_is_open("podinfo", "test")
    assert not gates.gate_is_open("other", "test")
    gates.close_gate("podinfo", "test")
    assert not gates.gate_is_open("podinfo", "test")
    gates.request_rollback("podinfo", "test")
    assert gates.rollback_requested("podinfo", "test")


def test_an_unanswering_load_tester_is_named():
    def refuse(*_args, **_kwargs):
        raise OSError("connection refused")

    with pytest.raises(GateError, match="load tester at http://127.0.0.1:1 did not answer /gate/open for canary test/podinfo"):
        LoadTester("http://127.0.0.1:1", opener=refuse).open_gate("podinfo", "test")


def test_a_load_tester_address_must_be_a_url():
    with pytest.raises(GateError, match="must be an http"):
        LoadTester(None)


def test_credentials_in_a_load_tester_address_never_reach_a_message():
    def refuse(*_args, **_kwargs):
        raise OSError("connection refused for http://admin:s3cret@127.0.0.1:1/gate/open")

    with pytest.raises(GateError) as error:
        LoadTester("http://admin:s3cret@127.0.0.1:1", opener=refuse).open_gate("podinfo", "test")
    assert "s3cret" not in str(error.value) and "admin" not in str(error.value)
    assert "http://***@127.0.0.1:1" in str(error.value)
    assert redact("https://u:p@lt.test/") == "https://***@lt.test/"


def test_the_address_comes_from_the_canary_webhooks():
    hooks = [{"name": "gate", "type": "confirm-promotion", "url": "http://flagger-loadtester.test/gate/check"}]
    assert load_tester_base(hooks) == "http://flagger-loadtester.test"
    assert load_tester_base(hooks, "http://127.0.0.1:18888/") == "http://127.0.0.1:18888"
    assert load_tester_base([]) is None


DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "podinfo", "namespace": "test"},
    "spec": {"template": {"metadata": {"annotations": {"a": "1"}}, "spec": {"containers": [
        {"name": "podinfo", "image": "podinfo:6.7.0", "env": [{"name": "ERROR_FRACTION", "value": "0"}]},
        {"name": "sidecar", "image": "sidecar:1"}]}}},
}


def test_template_patch_changes_only_what_differs():
    patch = template_patch(DEPLOYMENT, images={"podinfo": "podinfo:6.7.1"}, env={"ERROR_FRACTION": "75"},
                           env_container="podinfo", annotations={"a": "1", "b": "2"})
    assert patch == {"spec": {"template": {
        "spec": {"containers": [{"name": "podinfo", "image": "podinfo:6.7.1",
                                 "env": [{"name": "ERROR_FRACTION", "value": "75"}]}]},
        "metadata": {"annotations": {"b": "2"}}}}}


def test_template_patch_is_none_when_already_in_place():
    assert template_patch(DEPLOYMENT, images={"podinfo": "podinfo:6.7.0"}, env={"ERROR_FRACTION": "0"},
                          env_container="podinfo", annotations={"a": "1"}) is None


def test_template_patch_names_an_unknown_container():
    with pytest.raises(TargetError, match="Deployment test/podinfo has no container named web"):
        template_patch(DEPLOYMENT, images={"web": "x"})


def test_a_reference_is_replaced_by_a_value_and_values_are_not_returned():
    target = {"kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "test"},
              "spec": {"template": {"spec": {"containers": [
                  {"name": "app", "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}}
    patch = template_patch(target, env={"TOKEN": "hunter2"})
    assert patch["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "TOKEN", "value": "hunter2", "valueFrom": None}]
    assert "hunter2" not in str(without_env_values(patch))


# -- canary_gate action=promote: the gate asked for, and only that one -------------------------

GATE_URL = "http://127.0.0.1:18888/gate/check"


def gated(phase, weight=0, revision="r2", hooks=("confirm-promotion",), **status):
    analysis = {"interval": "10s", "stepWeight": 10, "maxWeight": 50,
                "webhooks": [{"name": "ask-%s" % hook, "type": hook, "url": GATE_URL} for hook in hooks]}
    return {"metadata": {"name": "podinfo", "namespace": "test"}, "spec": {"analysis": analysis},
            "status": dict({"phase": phase, "canaryWeight": weight, "lastAppliedSpec": revision,
                            "lastPromotedSpec": "r1"}, **status)}


class FakeKube:
    """Flagger's next states of the canary, one watch event each; the gate as it was at each event."""

    def __init__(self, tester, first, states):
        self.tester, self.first, self.states = tester, first, list(states)
        self.gate_at_event = []

    def source(self, resource, namespace, name):
        def lister(timeout):
            return [self.first], "1"

        def watcher(resource_version, timeout):
            while self.states:
                self.gate_at_event.append(bool(self.tester.gates.get("podinfo.test")))
                yield "MODIFIED", self.states.pop(0)

        return lister, watcher


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def promote(first, states, check_mode=False, wait_timeout=120):
    tester = FakeLoadTester()
    kube = FakeKube(tester, first, states)
    actions = GateActions(kube, first, wait_timeout=wait_timeout, check_mode=check_mode, clock=Clock(), opener=tester)
    return actions, tester, kube


def test_promote_while_progressing_without_a_traffic_gate_approves_nothing_and_says_so():
    """The confirm-promotion gate is asked at WaitingPromotion; opening it during Progressing approves nothing."""
    actions, tester, _kube = promote(gated("Progressing", 10),
                                     [gated("Progressing", 20), gated("WaitingPromotion", 50)])
    with pytest.raises(GateError, match="nothing to approve: canary test/podinfo is Progressing .* no "
                                        "confirm-traffic-increase webhook.*WaitingPromotion"):
        actions.promote()
    assert "/gate/open" not in tester.calls


def test_promote_at_waiting_promotion_keeps_the_gate_open_until_flagger_promotes():
    """Analysis goes on while WaitingPromotion (checks, iterations): those changes do not pass the gate."""
    actions, tester, kube = promote(gated("WaitingPromotion", 50), [
        gated("WaitingPromotion", 50, failedChecks=1), gated("WaitingPromotion", 50, iterations=4),
        gated("Promoting", 50), gated("Finalising", 0)])
    changed, message, final = actions.promote()
    assert (changed, final) == (True, "Promoting")
    assert message == "approval gate opened, Flagger passed the confirm-promotion gate (now Promoting), closed again"
    assert kube.gate_at_event == [True, True, True]
    assert tester.gates["podinfo.test"] is False


def test_promote_at_waiting_passes_confirm_rollout_when_the_release_progresses():
    actions, tester, _kube = promote(gated("Waiting", 0, revision="r1", hooks=("confirm-rollout",)),
                                     [gated("Progressing", 0, revision="r2", hooks=("confirm-rollout",))])
    changed, message, final = actions.promote()
    assert (changed, final) == (True, "Progressing") and "confirm-rollout gate" in message
    assert tester.gates["podinfo.test"] is False


def test_promote_a_held_traffic_increase_waits_for_the_weight_to_rise():
    hooks = ("confirm-traffic-increase", "confirm-promotion")
    actions, tester, kube = promote(gated("Progressing", 10, hooks=hooks), [
        gated("Progressing", 10, hooks=hooks, failedChecks=1), gated("Progressing", 20, hooks=hooks)])
    changed, message, final = actions.promote()
    assert (changed, final) == (True, "Progressing") and "confirm-traffic-increase gate" in message
    assert kube.gate_at_event == [True, True]
    assert tester.gates["podinfo.test"] is False


def test_a_traffic_gate_is_never_asked_by_iterations():
    hooks = ("confirm-traffic-increase",)
    first = gated("Progressing", 0, hooks=hooks)
    first["spec"]["analysis"] = {"iterations": 5, "webhooks": first["spec"]["analysis"]["webhooks"]}
    actions, tester, _kube = promote(first, [])
    with pytest.raises(GateError, match="runs iterations"):
        actions.promote()
    assert "/gate/open" not in tester.calls


@pytest.mark.parametrize("after,words", [
    (gated("Failed", 0), "Flagger rolled the release back"),
    (gated("Progressing", 0, revision="r3"), "a new revision restarted the analysis"),
])
def test_promote_fails_when_the_release_can_no_longer_pass_and_closes_the_gate(after, words):
    actions, tester, _kube = promote(gated("WaitingPromotion", 50), [after])
    with pytest.raises(GateError, match=words):
        actions.promote()
    assert tester.gates["podinfo.test"] is False


def test_promote_that_times_out_closes_the_gate_and_reports_no_change():
    actions, tester, _kube = promote(gated("WaitingPromotion", 50), [], wait_timeout=5)
    with pytest.raises(GateError, match="waited 5s for Flagger to pass the confirm-promotion gate, it is still "
                                        "WaitingPromotion"):
        actions.promote()
    assert tester.gates["podinfo.test"] is False


def test_promote_in_check_mode_names_the_gate_and_opens_nothing():
    actions, tester, _kube = promote(gated("WaitingPromotion", 50), [], check_mode=True)
    changed, message, _final = actions.promote()
    assert changed and "until Flagger passes the confirm-promotion gate" in message
    assert "/gate/open" not in tester.calls


@pytest.mark.parametrize("phase", ["Succeeded", "Promoting", "Finalising"])
def test_promote_past_the_gates_is_ok_and_unchanged(phase):
    actions, tester, _kube = promote(gated(phase, 0), [])
    changed, _message, final = actions.promote()
    assert (changed, final) == (False, phase) and "/gate/open" not in tester.calls


def test_promote_needs_the_webhook_of_the_gate_it_is_at():
    actions, _tester, _kube = promote(gated("WaitingPromotion", 50, hooks=("confirm-rollout",)), [])
    with pytest.raises(GateError, match="WaitingPromotion, the confirm-promotion gate, but has no confirm-promotion"):
        actions.promote()


def gate_params(**overrides):
    params = dict(name="podinfo", namespace="test", action="promote", loadtester_url=None)
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides, message", [
    (dict(name=""), "name is required and may not be empty"),
    (dict(name="podinfo-*"), "name must name one object, not a pattern"),
    (dict(namespace="Test"), "namespace must be a DNS-1123 label"),
    (dict(loadtester_url="ftp://loadtester.test/"), "loadtester_url must be an address starting with http://"),
    (dict(loadtester_url="http://tester:hunter2-secret@/"), "loadtester_url has no host: 'http:///'"),
    (dict(loadtester_url="http://127.0.0.1:99999/"), "loadtester_url is not a valid address"),
])
def test_gate_options_are_refused_before_anything_is_read(overrides, message):
    with pytest.raises(CollectionError) as error:
        check_options(gate_params(**overrides))
    assert message in str(error.value) and "hunter2-secret" not in str(error.value)


def test_credentials_to_reach_the_load_tester_pass_the_check():
    assert check_options(gate_params(loadtester_url="http://tester:hunter2-secret@127.0.0.1:18888/")) is None
