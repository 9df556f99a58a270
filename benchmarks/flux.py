"""Figures for GitOps on the simulated platform (real Flux controllers, real git server).

A dedicated cluster with Flux, Flagger (through Flux) and the apps role's default app
(the cluster, flux, flagger and apps roles, free ports). Each push changes an annotation of the app's Deployment
(not its pod template, so Flagger starts no analysis) in the repository.

1. Push -> applied (the Kustomization ``apps`` reports the pushed commit as applied):
   - with the Receiver the flux role wires to the git server (webhook on push);
   - with ``gitops.progressive.flux_reconcile`` (with_source, revision) run right after
     the push, the webhook off;
   - by the GitRepository's interval alone (set to ``--interval``), the webhook off;
   - baseline: what people hand-roll with kubernetes.core: annotate the GitRepository
     and the Kustomization with requestedAt (two k8s tasks), then k8s_info wait for
     Ready (its 1 s poll); the webhook off.
   Time is from the end of ``git push`` to the moment a watch sees the commit applied
   (and, for the task-based ways, to the end of the ansible-playbook run).
2. One healthy release through git_release, split into git (edit, commit, push), Flux
   (reconcile until applied) and Flagger's analysis (to the verdict), against the floor
   Flagger's settings allow (interval x steps).

    python benchmarks/run.py flux [--trials 3] [--interval 30s]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import free_block, free_port  # noqa: E402

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import analysis_need  # noqa: E402
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo  # noqa: E402

PLAYBOOKS = os.path.join(ROOT, "tests", "integration", "playbooks")
INVENTORY = os.path.join(ROOT, "tests", "integration", "inventory.yml")


def _json(stdout):
    try:
        return json.loads(stdout[stdout.index("{"):])
    except ValueError:
        return {}


class Bench:
    def __init__(self, state_dir, interval):
        self.state_dir = state_dir
        self.vars = dict(
            cluster_provider="kwok", cluster_name="bench-flux", cluster_state_dir=state_dir, cluster_nodes=1,
            cluster_kubeconfig=os.path.join(state_dir, "bench-flux.kubeconfig"),
            flagger_control_loop_interval="2s", flagger_port=free_port(), flagger_loadtester_port=free_port(),
            flagger_prometheus_port=free_port(), flagger_traffic_port=free_port(),
            flux_state_dir=os.path.join(state_dir, "flux"), flux_git_port=free_port(),
            flux_events_port=free_port(), flux_receiver_port=free_port(), flux_storage_port=free_port(),
            flux_chart_port=free_port(), flux_controller_port_base=free_block(8), flux_git_interval=interval)
        self.kubeconfig = self.vars["cluster_kubeconfig"]
        self.repo_url = "http://127.0.0.1:%d/platform.git" % self.vars["flux_git_port"]

    def playbook(self, name, extra=None, check=True):
        command = ["ansible-playbook", "-i", INVENTORY, name if os.path.isabs(name) else os.path.join(PLAYBOOKS, name),
                   "-e", json.dumps(dict(self.vars, **(extra or {})))]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                             env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
        if check and run.returncode != 0:
            failed = [(task["task"]["name"], [item.get("msg") for item in result.get("results") or []
                                              if item.get("failed")] or result.get("msg"))
                      for play in _json(run.stdout).get("plays", []) for task in play["tasks"]
                      for result in task["hosts"].values() if result.get("failed")]
            raise SystemExit("%s failed: %s\n%s" % (os.path.basename(name), failed, run.stderr[-2000:]))
        return run

    def up(self):
        # As the integration tests stand it up: Flagger's local processes beside the cluster, with
        # the routing CRDs its canaries use (flagger.yml), then Flux, Flagger's charts and the apps.
        for name, extra in (("cluster.yml", {}), ("flagger.yml", {"flagger_install_mode": "local"}),
                            ("flux.yml", {"flagger_install_mode": "flux"})):
            print("  bringing up: %s" % name, flush=True)
            self.playbook(name, extra)
        import kubernetes

        self.api = kubernetes.config.new_client_from_config(config_file=self.kubeconfig)
        with open(os.path.join(self.vars["flux_state_dir"], "git-credentials")) as handle:
            self.user, _colon, self.password = handle.read().strip().partition(":")
        self.repo = PlatformRepo(self.repo_url, os.path.join(self.state_dir, "work"), username=self.user,
                                 password=self.password)

    def down(self):
        for name, extra in (("flux_absent.yml", {}), ("flagger.yml", {"flagger_state": "absent", "flagger_install_mode": "local"}),
                            ("cluster.yml", {"cluster_state": "absent"})):
            self.playbook(name, extra, check=False)

    def hooks(self, enabled):
        path = os.path.join(self.vars["flux_state_dir"], "push-hooks")
        if enabled:
            self.playbook("flux.yml")  # writes the Receiver's URL again
        else:
            with open(path, "w") as handle:
                handle.write("")

    def push_marker(self):
        """Commit an annotation change of the app's Deployment; returns (commit, time the push ended)."""
        import yaml

        self.repo.sync()
        path = self.repo.path("apps/staging/podinfo-env.yaml")
        with open(path) as handle:
            doc = yaml.safe_load(handle)
        doc["metadata"].setdefault("annotations", {})["bench/marker"] = str(time.time())
        with open(path, "w") as handle:
            yaml.safe_dump(doc, handle)
        commit = self.repo.commit("bench marker")
        self.repo.push()
        return commit, time.monotonic()

    def applied_at(self, commit, timeout=900):
        """A watcher: returns a function giving the time ``apps`` reported ``commit`` applied."""
        import kubernetes

        seen = {}

        def watch():
            api = kubernetes.client.CustomObjectsApi(self.api)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and "at" not in seen:
                stream = kubernetes.watch.Watch().stream(
                    api.list_namespaced_custom_object, "kustomize.toolkit.fluxcd.io", "v1", "flux-system",
                    "kustomizations", field_selector="metadata.name=apps", timeout_seconds=60)
                for event in stream:
                    revision = (event["object"].get("status") or {}).get("lastAppliedRevision") or ""
                    if revision.endswith(commit):
                        seen["at"] = time.monotonic()
                        return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return lambda: (thread.join(timeout), seen.get("at"))[1]

    def task_playbook(self, tasks):
        handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, dir=self.state_dir)
        json.dump([{"hosts": "all", "gather_facts": False, "tasks": tasks}], handle)
        handle.close()
        return handle.name


