"""Figures for releases on real pods: the rehearsal platform with a real node (kubelet,
containerd, runc), Traefik from its chart through Flux as the Gateway, and the demo app's
real pods answering real requests.

Two stacks, one after the other, on the same app and the same canary settings:

- **pods**: Flux's controllers and Flagger, its load tester and the chart's Prometheus as the
  pods their installers deploy (``flux_controllers=pods``, ``flagger_controllers=pods``), as on
  a real cluster;
- **processes** (the baseline): the same stack with Flux and Flagger as processes of this
  machine (the simulated platform's default), only Traefik and the app as pods.

On each: a healthy release through ``git_release`` (APP_VERSION changed in git) split into
preflight + git, Flux and Flagger's analysis, against the floor Flagger's settings allow
(interval x steps); a release whose version answers ``--error-rate`` of its requests with
real 500s, with the success rates Flagger read from Prometheus (Traefik's counters) against
the rate the app was set to answer; and the resident memory (VmRSS) of everything the platform
started, split into the processes of this machine, the real node's own processes (kubelet,
containerd, kube-proxy) and its pods' containers, with the number of pods.

    python benchmarks/run.py real_pods [--error-rate 0.5]

Needs root (a real node) and takes the machine's real-node turn, like the tests that use it.
"""

import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import free_port, real_node_turn  # noqa: E402
from test_seed_flows import TRAEFIK_CATALOG, UserTraffic, env_release, stand_up  # noqa: E402

from ansible_collections.gitops.progressive.plugins.module_utils.cluster.node import (  # noqa: E402
    CGROUP_PARENT, cgroup_hierarchies)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (  # noqa: E402
    analysis_interval, analysis_need)


class Scratch:
    """What stand_up asks of pytest's tmp_path_factory: a new directory per name."""

    def __init__(self, root):
        self.root = root

    def mktemp(self, name):
        return tempfile.mkdtemp(prefix=name + "-", dir=self.root)


def stack_vars(mode):
    git, charts, receiver, web, metrics = free_port(), free_port(), free_port(), free_port(), free_port()
    variables = dict(mesh_provider="traefik", apps_enabled=["podinfo"], apps_catalog=TRAEFIK_CATALOG,
                     cluster_real_nodes=1, cluster_registry_port=free_port(),
                     cluster_real_node_ports=["%d:30080" % web, "%d:30091" % metrics])
    if mode == "pods":
        variables.update(cluster_real_node_host_ports=[git, charts], flux_git_port=git, flux_chart_port=charts,
                         flux_receiver_port=receiver, flux_controllers="pods", flagger_controllers="pods")
        variables["cluster_real_node_ports"].append("%d:30092" % receiver)
    return variables, web


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            return sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    except (OSError, ValueError):
        return 0


def pids_in(cgroup):
    """Every PID in a cgroup directory and the ones below it."""
    found = set()
    for directory, _dirs, files in os.walk(cgroup):
        if "cgroup.procs" in files:
            with open(os.path.join(directory, "cgroup.procs")) as handle:
                found.update(int(line) for line in handle if line.strip())
    return found


def memory(platform, name):
    """{part: (MiB, processes)} and the number of pods on the real node."""
    node = "%s-real" % name
    # The memory hierarchy (cgroup v1), else the unified one: each lists every process of the node.
    hierarchies = cgroup_hierarchies()
    memory_root = ([path for path in hierarchies if os.path.basename(path) == "memory"] or hierarchies[-1:])[0]
    node_cgroup = os.path.join(memory_root, CGROUP_PARENT, node)
    pods = pids_in(os.path.join(node_cgroup, "pods"))
    node_own = pids_in(node_cgroup) - pods
    here = set()
    for directory, _dirs, files in os.walk(platform["state"]):
        for entry in files:
            if entry.endswith(".pid"):
                try:
                    with open(os.path.join(directory, entry)) as handle:
                        pid = int(handle.read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
                if os.path.exists("/proc/%d" % pid):
                    here.add(pid)
    here -= pods | node_own
    import kubernetes

    api = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=platform["kubeconfig"]))
    count = len([pod for pod in api.list_pod_for_all_namespaces(field_selector="spec.nodeName=%s" % node).items
                 if pod.status.phase == "Running"])
    parts = {"processes of this machine": here, "the real node's own processes": node_own, "pods' containers": pods}
    return {part: (sum(rss_kib(pid) for pid in pids) / 1024.0, len(pids)) for part, pids in parts.items()}, count


