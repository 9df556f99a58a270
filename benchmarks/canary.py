"""Figures for waiting on canaries, each against baselines measured in the same run.

A dedicated simulated cluster runs with Flagger's CRDs but without Flagger: the
benchmark writes the canary status itself, as Flagger would (same API, status
subresource), so it knows to the millisecond when a verdict was written.

1. Verdict latency: from the status write (Succeeded or Failed) to the task's result
   line, for gitops.progressive.canary_rollout (following the release in flight),
   kubernetes.core.k8s_info with wait (Promoted condition, its default 5 s poll and a
   1 s poll), and to the exit of `kubectl wait --for=jsonpath`.
2. API requests per minute on canaries while waiting (kube-apiserver's own
   apiserver_request_total, resource=canaries, and the long-running watches open), for
   one canary and for 20 at once.
3. Wall time of one canary_info task against one kubernetes.core.k8s_info task on the
   same object (durations from the JSON callback, medians).

    python benchmarks/run.py canary [--trials 10] [--window 30]
"""

import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.gitops.progressive.plugins.module_utils.sim import gobuild  # noqa: E402

NAMESPACE = "bench"
KUBE_VERSION = "v1.33.13"
FLAGGER_VERSION = "v1.41.0"


class Bench:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.vars = dict(cluster_provider="kwok", cluster_name="bench-canary", cluster_state_dir=state_dir,
                         cluster_nodes=1)
        self.kubeconfig = os.path.join(state_dir, "bench-canary.kubeconfig")
        self.inventory = os.path.join(ROOT, "tests", "integration", "inventory.yml")

    def playbook(self, path, extra=None, env=None, check=True):
        command = ["ansible-playbook", "-i", self.inventory, path, "-e", json.dumps(dict(self.vars, **(extra or {})))]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=check,
                              env=dict(os.environ, **(env or {})))

    def up(self):
        self.playbook(os.path.join(ROOT, "tests", "integration", "playbooks", "cluster.yml"))
        import kubernetes

        self.api = kubernetes.config.new_client_from_config(config_file=self.kubeconfig)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        source = gobuild.download_module("github.com/fluxcd/flagger", FLAGGER_VERSION)["Dir"]
        kubernetes.utils.create_from_yaml(self.api, os.path.join(source, "artifacts", "flagger", "crd.yaml"))
        kubernetes.client.CoreV1Api(self.api).create_namespace({"metadata": {"name": NAMESPACE}})
        time.sleep(2)

    def down(self):
        self.playbook(os.path.join(ROOT, "tests", "integration", "playbooks", "cluster.yml"),
                      {"cluster_state": "absent"}, check=False)

    def create_canary(self, name, labels=None):
        body = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "service": {"port": 9898}, "analysis": {"interval": "1m", "threshold": 5,
                                                                 "maxWeight": 50, "stepWeight": 10}}}
        self.custom.create_namespaced_custom_object("flagger.app", "v1beta1", NAMESPACE, "canaries", body)

    def set_status(self, name, phase, applied, promoted, reason=None):
        """Write the status as Flagger does; returns the time the API server acknowledged it."""
        condition_status = {"Succeeded": "True", "Failed": "False"}.get(phase, "Unknown")
        status = {"phase": phase, "canaryWeight": 20 if phase == "Progressing" else 0, "failedChecks": 0,
                  "iterations": 0, "lastAppliedSpec": applied, "lastPromotedSpec": promoted,
                  "conditions": [{"type": "Promoted", "status": condition_status, "reason": reason or phase,
                                  "message": "benchmark", "lastUpdateTime": "2026-01-01T00:00:00Z",
                                  "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        self.custom.patch_namespaced_custom_object_status("flagger.app", "v1beta1", NAMESPACE, "canaries", name,
                                                          {"status": status})
        return time.monotonic()

    def request_counts(self):
        """apiserver_request_total for canaries (completed) and watches open on them now."""
        configuration = self.api.configuration
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
        with urllib.request.urlopen(configuration.host + "/metrics", context=context, timeout=10) as response:
            text = response.read().decode()
        completed = watches = 0.0
        for line in text.splitlines():
            if 'resource="canaries"' not in line or line.startswith("#"):
                continue
            if line.startswith("apiserver_request_total{"):
                completed += float(line.rsplit(" ", 1)[1])
            elif line.startswith("apiserver_longrunning_requests{") and 'verb="WATCH"' in line:
                watches += float(line.rsplit(" ", 1)[1])
        return completed, watches


def waiter_playbook(directory, kind, names, wait_sleep=5):
    """A playbook that waits for each canary's verdict the way ``kind`` does."""
    tasks = []
    for name in names:
        if kind == "ours":
            tasks.append({"name": "wait %s" % name, "gitops.progressive.canary_rollout": {
                "kubeconfig": "{{ cluster_kubeconfig }}", "name": name, "namespace": NAMESPACE,
                "wait_timeout": 600, "fail_on_rollback": False}})
        else:
            tasks.append({"name": "wait %s" % name, "kubernetes.core.k8s_info": {
                "kubeconfig": "{{ cluster_kubeconfig }}", "api_version": "flagger.app/v1beta1", "kind": "Canary",
                "name": name, "namespace": NAMESPACE, "wait": True, "wait_timeout": 600, "wait_sleep": wait_sleep,
                "wait_condition": {"type": "Promoted", "status": "True", "reason": "Succeeded"}}})
    path = os.path.join(directory, "wait-%s-%d-%d.yml" % (kind, len(names), wait_sleep))
    with open(path, "w") as handle:
        json.dump([{"name": "wait", "hosts": "all", "gather_facts": False, "tasks": tasks}], handle)
    return path


def start(command, env=None):
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **(env or {})))


