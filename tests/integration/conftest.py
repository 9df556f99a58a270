"""The integration harness: a real kube-apiserver on the simulated (kwok) provider.

The cluster is brought up once per test session through the cluster role itself (a
real ansible-playbook run) and torn down through it at the end; the teardown checks
that every process the cluster started is gone.
"""

import json
import os
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
        return self.output.get("stats", {}).get("sim", {})

    def results(self, task_name):
        """Every host result of the tasks with this name, in run order."""
        found = []
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                # Role tasks are reported as "<role> : <task name>".
                if name == task_name or name.endswith(" : " + task_name):
                    found.append(task["hosts"]["sim"])
        return found

    def failures(self):
        return [(task["task"]["name"], result.get("msg"))
                for play in self.output.get("plays", []) for task in play.get("tasks", [])
                for result in task["hosts"].values() if result.get("failed")]


def run_playbook(playbook, extra_vars=None, check=False):
    """ansible-playbook with the JSON callback; returns a PlaybookRun."""
    command = ["ansible-playbook", "-i", os.path.join(HERE, "inventory.yml"),
               os.path.join(HERE, "playbooks", playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    try:
        output = json.loads(completed.stdout)
    except ValueError:
        output = {}
    return PlaybookRun(completed, output)


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


@pytest.fixture(scope="session")
def kube(sim_cluster):
    """A kubernetes client on the session's cluster."""
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=sim_cluster["kubeconfig"])
