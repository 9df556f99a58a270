import json

import pytest

from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.canaries import (
    TargetError,
    template_patch,
    without_env_values,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import (
    GateError,
    LoadTester,
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