def read_until(process, markers, deadline=120):
    """Read output lines until one holds a marker; returns that line's arrival time."""
    limit = time.monotonic() + deadline
    while time.monotonic() < limit:
        line = process.stdout.readline()
        if not line:
            break
        if any(marker in line for marker in markers):
            return time.monotonic()
    raise RuntimeError("no %s in the output of %s" % (markers, process.args[:3]))


def latency_ansible(bench, directory, kind, trial, phase, wait_sleep=5):
    name = "lat-%s-%d-%s" % (kind.replace("_", ""), wait_sleep, trial)
    bench.create_canary(name)
    bench.set_status(name, "Progressing", "rev-new", "rev-old")
    playbook = waiter_playbook(directory, kind, [name], wait_sleep)
    process = start(["ansible-playbook", "-i", bench.inventory, playbook, "-e",
                     json.dumps(dict(bench.vars, cluster_kubeconfig=bench.kubeconfig))])
    if kind == "ours":
        read_until(process, ["%s/%s: Progressing" % (NAMESPACE, name)])
    else:
        read_until(process, ["TASK [wait"])
        time.sleep(2.0)  # past its first poll, so the verdict is never caught by luck on the first GET
    written = bench.set_status(name, phase, "rev-new", "rev-new" if phase == "Succeeded" else "rev-old")
    returned = read_until(process, ["ok: [", "changed: [", "fatal: ["], deadline=60)
    process.communicate()
    return returned - written


