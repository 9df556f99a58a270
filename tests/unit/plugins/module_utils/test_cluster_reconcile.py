"""The local_cluster workflow (cluster/reconcile.py) with a recorded runner and a fake API.

Real clusters are the integration tests' job; these check the decisions: what runs in
which state, that check mode runs and writes nothing, that bad input stops everything.
"""

import json
import os
import shutil

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import reconcile
from ansible_collections.gitops.progressive.plugins.module_utils.cluster.providers import ProviderError
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
BINARIES = {name: "/cache/%s" % name for name in
            ("kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}


class RunCommand:
    """Stands in for AnsibleModule.run_command; answers by command prefix."""

    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def __call__(self, argv, environ_update=None):
        argv = list(argv)
        if argv[:2] == ["env", "-i"]:  # a minimal environment (kwokctl): the command after the assignments
            self.environments = getattr(self, "environments", []) + [argv[2:]]
            argv = argv[2:]
            while argv and "=" in argv[0] and not argv[0].startswith("/"):
                argv = argv[1:]
        self.calls.append(argv)
        for prefix, answer in self.answers.items():
            if " ".join(argv[1:]).startswith(prefix):
                return answer
        return 0, "", ""


class FakeNodes:
    instances = []

    def __init__(self, kubeconfig, count=2, ready=None):
        self.kubeconfig = kubeconfig
        self.counted = count
        self.ready = ready
        self.waited = []
        FakeNodes.instances.append(self)

    def count(self):
        return self.counted

    def wait_ready(self, count, timeout):
        self.waited.append((count, timeout))
        return self.ready if self.ready is not None else ["kwok-node-%d" % index for index in range(count)]


def params(tmp_path, **overrides):
    base = dict(name="rehearsal", provider="kwok", state="present",
                kubeconfig=str(tmp_path / "kube" / "config"), state_dir=str(tmp_path / "state"),
                binaries=dict(BINARIES), nodes=2, servers=1, kube_version="v1.33.13", api_port=None, image=None,
                port_mappings=[], k3s_disable=[], cpus=4, memory="8192", driver="docker",
                tunnel=False, extra_args=[], wait_timeout=120)
    base.update(overrides)
    return base


def run(values, run_command=None, check_mode=False, nodes=FakeNodes):
    run_command = run_command or RunCommand()
    return reconcile.reconcile(values, reconcile.Runner(run_command, check_mode), check_mode, nodes), run_command


def fake_kwok_cluster(values):
    """kwokctl's traces of a created cluster: its saved configuration."""
    cluster_dir = os.path.join(values["state_dir"], "kwok", "clusters", values["name"])
    os.makedirs(os.path.join(cluster_dir, "pids"))
    with open(os.path.join(cluster_dir, "kwok.yaml"), "w") as handle:
        handle.write("kind: KwokctlConfiguration\n")


def test_check_mode_on_a_fresh_directory_creates_nothing(tmp_path):
    values = params(tmp_path)
    result, run_command = run(values, check_mode=True)
    assert result["changed"] and result["status_before"] == "absent" and result["status"] == "running"
    assert result["commands"][0][3:5] == ["create", "cluster"]
    assert run_command.calls == []
    assert os.listdir(str(tmp_path)) == []


def test_check_mode_delete_on_a_fresh_directory_creates_nothing(tmp_path):
    result, run_command = run(params(tmp_path, state="absent"), check_mode=True)
    assert not result["changed"] and result["status"] == "absent"
    assert run_command.calls == [] and os.listdir(str(tmp_path)) == []


def test_check_mode_runs_the_status_look_ups_and_nothing_else(tmp_path):
    listing = (0, json.dumps([]), "")
    run_command = RunCommand({"cluster list": listing})
    result, _calls = run(params(tmp_path, provider="k3d", name="staging"), run_command, check_mode=True)
    assert run_command.calls == [["k3d", "cluster", "list", "--output", "json"]]
    assert [argv[:3] for argv in result["commands"]] == [["k3d", "cluster", "create"], ["k3d", "kubeconfig", "merge"]]
    assert os.listdir(str(tmp_path)) == []


def test_create_makes_owner_only_directories_then_waits_for_the_nodes(tmp_path):
    FakeNodes.instances = []
    values = params(tmp_path)
    result, run_command = run(values)
    assert run_command.calls[0][3:5] == ["create", "cluster"]
    assert run_command.calls[1] == ["/cache/kwokctl", "scale", "node", "--name", "rehearsal", "--replicas", "2"]
    assert result["commands"] == run_command.calls
    assert oct(os.stat(values["state_dir"]).st_mode & 0o777) == "0o700"
    assert oct(os.stat(os.path.dirname(values["kubeconfig"])).st_mode & 0o777) == "0o700"
    assert FakeNodes.instances[-1].waited == [(2, 120)]
    assert result["nodes"] == ["kwok-node-0", "kwok-node-1"]
    assert result["pids"] == []


def test_an_existing_state_directory_keeps_its_mode(tmp_path):
    values = params(tmp_path)
    os.makedirs(values["state_dir"], mode=0o755)
    os.chmod(values["state_dir"], 0o755)
    run(values)
    assert os.stat(values["state_dir"]).st_mode & 0o777 == 0o755


def test_a_running_cluster_with_the_wanted_nodes_is_left_alone(tmp_path):
    values = params(tmp_path)
    fake_kwok_cluster(values)
    # A running process recorded by kwokctl: this test's own.
    from ansible_collections.gitops.progressive.plugins.module_utils.host import process

    process.write_pidfile(os.path.join(values["state_dir"], "kwok", "clusters", "rehearsal", "pids", "etcd.pid"),
                          os.getpid())
    result, run_command = run(values)
    assert result["status_before"] == "running" and not result["changed"]
    assert run_command.calls == [] and result["commands"] == []
    assert result["pids"] == [os.getpid()]


def test_a_running_cluster_with_other_nodes_is_scaled(tmp_path):
    values = params(tmp_path, nodes=3)
    fake_kwok_cluster(values)
    from ansible_collections.gitops.progressive.plugins.module_utils.host import process

    process.write_pidfile(os.path.join(values["state_dir"], "kwok", "clusters", "rehearsal", "pids", "etcd.pid"),
                          os.getpid())
    checked, check_calls = run(values, check_mode=True)
    assert checked["changed"] and check_calls.calls == []
    assert checked["commands"] == [["/cache/kwokctl", "scale", "node", "--name", "rehearsal", "--replicas", "3"]]
    result, run_command = run(values)
    assert result["changed"] and run_command.calls == checked["commands"]


def test_a_stopped_cluster_is_started(tmp_path):
    values = params(tmp_path)
    fake_kwok_cluster(values)
    result, run_command = run(values)
    assert result["status_before"] == "stopped" and result["changed"]
    assert run_command.calls == [["/cache/kwokctl", "start", "cluster", "--name", "rehearsal", "--wait", "120s"]]


def test_delete_keeps_a_shared_kubeconfig_without_this_cluster(tmp_path):
    values = params(tmp_path, state="absent")
    fake_kwok_cluster(values)
    os.makedirs(os.path.dirname(values["kubeconfig"]))
    shutil.copy(os.path.join(FIXTURES, "kubeconfig_shared.yaml"), values["kubeconfig"])
    result, run_command = run(values)
    assert run_command.calls == [["/cache/kwokctl", "delete", "cluster", "--name", "rehearsal",
                                  "--kubeconfig", values["kubeconfig"]]]
    assert result["changed"] and result["status"] == "absent"
    assert result["kubeconfig_removed"]["contexts"] == ["kwok-rehearsal"]
    assert not result["kubeconfig_deleted"]
    assert "production" in open(values["kubeconfig"]).read()


def test_delete_removes_a_kubeconfig_left_empty(tmp_path):
    values = params(tmp_path, state="absent")
    fake_kwok_cluster(values)
    os.makedirs(os.path.dirname(values["kubeconfig"]))
    shutil.copy(os.path.join(FIXTURES, "kubeconfig_kwok_only.yaml"), values["kubeconfig"])
    result, _calls = run(values)
    assert result["kubeconfig_deleted"] and not os.path.exists(values["kubeconfig"])


def test_deleting_an_absent_cluster_changes_nothing(tmp_path):
    values = params(tmp_path, state="absent")
    os.makedirs(os.path.dirname(values["kubeconfig"]))
    shutil.copy(os.path.join(FIXTURES, "kubeconfig_emptied_by_kwokctl.yaml"), values["kubeconfig"])
    result, run_command = run(values)
    assert not result["changed"] and run_command.calls == []
    assert os.path.exists(values["kubeconfig"])


def test_leftover_entries_of_an_absent_cluster_are_removed(tmp_path):
    values = params(tmp_path, state="absent")
    os.makedirs(os.path.dirname(values["kubeconfig"]))
    shutil.copy(os.path.join(FIXTURES, "kubeconfig_shared.yaml"), values["kubeconfig"])
    result, run_command = run(values)
    assert result["changed"] and run_command.calls == []
    assert "kwok-rehearsal" not in open(values["kubeconfig"]).read()


def test_an_unreadable_kubeconfig_after_delete_is_a_warning_and_is_kept(tmp_path):
    values = params(tmp_path, state="absent")
    fake_kwok_cluster(values)
    os.makedirs(os.path.dirname(values["kubeconfig"]))
    with open(values["kubeconfig"], "w") as handle:
        handle.write("clusters: [unclosed\n")
    result, _calls = run(values)
    assert result["changed"] and len(result["warnings"]) == 1
    assert values["kubeconfig"] in result["warnings"][0]
    assert os.path.exists(values["kubeconfig"])


@pytest.mark.parametrize("overrides,field", [
    (dict(name="Rehearsal"), "name must be lower-case"),
    (dict(name="../escape"), "name must be lower-case"),
    (dict(name="a" * 41), "at most 40 characters"),
    (dict(api_port=0), "api_port must be a TCP port (1-65535), got 0"),
    (dict(api_port=70000), "api_port must be a TCP port (1-65535), got 70000"),
    (dict(wait_timeout=0), "wait_timeout must be a positive number of seconds"),
    (dict(wait_timeout=-5), "wait_timeout must be a positive number of seconds"),
    (dict(nodes=0), "nodes must be at least 1 for kwok, got 0"),
    (dict(servers=0), "servers must be at least 1, got 0"),
    (dict(binaries={"kwokctl": "/k"}), "binaries has no path for kwok, etcd, kube-apiserver"),
    (dict(provider="k3d", port_mappings=["99999:80@loadbalancer"]), "port_mappings[0] must be a TCP port"),
    (dict(provider="k3d", port_mappings=["8080:http"]), "port_mappings[0] must look like"),
])
def test_bad_input_is_refused_before_anything_runs_naming_the_field(tmp_path, overrides, field):
    values = params(tmp_path, **overrides)
    run_command = RunCommand()
    with pytest.raises(reconcile.ClusterInputError) as raised:
        reconcile.reconcile(values, reconcile.Runner(run_command), False, FakeNodes)
    assert field in str(raised.value)
    assert str(raised.value).startswith("local_cluster %r: " % values["name"])
    assert run_command.calls == [] and os.listdir(str(tmp_path)) == []


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(reconcile.ClusterInputError) as raised:
        reconcile.reconcile(params(tmp_path, api_port=0, wait_timeout=0, nodes=0), reconcile.Runner(RunCommand()))
    assert len(raised.value.problems) == 3


@pytest.mark.parametrize("mapping", ["8080:80@loadbalancer", "127.0.0.1:8443:443@loadbalancer", "80",
                                     "8081:80/tcp@agent:0"])
def test_valid_k3d_port_mappings_pass(tmp_path, mapping):
    assert reconcile.validate(params(tmp_path, provider="k3d", port_mappings=[mapping])) == []


def test_a_failing_command_is_a_collection_error_carrying_the_result_so_far(tmp_path):
    run_command = RunCommand({"--config": (1, "", "etcd: address already in use")})
    with pytest.raises(ProviderError) as raised:
        run(params(tmp_path), run_command)
    assert isinstance(raised.value, CollectionError)
    assert "kwok cluster 'rehearsal': create failed (exit 1): etcd: address already in use" in str(raised.value)
    assert raised.value.details["status_before"] == "absent"
    assert raised.value.details["commands"][0][3:5] == ["create", "cluster"]


def test_nodes_not_ready_in_time_names_the_cluster(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout

    class SlowNodes(FakeNodes):
        def wait_ready(self, count, timeout):
            raise WaitTimeout("timed out", last=Verdict(done=False, message="1 of 2 nodes Ready"))

    with pytest.raises(ProviderError, match=r"kwok cluster 'rehearsal': nodes not Ready after 120s \(1 of 2 nodes Ready\)"):
        run(params(tmp_path), nodes=SlowNodes)


def test_runner_passes_only_the_environment_that_differs(monkeypatch):
    monkeypatch.setenv("KEEP", "same")
    calls = []
    runner = reconcile.Runner(lambda argv, environ_update=None: calls.append(environ_update) or (0, "", ""))
    runner(["true"], {"KEEP": "same", "KWOK_WORKDIR": "/w"})
    assert calls == [{"KWOK_WORKDIR": "/w"}]


def test_a_cluster_created_listening_on_all_interfaces_is_named_in_a_warning(tmp_path):
    values = params(tmp_path)
    fake_kwok_cluster(values)
    saved = os.path.join(values["state_dir"], "kwok", "clusters", "rehearsal", "kwok.yaml")
    with open(saved, "w") as handle:
        handle.write("kind: KwokctlConfiguration\napiVersion: config.kwok.x-k8s.io/v1alpha1\n"
                     "options:\n  bindAddress: 0.0.0.0\n---\nkind: KwokConfiguration\n")
    result, _calls = run(values)
    assert len(result["warnings"]) == 1
    assert "listens on 0.0.0.0" in result["warnings"][0] and "state=absent" in result["warnings"][0]
    with open(saved, "w") as handle:
        handle.write("kind: KwokctlConfiguration\noptions:\n  bindAddress: 127.0.0.1\n")
    assert run(values)[0]["warnings"] == []


def test_kwokctl_runs_with_a_minimal_environment_not_the_operators(monkeypatch, tmp_path):
    """#25: kwokctl passes its environment to etcd and kube-apiserver: no token reaches them."""
    monkeypatch.setenv("VAULT_TOKEN", "s.operator-token")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "operator-key")
    calls = []
    runner = reconcile.Runner(lambda argv, environ_update=None: calls.append((argv, environ_update)) or (0, "", ""))
    provider = reconcile.provider_for(params(tmp_path), runner)
    runner(["kwokctl", "get", "clusters"], provider.env())
    argv, update = calls[0]
    assert argv[:2] == ["env", "-i"] and argv[-3:] == ["kwokctl", "get", "clusters"] and update is None
    assert "KWOK_WORKDIR=%s" % provider.workdir in argv and any(item.startswith("PATH=") for item in argv)
    assert not any("operator" in item for item in argv)