def floor_of(platform):
    import kubernetes

    api = kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(config_file=platform["kubeconfig"]))
    canary = api.get_namespaced_custom_object("flagger.app", "v1beta1", "seed", "canaries", "podinfo")
    return analysis_need(canary)[0], analysis_interval(canary) * canary["spec"]["analysis"]["threshold"]


def one_stack(scratch, mode, error_rate):
    name = "bench-%s" % mode
    variables, web = stack_vars(mode)
    figures = {}
    started = time.monotonic()
    print("  %s: standing the stack up (site.yml)" % mode, flush=True)
    for platform in stand_up(scratch, name, **variables):
        platform = dict(platform, web=web)
        if platform["run"].returncode != 0:
            raise SystemExit("site.yml failed for %s: %s" % (mode, platform["run"].failures()))
        figures["site"] = time.monotonic() - started
        figures["memory"] = memory(platform, name)
        figures["floor"], figures["rollback_floor"] = floor_of(platform)
        print("  %s: up in %.0f s; a healthy release" % (mode, figures["site"]), flush=True)
        with UserTraffic(platform):
            figures["healthy"] = env_release(platform, APP_VERSION="2.0.0")
        print("  %s: %s in %.1f s; a release answering %.0f %% 500s" % (
            mode, figures["healthy"]["verdict"], figures["healthy"]["duration"], 100 * error_rate), flush=True)
        with UserTraffic(platform):
            figures["failing"] = env_release(platform, APP_VERSION="3.0.0", ERROR_RATE=str(error_rate))
        print("  %s: %s in %.1f s; tearing down" % (mode, figures["failing"]["verdict"], figures["failing"]["duration"]),
              flush=True)
    return figures


def report(mode, figures, baseline, error_rate):
    print("\n%s" % mode)
    healthy, failing = figures["healthy"], figures["failing"]
    timings = healthy.get("timings") or {}
    print("  site.yml from nothing: %.0f s (x%.2f the processes stack)" % (figures["site"], figures["site"] / baseline["site"]))
    print("  healthy release: %s, push -> verdict %.1f s (x%.2f the processes stack): preflight + git %.1f s, Flux %.1f s, "
          "Flagger's analysis %.1f s; floor (interval x steps) %.0f s, whole task x%.2f the floor" % (
              healthy["verdict"], healthy["duration"], healthy["duration"] / baseline["healthy"]["duration"],
              timings.get("preflight_and_git", 0), timings.get("flux", 0), timings.get("analysis", 0), figures["floor"],
              healthy["duration"] / figures["floor"]))
    rates = [float(rate) for rate in re.findall(r"request-success-rate ([0-9.]+) <", str(failing.get("reason")))]
    print("  release answering %.0f %% 500s: %s in %.1f s (rollback floor interval x threshold %.0f s), reverted %s; "
          "success rates Flagger read: %s (set: %.0f %%)" % (
              100 * error_rate, failing["verdict"], failing["duration"], figures["rollback_floor"],
              "yes" if failing.get("revert_commit") else "no", ", ".join("%.1f %%" % rate for rate in rates) or "none",
              100 * (1 - error_rate)))
    parts, pods = figures["memory"]
    total = sum(mib for mib, _count in parts.values())
    base_total = sum(mib for mib, _count in baseline["memory"][0].values())
    print("  resident memory %.0f MiB (x%.2f the processes stack), %d pods Running on the real node:" % (
        total, total / base_total, pods))
    for part, (mib, count) in parts.items():
        print("    %-32s %7.1f MiB  (%d processes)" % (part, mib, count))


def main(options):
    error_rate = float(options[options.index("--error-rate") + 1]) if "--error-rate" in options else 0.5
    assert os.geteuid() == 0, "a real node needs root"
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-real-pods-") as root, real_node_turn():
        for mode in ("processes", "pods"):
            results[mode] = one_stack(Scratch(root), mode, error_rate)
    for mode in ("processes", "pods"):
        report(mode, results[mode], results["processes"], error_rate)


if __name__ == "__main__":
    main(sys.argv[1:])