def latency_kubectl(bench, kubectl, trial):
    name = "lat-kubectl-%d" % trial
    bench.create_canary(name)
    bench.set_status(name, "Progressing", "rev-new", "rev-old")
    process = subprocess.Popen([kubectl, "--kubeconfig", bench.kubeconfig, "-n", NAMESPACE, "wait",
                                "canary/%s" % name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # kubectl has listed and is watching
    written = bench.set_status(name, "Succeeded", "rev-new", "rev-new")
    process.wait()
    return time.monotonic() - written


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def requests_while_waiting(bench, directory, kind, count, window):
    label = kind.replace("_", "")
    names = ["load-%s-%d-%d" % (label, count, index) for index in range(count)]
    for name in names:
        bench.create_canary(name)
        bench.set_status(name, "Progressing", "rev-new", "rev-old")
    hosts = {"all": {"hosts": {"w%d" % index: {"ansible_connection": "local",
                                               "ansible_python_interpreter": sys.executable}
                               for index in range(count)}}}
    inventory = os.path.join(directory, "hosts-%d.json" % count)
    with open(inventory, "w") as handle:
        json.dump(hosts, handle)
    # Each host waits on its own canary: the task name picks it by the host's index.
    playbook = os.path.join(directory, "load-%s-%d.yml" % (kind, count))
    module = {"ours": {"gitops.progressive.canary_rollout": {
        "kubeconfig": bench.kubeconfig, "namespace": NAMESPACE, "wait_timeout": 600, "fail_on_rollback": False,
        "progress": False, "name": "load-%s-%d-{{ inventory_hostname[1:] }}" % (label, count)}},
        "k8s_info": {"kubernetes.core.k8s_info": {
            "kubeconfig": bench.kubeconfig, "api_version": "flagger.app/v1beta1", "kind": "Canary",
            "namespace": NAMESPACE, "wait": True, "wait_timeout": 600,
            "wait_condition": {"type": "Promoted", "status": "True", "reason": "Succeeded"},
            "name": "load-%s-%d-{{ inventory_hostname[1:] }}" % (label, count)}}}[kind]
    with open(playbook, "w") as handle:
        json.dump([{"name": "load", "hosts": "all", "gather_facts": False, "tasks": [dict(name="wait", **module)]}],
                  handle)
    idle_watches = bench.request_counts()[1]  # the controller manager's own watch on canaries
    process = start(["ansible-playbook", "-i", inventory, "-f", str(count), playbook])
    time.sleep(8)  # every waiter started and settled into its wait
    before = bench.request_counts()[0]
    started = time.monotonic()
    time.sleep(window)
    after, watches = bench.request_counts()
    elapsed = time.monotonic() - started
    for name in names:
        bench.set_status(name, "Succeeded", "rev-new", "rev-new")
    process.communicate(timeout=120)
    return (after - before) * 60.0 / elapsed, watches - idle_watches


def tree_rss(pid):
    """Resident memory (bytes) of a process and all its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending += children.get(current, [])
        try:
            with open("/proc/%d/status" % current) as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def following_many(bench, directory, count, window):
    """One canary_rollout task following ``count`` canaries by label, against ``count`` k8s_info waits."""
    figures = {}
    for kind in ("ours", "k8s_info"):
        label = "many-%s" % kind.replace("_", "")
        names = ["%s-%d" % (label, index) for index in range(count)]
        for name in names:
            bench.create_canary(name, labels={"bench-group": label})
            bench.set_status(name, "Progressing", "rev-new", "rev-old")
        if kind == "ours":
            inventory = bench.inventory
            task = {"gitops.progressive.canary_rollout": {
                "kubeconfig": bench.kubeconfig, "namespace": NAMESPACE, "label_selector": "bench-group=%s" % label,
                "wait_timeout": 600, "fail_on_rollback": False, "progress": False}}
            forks = 1
        else:
            inventory = os.path.join(directory, "hosts-many-%d.json" % count)
            with open(inventory, "w") as handle:
                json.dump({"all": {"hosts": {"w%d" % index: {"ansible_connection": "local",
                                                             "ansible_python_interpreter": sys.executable}
                                             for index in range(count)}}}, handle)
            task = {"kubernetes.core.k8s_info": {
                "kubeconfig": bench.kubeconfig, "api_version": "flagger.app/v1beta1", "kind": "Canary",
                "namespace": NAMESPACE, "wait": True, "wait_timeout": 600,
                "wait_condition": {"type": "Promoted", "status": "True", "reason": "Succeeded"},
                "name": "%s-{{ inventory_hostname[1:] }}" % label}}
            forks = count
        playbook = os.path.join(directory, "many-%s-%d.yml" % (kind, count))
        with open(playbook, "w") as handle:
            json.dump([{"name": "many", "hosts": "all", "gather_facts": False,
                        "tasks": [dict(name="wait", **task)]}], handle)
        idle_watches = bench.request_counts()[1]
        process = start(["ansible-playbook", "-i", inventory, "-f", str(forks), playbook])
        time.sleep(15)  # every waiter started and settled into its wait
        before = bench.request_counts()[0]
        started = time.monotonic()
        peak = 0
        while time.monotonic() - started < window:
            peak = max(peak, tree_rss(process.pid))
            time.sleep(2)
        after, watches = bench.request_counts()
        elapsed = time.monotonic() - started
        for name in names:
            bench.set_status(name, "Succeeded", "rev-new", "rev-new")
        process.communicate(timeout=300)
        figures[kind] = dict(per_minute=(after - before) * 60.0 / elapsed, watches=watches - idle_watches,
                             rss=peak, returncode=process.returncode)
    return figures


def info_wall_times(bench, directory, repeat):
    name = "info-target"
    bench.create_canary(name)
    bench.set_status(name, "Progressing", "rev-new", "rev-old")
    tasks = []
    for index in range(repeat):
        tasks.append({"name": "canary_info %d" % index, "gitops.progressive.canary_info": {
            "kubeconfig": bench.kubeconfig, "name": name, "namespace": NAMESPACE}})
        tasks.append({"name": "k8s_info %d" % index, "kubernetes.core.k8s_info": {
            "kubeconfig": bench.kubeconfig, "api_version": "flagger.app/v1beta1", "kind": "Canary",
            "name": name, "namespace": NAMESPACE}})
    playbook = os.path.join(directory, "info.yml")
    with open(playbook, "w") as handle:
        json.dump([{"name": "info", "hosts": "all", "gather_facts": False, "tasks": tasks}], handle)
    output = subprocess.run(["ansible-playbook", "-i", bench.inventory, playbook], cwd=ROOT, capture_output=True,
                            text=True, check=True, env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
    durations = {"canary_info": [], "k8s_info": []}
    for task in json.loads(output.stdout)["plays"][0]["tasks"]:
        kind = task["task"]["name"].split()[0]
        times = task["task"]["duration"]
        durations[kind].append(_seconds(times["end"]) - _seconds(times["start"]))
    return durations


def _seconds(stamp):
    import datetime

    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def kubectl_binary():
    cache = gobuild.BinaryCache(os.environ.get("GITOPS_PROGRESSIVE_CACHE") or "~/.cache/gitops-progressive")
    recipe = gobuild.recipes_for(["kubectl"], {"kubernetes_version": KUBE_VERSION})[0]
    cache.build(recipe)
    return cache.paths(recipe)["kubectl"]


def main(argv):
    trials = int(argv[argv.index("--trials") + 1]) if "--trials" in argv else 10
    window = int(argv[argv.index("--window") + 1]) if "--window" in argv else 30
    kubectl = kubectl_binary()
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as directory:
        bench = Bench(directory)
        try:
            bench.up()
            latencies = {"canary_rollout (watch)": [], "canary_rollout on Failed": [],
                         "k8s_info wait (wait_sleep 5)": [], "k8s_info wait (wait_sleep 1)": [],
                         "kubectl wait": []}
            for trial in range(trials):
                latencies["canary_rollout (watch)"].append(latency_ansible(bench, directory, "ours", trial, "Succeeded"))
                latencies["canary_rollout on Failed"].append(
                    latency_ansible(bench, directory, "ours", "f%d" % trial, "Failed"))
                latencies["k8s_info wait (wait_sleep 5)"].append(
                    latency_ansible(bench, directory, "k8s_info", trial, "Succeeded", 5))
                latencies["k8s_info wait (wait_sleep 1)"].append(
                    latency_ansible(bench, directory, "k8s_info", trial, "Succeeded", 1))
                latencies["kubectl wait"].append(latency_kubectl(bench, kubectl, trial))
            print("canary benchmark (%d trials; status written as Flagger does, Flagger itself not running)" % trials)
            print("verdict latency, from the status write to the task's result (kubectl: to its exit):")
            ours = percentile(latencies["canary_rollout (watch)"], 0.95)
            for label, values in latencies.items():
                p95 = percentile(values, 0.95)
                print("  %-30s p50 %6.3f s  p95 %6.3f s  (p95 ratio to canary_rollout %.1f)" % (
                    label, statistics.median(values), p95, p95 / ours))
            print("API requests on canaries while waiting (%ds window, scaled to a minute):" % window)
            for count in (1, 20):
                for kind in ("ours", "k8s_info"):
                    per_minute, watches = requests_while_waiting(bench, directory, kind, count, window)
                    label = "canary_rollout" if kind == "ours" else "k8s_info wait (wait_sleep 5)"
                    print("  %2d canar%s, %-30s %7.1f completed requests/min, %2d watches open by the waiters" % (
                        count, "y " if count == 1 else "ies", label, per_minute, watches))
            count = int(argv[argv.index("--many") + 1]) if "--many" in argv else 100
            many = following_many(bench, directory, count, window)
            print("following %d canaries (%ds window):" % (count, window))
            for kind, label in (("ours", "one canary_rollout task, label_selector"),
                                ("k8s_info", "%d kubernetes.core.k8s_info waits" % count)):
                figure = many[kind]
                print("  %-40s %3d watches open, %7.1f completed requests/min, %7.1f MiB resident (exit %d)" % (
                    label, figure["watches"], figure["per_minute"], figure["rss"] / 1048576.0, figure["returncode"]))
            print("  ratios ours/k8s_info: requests %.3f, memory %.3f" % (
                many["ours"]["per_minute"] / max(many["k8s_info"]["per_minute"], 0.001),
                many["ours"]["rss"] / max(many["k8s_info"]["rss"], 1)))
            durations = info_wall_times(bench, directory, 15)
            ours, theirs = statistics.median(durations["canary_info"]), statistics.median(durations["k8s_info"])
            print("one task on the same canary, median of %d: canary_info %.3f s, k8s_info %.3f s (ratio %.2f)" % (
                len(durations["canary_info"]), ours, theirs, ours / theirs))
        finally:
            bench.down()
