"""The integration harness: a real kube-apiserver on the simulated (kwok) provider.

The cluster is brought up once per test session through the cluster role itself (a
real ansible-playbook run) and torn down through it at the end; the teardown checks
that every process the cluster started is gone.
"""

import json
import os
import socket
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class PlaybookRun:
    def __init__(self, completed, output):
        self.returncode = completed.returncode
        self.output = output
        self.raw = completed.stdout + completed.stderr

    @property
    def stats(self):
        return self.host_stats("sim")

    def host_stats(self, host):
        return self.output.get("stats", {}).get(host, {})

    @property
    def custom_stats(self):
        return self.output.get("global_custom_stats", {})

    def results(self, task_name):
        """Every host result of the tasks with this name, in run order (at least one)."""
        found = []
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                # Role tasks are reported as "<role> : <task name>".
                if name == task_name or name.endswith(" : " + task_name):
                    found.append(task["hosts"]["sim"])
        assert found, "no result for task %r in:\n%s" % (task_name, self.raw[-3000:])
        return found

    def changed_tasks(self):
        return [task["task"]["name"] for play in self.output.get("plays", []) for task in play.get("tasks", [])
                if any(result.get("changed") for result in task["hosts"].values())]

    def failures(self):
        return [(task["task"]["name"], result.get("msg"))
                for play in self.output.get("plays", []) for task in play.get("tasks", [])
                for result in task["hosts"].values() if result.get("failed")]


def _playbook_command(playbook, extra_vars, check, inventory=None):
    """A test playbook by name (tests/integration/playbooks), or a path (the collection's own)."""
    command = ["ansible-playbook", "-i", inventory or os.path.join(HERE, "inventory.yml"),
               playbook if os.path.isabs(playbook) else os.path.join(HERE, "playbooks", playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="true",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return command, env


def _parse(completed):
    """The JSON callback's document, and the lines printed before it (live progress)."""
    lines = completed.stdout.splitlines()
    start = lines.index("{") if "{" in lines else len(lines)
    try:
        output = json.loads("\n".join(lines[start:]))
    except ValueError:
        output = {}
    run = PlaybookRun(completed, output)
    run.progress = lines[:start]
    return run


def run_playbook(playbook, extra_vars=None, check=False, inventory=None):
    """ansible-playbook with the JSON callback; returns a PlaybookRun."""
    command, env = _playbook_command(playbook, extra_vars, check, inventory)
    return _parse(subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False))


class BackgroundPlaybook:
    """A playbook run started now and collected later (a release followed while the test acts)."""

    def __init__(self, playbook, extra_vars=None, inventory=None):
        command, env = _playbook_command(playbook, extra_vars, False, inventory)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, cwd=ROOT)

    def result(self, timeout=600):
        stdout, stderr = self.process.communicate(timeout=timeout)
        return _parse(subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr))

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def assert_ok(run):
    assert run.returncode == 0, "playbook failed: %s\n%s" % (run.failures(), run.raw[-4000:])
    return run


def cluster_vars(state_dir, name, **overrides):
    values = dict(cluster_provider="kwok", cluster_name=name, cluster_state_dir=str(state_dir),
                  cluster_nodes=2)
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def sim_cluster(tmp_path_factory):
    """The session's simulated cluster: its variables and the role's first result."""
    state_dir = tmp_path_factory.mktemp("sim-state")
    variables = cluster_vars(state_dir, "it-session")
    try:
        first = assert_ok(run_playbook("cluster.yml", variables))
        result = first.results("Bring the simulated cluster to the wanted state")[0]
        yield dict(vars=variables, result=result, first_run=first,
                   kubeconfig=result["kubeconfig"], pids=result["pids"])
    finally:
        # Torn down through the role even when bringing it up failed half way.
        down = run_playbook("cluster.yml", dict(variables, cluster_state="absent"))
    assert_ok(down)


@pytest.fixture
def cluster_now(sim_cluster):
    """The session cluster as the role reports it now: another test may have restarted a
    component (test_release_engine restarts kube-apiserver), which gives it a new PID."""
    run = assert_ok(run_playbook("cluster.yml", sim_cluster["vars"]))
    result = run.results("Bring the simulated cluster to the wanted state")[0]
    return dict(sim_cluster, result=result, pids=result["pids"])


@pytest.fixture(scope="session")
def kube(sim_cluster):
    """A kubernetes client on the session's cluster."""
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=sim_cluster["kubeconfig"])


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_block(size):
    """``size`` consecutive free loopback ports."""
    for _attempt in range(50):
        base = free_port()
        if base + size > 65535:
            continue
        ports = []
        for port in range(base, base + size):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    break
            ports.append(port)
        if len(ports) == size:
            return base
    raise RuntimeError("no block of %d free ports" % size)


@pytest.fixture(scope="session")
def platform(sim_cluster):
    """Flagger, its load tester, Prometheus and the traffic simulator beside the session's cluster."""
    variables = dict(sim_cluster["vars"], cluster_kubeconfig=sim_cluster["kubeconfig"],
                     flagger_install_mode="local", flagger_control_loop_interval="2s", flagger_port=free_port(),
                     flagger_loadtester_port=free_port(), flagger_prometheus_port=free_port(),
                     flagger_traffic_port=free_port())
    try:
        up = assert_ok(run_playbook("flagger.yml", variables))
        yield dict(vars=variables, kubeconfig=sim_cluster["kubeconfig"], run=up,
                   loadtester_url="http://127.0.0.1:%d" % variables["flagger_loadtester_port"])
    finally:
        down = run_playbook("flagger.yml", dict(variables, flagger_state="absent"))
    assert_ok(down)


def wait_canary(kubeconfig, namespace, name, done, timeout=180):
    """Wait with the collection's engine until ``done(canary)``; returns the canary."""
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import CANARY, Kube
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, wait_for

    key = "%s/%s" % (namespace, name)
    lister, watcher = Kube.from_kubeconfig(kubeconfig).source(CANARY, namespace, name)
    verdict = wait_for(lister, watcher, lambda objects: Verdict(
        done=key in objects and done(objects[key]), data={"canary": objects.get(key)}), timeout)
    return verdict.data["canary"]


def phase_is(*phases):
    return lambda canary: (canary.get("status") or {}).get("phase") in phases
