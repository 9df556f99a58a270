"""The release action plugins run on the controller, where Ansible does not apply a task's
``environment:``: run_release applies it itself (AWX injects K8S_AUTH_* that way), for the
whole release and no longer, and names the AWX job and user from AWX's extra variables."""

import os

import pytest

from ansible_collections.gitops.progressive.plugins.plugin_utils import release_action


class Task:
    def __init__(self, environment):
        self.environment, self.check_mode, self.diff = environment, False, False


class Templar:
    def template(self, value):
        return {key: (item.replace("{{ home }}", "/home/awx") if isinstance(item, str) else item)
                for key, item in value.items()}


class Action:
    def __init__(self, environment):
        self._task, self._templar = Task(environment), Templar()

    def validate_argument_spec(self, argument_spec=None):
        return None, {"name": "podinfo", "namespace": "test"}


@pytest.fixture
def seen(monkeypatch):
    seen = {}

    def from_args(args):
        seen["kubeconfig at connect"] = os.environ.get("K8S_AUTH_KUBECONFIG")
        return "kube"

    class Release:
        result = {}

        def __init__(self, kube, args, check_mode, say, lease_holder):
            seen["holder"] = lease_holder

        def run(self):
            seen["kubeconfig while running"] = os.environ.get("K8S_AUTH_KUBECONFIG")
            seen["git ssh while running"] = os.environ.get("GIT_SSH_COMMAND")
            return {"changed": False, "verdict": "promoted"}

    monkeypatch.setattr(release_action.Kube, "from_args", staticmethod(from_args))
    monkeypatch.setattr(release_action.pipeline, "check_task_options", lambda task, args: None)
    monkeypatch.setitem(release_action.WORKFLOWS, "git_release", Release)
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG", raising=False)
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i before")
    return seen


def test_the_tasks_environment_reaches_the_client_and_the_release_and_is_put_back(seen):
    action = Action([{"K8S_AUTH_KUBECONFIG": "/play/kubeconfig"},
                     {"K8S_AUTH_KUBECONFIG": "{{ home }}/.kube/config", "GIT_SSH_COMMAND": "ssh -i key"}])
    result = release_action.run_release(action, {}, "git_release", {}, {"awx_job_id": 42, "awx_user_name": "alice"})
    assert result["verdict"] == "promoted"
    # The task's environment wins over its play's, templated as Ansible does.
    assert seen["kubeconfig at connect"] == seen["kubeconfig while running"] == "/home/awx/.kube/config"
    assert seen["git ssh while running"] == "ssh -i key"
    assert "K8S_AUTH_KUBECONFIG" not in os.environ and os.environ["GIT_SSH_COMMAND"] == "ssh -i before"
    assert seen["holder"]["awx_job"] == "42" and seen["holder"]["awx_user"] == "alice"


def test_the_environment_is_put_back_when_the_release_fails(seen, monkeypatch):
    class Broken:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("boom")

    monkeypatch.setitem(release_action.WORKFLOWS, "git_release", Broken)
    with pytest.raises(RuntimeError):
        release_action.run_release(Action([{"K8S_AUTH_KUBECONFIG": "/x"}]), {}, "git_release", {})
    assert "K8S_AUTH_KUBECONFIG" not in os.environ


def test_an_environment_that_is_not_a_mapping_is_refused():
    from ansible.errors import AnsibleActionFail

    action = Action([{"A": "b"}])
    action._templar = type("T", (), {"template": lambda self, value: "not a dict"})()
    with pytest.raises(AnsibleActionFail, match="environment must be a dictionary"):
        release_action.task_environment(action)


def test_the_report_is_written_after_the_release_and_not_in_check_mode(seen, monkeypatch, tmp_path):
    page = tmp_path / "release.html"

    class Backend:
        def get(self, namespace, name):
            return {"metadata": {"name": name, "namespace": namespace},
                    "spec": {"analysis": {"metrics": [{"name": "error-rate", "thresholdRange": {"max": 1}}]}}}

        def metric_series(self, obj, start, end, warn):
            seen["window"] = end - start
            return {"error-rate": [(start + 1, 0.2), (end, 0.4)]}

    class Release:
        def __init__(self, kube, args, check_mode, say, lease_holder):
            self.args, self.backend, self.result = args, Backend(), {}

        def run(self):
            return {"changed": True, "verdict": "promoted", "duration": 30.0,
                    "timeline": [{"seconds": 2, "phase": "Progressing", "weight": 50}]}

    monkeypatch.setitem(release_action.WORKFLOWS, "git_release", Release)
    action = Action([])
    action.validate_argument_spec = lambda argument_spec=None: (None, {"name": "podinfo", "namespace": "test",
                                                                       "report": str(page)})
    result = release_action.run_release(action, {}, "git_release", {})
    assert result["report"] == str(page) and 29 < seen["window"] < 31
    text = page.read_text()
    assert "Release test/podinfo" in text and 'class="series"' in text and "error-rate (at most 1)" in text
    page.unlink()
    action._task.check_mode = True
    assert "report" not in release_action.run_release(action, {}, "git_release", {}) and not page.exists()


def test_a_report_that_cannot_be_made_is_a_warning_and_the_verdict_stays(seen, monkeypatch, tmp_path):
    class Release:
        def __init__(self, kube, args, check_mode, say, lease_holder):
            self.args, self.result = args, {}

        def run(self):
            return {"changed": True, "verdict": "promoted", "duration": 30.0}

    def broken(*args, **kwargs):
        raise ValueError("could not convert string to float: 'n/a'")

    warned = []
    monkeypatch.setitem(release_action.WORKFLOWS, "git_release", Release)
    monkeypatch.setattr(release_action.report, "release_report", broken)
    monkeypatch.setattr(release_action.display, "warning", warned.append)
    action = Action([{"HTTPS_PROXY": "http://proxy.example:3128"}])
    action.validate_argument_spec = lambda argument_spec=None: (None, {"name": "podinfo", "namespace": "test",
                                                                       "report": str(tmp_path / "r.html")})
    result = release_action.run_release(action, {}, "git_release", {})
    assert result["verdict"] == "promoted" and "report" not in result
    assert "could not write the release report" in warned[0] and "ValueError" in warned[0]


def test_an_environment_the_process_cannot_take_is_put_back_all_the_same():
    environ = {"KEEP": "1"}

    class Refusing(dict):
        def update(self, other):
            super().__setitem__("KEEP", "changed")
            raise ValueError("illegal environment variable name")

    refusing = Refusing(environ)
    with pytest.raises(ValueError):
        with release_action.applied({"KEEP": "changed", "": "x"}, refusing):
            pass
    assert refusing["KEEP"] == "1"