def flux_reconcile_tasks(commit):
    return [{"name": "reconcile", "gitops.progressive.flux_reconcile": {
        "kubeconfig": "{{ cluster_kubeconfig }}", "kind": "Kustomization", "name": "apps", "with_source": True,
        "revision": commit, "wait_timeout": 300}}]


def handrolled_tasks():
    tasks = []
    for kind, api in (("GitRepository", "source.toolkit.fluxcd.io/v1"), ("Kustomization", "kustomize.toolkit.fluxcd.io/v1")):
        name = "flux-system" if kind == "GitRepository" else "apps"
        tasks.append({"name": "annotate %s" % kind, "kubernetes.core.k8s": {
            "kubeconfig": "{{ cluster_kubeconfig }}", "state": "patched", "api_version": api, "kind": kind,
            "name": name, "namespace": "flux-system",
            "definition": {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "{{ now().isoformat() }}"}}}}})
    tasks.append({"name": "wait", "kubernetes.core.k8s_info": {
        "kubeconfig": "{{ cluster_kubeconfig }}", "api_version": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization", "name": "apps", "namespace": "flux-system", "wait": True, "wait_sleep": 1,
        "wait_timeout": 300, "wait_condition": {"type": "Ready", "status": "True"}}})
    return tasks


def push_to_applied(bench, trials):
    figures = {}
    ways = [("receiver (webhook on push)", None), ("flux_reconcile after the push", flux_reconcile_tasks),
            ("GitRepository interval %s only" % bench.vars["flux_git_interval"], None),
            ("kubernetes.core annotate + k8s_info wait (1 s poll)", lambda commit: handrolled_tasks())]
    for label, tasks in ways:
        bench.hooks(label.startswith("receiver"))
        applied, ended = [], []
        for trial in range(trials):
            commit, pushed = bench.push_marker()
            waiter = bench.applied_at(commit)
            if tasks is not None:
                bench.playbook(bench.task_playbook(tasks(commit)))
                ended.append(time.monotonic() - pushed)
            at = waiter()
            applied.append((at - pushed) if at else float("nan"))
            print("  %s, trial %d: applied %.2f s after the push" % (label, trial + 1, applied[-1]), flush=True)
        figures[label] = (applied, ended)
    bench.hooks(True)
    return figures


def release(bench):
    tag = "6.9.%d" % (int(time.time()) % 10000)
    variables = dict(app_name="podinfo", app_namespace="demo", repo_url=bench.repo_url,
                     release_images={"ghcr.io/stefanprodan/podinfo": tag}, release_timeout=900)
    run = bench.playbook("git_release.yml", variables)
    output = json.loads(run.stdout[run.stdout.index("{"):])
    result = [task["hosts"]["sim"] for play in output["plays"] for task in play["tasks"]
              if task["task"]["name"] == "Ship the release through git"][0]
    import kubernetes

    canary = kubernetes.client.CustomObjectsApi(bench.api).get_namespaced_custom_object(
        "flagger.app", "v1beta1", "demo", "canaries", "podinfo")
    return result, analysis_need(canary)[0]


def main(options):
    trials = int(options[options.index("--trials") + 1]) if "--trials" in options else 3
    interval = options[options.index("--interval") + 1] if "--interval" in options else "30s"
    with tempfile.TemporaryDirectory(prefix="bench-flux-") as state_dir:
        bench = Bench(state_dir, interval)
        try:
            bench.up()
            figures = push_to_applied(bench, trials)
            result, floor = release(bench)
        finally:
            bench.down()
    print("\npush -> applied (Kustomization apps at the pushed commit), %d trials" % trials)
    receiver = statistics.median(figures[next(iter(figures))][0])
    for label, (applied, ended) in figures.items():
        line = "  %-55s median %6.2f s  max %6.2f s  (x%.1f the receiver)" % (
            label, statistics.median(applied), max(applied), statistics.median(applied) / receiver)
        if ended:
            line += "; task ended %.2f s after the push" % statistics.median(ended)
        print(line)
    timings, total = result["timings"], result["duration"]
    print("\nhealthy release through git_release: verdict %s in %.1f s" % (result["verdict"], total))
    print("  preflight + git %.1f s, Flux %.1f s, Flagger analysis %.1f s; floor (interval x steps) %.0f s" % (
        timings["preflight_and_git"], timings["flux"], timings["analysis"], floor))
    print("  overhead over the floor: %.1f %% (whole task), %.1f %% (git + Flux only)" % (
        100.0 * (total - floor) / floor, 100.0 * (timings["preflight_and_git"] + timings["flux"]) / floor))


if __name__ == "__main__":
    main(sys.argv[1:])
