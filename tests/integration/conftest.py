"""The integration harness: a real kube-apiserver on the simulated (kwok) provider.

The cluster is brought up once per test session through the cluster role itself (a
real ansible-playbook run) and torn down through it at the end; the teardown checks
that every process the cluster started is gone.
"""

import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import time

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

    def results(self, task_name, host="sim"):
        """Every result of ``host`` for the tasks with this name, in run order (at least one)."""
        found = []
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                # Role tasks are reported as "<role> : <task name>".
                if name == task_name or name.endswith(" : " + task_name):
                    found.append(task["hosts"][host])
        assert found, "no result for task %r in:\n%s" % (task_name, self.raw[-3000:])
        return found

    def changed_tasks(self):
        return [task["task"]["name"] for play in self.output.get("plays", []) for task in play.get("tasks", [])
                if any(result.get("changed") for result in task["hosts"].values())]

    def failures(self):
        """(task, message) for each failed host result; a loop's failed items each with theirs."""
        found = []
        for play in self.output.get("plays", []):
            for task in play.get("tasks", []):
                for host, result in task["hosts"].items():
                    if not result.get("failed"):
                        continue
                    items = [item for item in result.get("results", []) if item.get("failed")]
                    found += [("%s [%s: %s]" % (task["task"]["name"], host, item.get("_ansible_item_label", item.get("item"))),
                               item.get("msg")) for item in items] or [(task["task"]["name"], result.get("msg"))]
        return found


def recap(output, host="sim"):
    """The PLAY RECAP counts of ``host`` in what the default callback printed."""
    line = [text for text in output.splitlines() if text.startswith(host + " ")][-1]
    return {key: int(value) for key, value in (part.split("=") for part in line.split()[2:])}


def _playbook_command(playbook, extra_vars, check, inventory=None, environ=None):
    """A test playbook by name (tests/integration/playbooks), or a path (the collection's own)."""
    command = ["ansible-playbook", "-i", inventory or os.path.join(HERE, "inventory.yml"),
               playbook if os.path.isabs(playbook) else os.path.join(HERE, "playbooks", playbook)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    env = dict(os.environ if environ is None else environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_SHOW_CUSTOM_STATS="true", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
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


def run_playbook(playbook, extra_vars=None, check=False, inventory=None, environ=None):
    """ansible-playbook with the JSON callback (in ``environ`` instead of this process's
    environment when given); returns a PlaybookRun."""
    command, env = _playbook_command(playbook, extra_vars, check, inventory, environ)
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


def _port_range():
    """This process's slice of the ports the tests hand out.

    Ports the kernel never picks by itself (below ``ip_local_port_range``) and above the
    roles' fixed defaults (below 20000, which molecule uses beside the tests): a port
    picked here and bound a minute later cannot be taken in between by kwokctl's own
    picks (port 0) or by an outgoing connection's local port. Each pytest-xdist worker
    has its own slice, so two workers never pick the same port. Where the ephemeral range
    leaves no room below it, the ports above it; where neither has room, None.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            first, last = (int(field) for field in handle.read().split())
    except (OSError, ValueError):
        first, last = 32768, 60999
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) % workers if worker[2:].isdigit() else 0
    # Below the ephemeral range, else above it (where it starts low); None: no room outside it.
    for low, high in ((20000, first), (max(last + 1, 20000), 65536)):
        if high - low >= 512 * workers:
            size = (high - low) // workers
            return low + index * size, low + (index + 1) * size
    return None


class _Ports:
    """Hands out free loopback ports from this process's slice, never the same one twice
    (until the slice wraps around); the kernel's picks where there is no slice."""

    def __init__(self):
        self.slice = _port_range()
        self.given = set()
        if self.slice:
            self.next = self.slice[0] + random.randrange(self.slice[1] - self.slice[0])

    def block(self, size):
        if not self.slice:
            return self._kernel_block(size)
        low, high = self.slice
        if size > high - low:
            raise RuntimeError("a block of %d ports does not fit in this worker's ports %d-%d" % (size, low, high - 1))
        for _attempt in range(high - low):
            base = self.next if self.next + size <= high else low
            self.next = base + size
            if all(_bindable(port) for port in range(base, base + size)):
                return base
        raise RuntimeError("no block of %d free ports in %d-%d" % (size, low, high - 1))

    def _kernel_block(self, size):
        for _attempt in range(200):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                base = probe.getsockname()[1]
            ports = range(base, base + size)
            if base + size <= 65536 and self.given.isdisjoint(ports) and all(_bindable(port) for port in ports):
                self.given.update(ports)
                return base
        raise RuntimeError("no block of %d free ports" % size)


def _bindable(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_PORTS = _Ports()


def free_port():
    """A free loopback port (see _port_range for where it comes from)."""
    return _PORTS.block(1)


def free_block(size):
    """``size`` consecutive free loopback ports; the first is returned."""
    return _PORTS.block(size)


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


# A real node holds much of the machine (two cores, a kubelet, containerd and their pods), and
# test_real_node checks that its teardown leaves the machine as it found it (kernel
# tunables, iptables, mounts), which another node running beside it would change: the
# modules that run one take turns.
REAL_NODE_LOCK = "/run/gitops-progressive/test-real-node.lock"


@contextlib.contextmanager
def real_node_turn(timeout=3600):
    """Hold the machine's real-node turn (a file lock), waiting at most ``timeout`` seconds."""
    os.makedirs(os.path.dirname(REAL_NODE_LOCK), exist_ok=True)
    with open(REAL_NODE_LOCK, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "another test module held the real node for %ds" % timeout
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def http_get(port, path="/", host=None):
    """(status, body) of a GET to 127.0.0.1:port (with a Host header); status 0 when the connection fails."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


def demo_app_deployment(namespace, name, error_rate="0", version="1.0.0"):
    """A Deployment of the demo app on the real node (its label and taint), with its probes."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeSelector": {"gitops.progressive/real-node": "true"},
                "tolerations": [{"key": "gitops.progressive/real-node", "operator": "Exists", "effect": "NoSchedule"}],
                "automountServiceAccountToken": True,
                "containers": [{
                    "name": "app", "image": "ghcr.io/gitops-progressive/demo-app:v1.0.0",
                    "env": [{"name": "ERROR_RATE", "value": error_rate}, {"name": "APP_VERSION", "value": version}],
                    "ports": [{"name": "http", "containerPort": 9898}],
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898}, "periodSeconds": 1},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9898}, "periodSeconds": 5},
                }],
            }}},
    }


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


def lease(kube, namespace, app="podinfo"):
    """The release Lease of an app, or None."""
    import kubernetes

    try:
        return kubernetes.client.CoordinationV1Api(kube).read_namespaced_lease(
            "gitops-progressive-release-%s" % app, namespace)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise


def children(pid):
    """PIDs of the processes whose parent is ``pid`` (ansible-playbook's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def interrupt(follower, timeout=90):
    """Ctrl-C to ansible-playbook (SIGINT to it alone, as a terminal sends it to its group,
    where the worker is not: it has a session of its own); wait until it and its workers are gone."""
    workers = children(follower.process.pid)
    assert workers, "ansible-playbook has a worker running the task"
    follower.process.send_signal(signal.SIGINT)
    follower.process.communicate(timeout=timeout)
    deadline = time.monotonic() + 30
    while any(os.path.exists("/proc/%d" % pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    return [pid for pid in workers if os.path.exists("/proc/%d" % pid)]
