"""KubeModule: the spec it builds, wait_timeout refused before anything is sent, one failure per error.

The real AnsibleK8SModule and AnsibleModule run on arguments given the way Ansible gives
them (ansible.module_utils.testing.patch_module_args); only exit_json and fail_json are
replaced, by exceptions that carry what the task would have returned (kubernetes.core's
own unit tests do the same).
"""

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gitops.progressive.plugins.module_utils import args
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube import module as kube_module
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import KubeModule, kube_argument_spec


class Exited(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class Failed(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


@pytest.fixture(autouse=True)
def ends(monkeypatch):
    def exit_json(self, **result):
        raise Exited(result)

    def fail_json(self, msg, **result):
        raise Failed(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


OWN = dict(name=dict(type="str", required=True), namespace=dict(type="str", default="demo"))


def canary_subject(params):
    return "canary %s/%s" % (params["namespace"], params["name"])


def make(task_args, **kwargs):
    with patch_module_args(task_args):
        return KubeModule(dict(OWN), **kwargs)


# -- the spec ------------------------------------------------------------------------------

def test_the_spec_has_kubernetes_cores_connection_options_the_wait_options_and_the_modules_own():
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    spec = kube_argument_spec(OWN, wait=False, wait_timeout=180)
    assert set(AUTH_ARG_SPEC) <= set(spec)
    assert spec["wait"] == dict(type="bool", default=False)
    assert spec["wait_timeout"] == dict(type="int", default=180)
    assert spec["name"] == OWN["name"] and spec["namespace"] == OWN["namespace"]


def test_a_module_that_always_waits_gets_only_wait_timeout():
    spec = kube_argument_spec(OWN, wait_timeout=120)
    assert "wait" not in spec and spec["wait_timeout"] == dict(type="int", default=120)


def test_a_module_that_does_not_wait_gets_no_wait_options():
    spec = kube_argument_spec(OWN)
    assert "wait" not in spec and "wait_timeout" not in spec


def test_a_wait_option_without_a_timeout_is_a_mistake_in_the_module():
    with pytest.raises(ValueError, match="needs a wait_timeout"):
        kube_argument_spec(OWN, wait=True)


def test_the_shared_spec_is_the_one_in_args():
    assert kube_argument_spec({}, wait=True, wait_timeout=300)["wait"] == args.wait_argument_spec()["wait"]
    assert args.wait_argument_spec(wait=None, wait_timeout=60) == dict(wait_timeout=dict(type="int", default=60))


def test_params_carry_the_defaults_given_for_this_module():
    module = make(dict(name="podinfo"), wait=False, wait_timeout=180, subject=canary_subject)
    assert module.params["wait"] is False and module.params["wait_timeout"] == 180
    assert module.params["namespace"] == "demo" and module.params["kubeconfig"] is None


def test_options_are_checked_by_ansible_module_as_usual():
    with pytest.raises(Failed, match="missing required arguments: name"):
        make(dict(), wait=False, wait_timeout=180)
    with pytest.raises(Failed, match="wait_timeout"):
        make(dict(name="podinfo", wait_timeout="soon"), wait=False, wait_timeout=180)


def test_other_keywords_go_to_ansible_module():
    with pytest.raises(Failed, match="missing parameter\\(s\\) required by 'name': kubeconfig"):
        make(dict(name="podinfo"), required_by={"name": "kubeconfig"})


def test_check_and_diff_mode_come_from_the_task():
    module = make(dict(name="podinfo", _ansible_check_mode=True, _ansible_diff=True))
    assert module.check_mode is True and module.diff_mode is True
    module = make(dict(name="podinfo"))
    assert module.check_mode is False and module.diff_mode is False


# -- wait_timeout --------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", [0, -5])
def test_a_wait_timeout_that_is_not_positive_is_refused_naming_the_object(timeout):
    with pytest.raises(Failed) as failed:
        make(dict(name="podinfo", wait_timeout=timeout), wait=False, wait_timeout=180, subject=canary_subject)
    assert failed.value.result["msg"] == \
        "wait_timeout must be a positive number of seconds for canary demo/podinfo, got %d" % timeout


def test_the_object_may_be_a_fixed_string_or_left_out():
    with pytest.raises(Failed, match="^wait_timeout must be a positive number of seconds for the cluster, got 0$"):
        make(dict(name="podinfo", wait_timeout=0), wait_timeout=120, subject="the cluster")
    with pytest.raises(Failed, match="^wait_timeout must be a positive number of seconds, got 0$"):
        make(dict(name="podinfo", wait_timeout=0), wait_timeout=120)


def test_the_refusal_comes_before_any_connection(monkeypatch):
    monkeypatch.setattr(kube_module.Kube, "from_module", classmethod(lambda cls, module: pytest.fail("connected")))
    with pytest.raises(Failed, match="wait_timeout"):
        make(dict(name="podinfo", wait_timeout=0), wait=True, wait_timeout=300, subject=canary_subject)


def test_a_positive_wait_timeout_passes():
    assert make(dict(name="podinfo", wait_timeout=1), wait=True, wait_timeout=300).params["wait_timeout"] == 1


# -- client --------------------------------------------------------------------------------

def test_the_client_is_made_once_from_the_kubernetes_core_module(monkeypatch):
    made = []

    def from_module(cls, module):
        made.append(module)
        return "kube"

    monkeypatch.setattr(kube_module.Kube, "from_module", classmethod(from_module))
    module = make(dict(name="podinfo", kubeconfig="/tmp/config"))
    assert module.client() == "kube" and module.client() == "kube"
    assert made == [module.module] and made[0].params["kubeconfig"] == "/tmp/config"


# -- run -----------------------------------------------------------------------------------

def test_run_returns_the_works_result():
    module = make(dict(name="podinfo"))
    with pytest.raises(Exited) as exited:
        module.run(lambda: dict(changed=True, phase="Initialized"))
    assert exited.value.result == dict(changed=True, phase="Initialized")


def test_run_turns_a_collection_error_into_one_failure_with_its_details():
    module = make(dict(name="podinfo"))

    def work():
        raise CollectionError("Canary demo/podinfo is invalid: spec.analysis.interval is required",
                              errors=["spec.analysis.interval is required"], changed=False)

    with pytest.raises(Failed) as failed:
        module.run(work)
    assert failed.value.result == dict(msg="Canary demo/podinfo is invalid: spec.analysis.interval is required",
                                       errors=["spec.analysis.interval is required"], changed=False, failed=True)


def test_run_fails_the_same_way_for_every_collection_error():
    module = make(dict(name="podinfo"))

    def work():
        raise ApiError("reading Canary demo/podinfo: the API server answered 403: forbidden", status=403)

    with pytest.raises(Failed) as failed:
        module.run(work)
    assert failed.value.result["msg"] == "reading Canary demo/podinfo: the API server answered 403: forbidden"
    assert failed.value.result["status"] == 403


def test_anything_else_is_a_bug_and_keeps_its_traceback():
    module = make(dict(name="podinfo"))

    def work():
        raise KeyError("phase")

    with pytest.raises(KeyError):
        module.run(work)


def test_fail_passes_details_on():
    module = make(dict(name="podinfo"))
    with pytest.raises(Failed) as failed:
        module.fail("no", phase="Failed")
    assert failed.value.result == dict(msg="no", phase="Failed", failed=True)


@pytest.mark.parametrize("timeout", [86401, 10 ** 11])
def test_a_wait_timeout_over_a_day_is_refused_before_it_overflows_a_clock(timeout):
    with pytest.raises(Failed) as failed:
        make(dict(name="podinfo", wait_timeout=timeout), wait=False, wait_timeout=180, subject=canary_subject)
    assert failed.value.result["msg"] == \
        "wait_timeout must be at most 86400 seconds (a day) for canary demo/podinfo, got %d" % timeout
    assert args.check_wait_timeout(dict(wait_timeout=args.WAIT_TIMEOUT_MAX)) is None


# -- inputs and credentials ----------------------------------------------------------------

def test_the_modules_inputs_check_refuses_before_any_connection_with_its_details(monkeypatch):
    monkeypatch.setattr(kube_module.Kube, "from_module", classmethod(lambda cls, module: pytest.fail("connected")))

    def inputs(params):
        raise CollectionError("canary %s: name must be a DNS-1123 subdomain" % params["name"], problems=["name"])

    with pytest.raises(Failed) as failed:
        make(dict(name="Podinfo"), inputs=inputs)
    assert failed.value.result == dict(msg="canary Podinfo: name must be a DNS-1123 subdomain", problems=["name"],
                                       failed=True)
    assert make(dict(name="podinfo"), inputs=lambda params: None).params["name"] == "podinfo"


def test_credentials_in_any_address_among_the_options_are_masked():
    with patch_module_args(dict(name="http://tester:hunter2-secret@loadtester.test/")):
        module = KubeModule(dict(OWN))
    assert {"tester:hunter2-secret", "hunter2-secret"} <= module.module._module.no_log_values


@pytest.mark.parametrize("selector", ["app=web", "app.kubernetes.io/part-of=platform", "!legacy", "tier in (web, api)",
                                      "tier notin (db)", "a!=b,c", "a==b", "release>3", "app="])
def test_label_selectors_in_kubernetes_grammar_pass(selector):
    assert kube_module.label_selector_problems("label_selectors", [selector]) == []


@pytest.mark.parametrize("selector, problem", [
    ("", "label_selectors[1] may not be empty (it would select everything)"),
    ("app=*", "'*' is not a label value"),
    ("*", "'*' is not a label key"),
    ("a b", "write key, !key, key=value"),
    ("app in ()", "in needs at least one value"),
    ("!app=web", "'!' only goes before a key alone"),
    ("release>three", "> needs a whole number"),
    ("app=web,", "write key, !key"),
    ("-app=web", "'-app' is not a label key"),
    ("app=web\n", "may not hold line breaks, tabs or other control characters"),
    ("app\t=web", "may not hold line breaks, tabs or other control characters"),
    ("tier in (web\n)", "may not hold line breaks, tabs or other control characters"),
    ("app=web\u00a0", "'web\\xa0' is not a label value"),
])
def test_a_malformed_label_selector_is_named_with_what_is_wrong(selector, problem):
    problems = kube_module.label_selector_problems("label_selectors", ["app=web", selector])
    assert len(problems) == 1 and problems[0].startswith("label_selectors[1]") and problem in problems[0]
