"""Figures for the simulated cluster provider: build, start, teardown, memory.

Each figure is measured in this run, with a baseline measured in the same run:
- warm start to Ready through the role (ansible-playbook) against kwokctl by hand
  (``kwokctl create cluster --wait``, then waiting for the nodes with the same engine);
- teardown through the role against ``kwokctl delete cluster``;
- resident memory of the control-plane processes (sum of VmRSS), with the share of each;
- the cold build: the seconds each recipe took when it was built (recorded in the
  cache's stamps), or with --cold a fresh build into a scratch cache and Go build cache.

    python benchmarks/run.py cluster [--repeat 3] [--cold]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.gitops.progressive.plugins.module_utils.cluster.providers import KwokProvider  # noqa: E402
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import (  # noqa: E402
    client_for_kubeconfig,
    wait_nodes_ready,
)
from ansible_collections.gitops.progressive.plugins.module_utils.host import process  # noqa: E402
from ansible_collections.gitops.progressive.plugins.module_utils.sim import gobuild  # noqa: E402

NODES = 2
VERSIONS = dict(kubernetes_version="v1.33.13", etcd_version="v3.5.24", kwok_version="v0.8.0",
                flagger_version="v1.41.0")


def cache_root():
    return os.environ.get("GITOPS_PROGRESSIVE_CACHE") or os.path.expanduser("~/.cache/gitops-progressive")


def binaries():
    cache = gobuild.BinaryCache(cache_root())
    found = {}
    for recipe in gobuild.recipes_for(["kubernetes", "etcd", "kwok"], VERSIONS):
        if not cache.is_built(recipe):
            sys.exit("the cache lacks %s: run `make demo` (or the cluster role) once first" % recipe.key)
        found.update(cache.paths(recipe))
    return found


def playbook(state_dir, name, state):
    variables = dict(cluster_provider="kwok", cluster_name=name, cluster_state_dir=state_dir,
                     cluster_nodes=NODES, cluster_state=state)
    command = ["ansible-playbook", "-i", os.path.join(ROOT, "tests", "integration", "inventory.yml"),
               os.path.join(ROOT, "tests", "integration", "playbooks", "cluster.yml"),
               "-e", json.dumps(variables)]
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def by_hand(state_dir, name, found):
    """kwokctl run directly, as a person would, with the same binaries and node count."""
    params = dict(name=name, provider="kwok", kubeconfig=os.path.join(state_dir, "hand.kubeconfig"),
                  state_dir=state_dir, binaries=found, nodes=NODES, wait_timeout=120, api_port=None,
                  extra_args=[], kube_version="v1.33.13")

    def run(argv, env):
        completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        return completed.returncode, completed.stdout, completed.stderr

    provider = KwokProvider(params, run)
    started = time.monotonic()
    provider.create()
    wait_nodes_ready(client_for_kubeconfig(params["kubeconfig"]), NODES, 120)
    start_seconds = time.monotonic() - started
    rss = resident_memory(provider)
    started = time.monotonic()
    leftover = provider.delete()
    delete_seconds = time.monotonic() - started
    alive = [pid for pid, start in _recorded(provider) if process.is_running(pid, start)]
    return start_seconds, delete_seconds, rss, leftover, alive


def _recorded(provider):
    return [process.read_pidfile(path) for path in provider.pidfiles()]


def resident_memory(provider):
    sizes = {}
    for path in provider.pidfiles():
        pid, _start = process.read_pidfile(path)
        try:
            with open("/proc/%d/status" % pid) as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        sizes[os.path.basename(path)[:-4]] = int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return sizes


def cold_build():
    scratch = tempfile.mkdtemp(prefix="cold-build-")
    env = dict(os.environ, GOCACHE=os.path.join(scratch, "go-build"), GOMODCACHE=os.path.join(scratch, "mod"))
    os.environ.update(env)
    try:
        cache = gobuild.BinaryCache(os.path.join(scratch, "cache"))
        recipes = gobuild.recipes_for(["kubernetes", "etcd", "kwok", "flagger"], VERSIONS)
        started = time.monotonic()
        seconds = cache.build_all(recipes, jobs=2)
        return time.monotonic() - started, seconds
    finally:
        subprocess.run(["chmod", "-R", "u+w", scratch], check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv):
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    found = binaries()
    role_start, role_down, hand_start, hand_down, memory = [], [], [], [], []
    for attempt in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as state_dir:
            role_start.append(playbook(state_dir, "bench-role-%d" % attempt, "present"))
            role_down.append(playbook(state_dir, "bench-role-%d" % attempt, "absent"))
            start, down, rss, leftover, alive = by_hand(state_dir, "bench-hand-%d" % attempt, found)
            hand_start.append(start)
            hand_down.append(down)
            memory.append(rss)
            if alive:
                print("WARNING: processes left after delete: %s" % alive)
    print("cluster benchmark (%d runs each, medians, %d simulated nodes)" % (repeat, NODES))
    print("warm start to Ready, role (ansible-playbook):  %6.2f s" % statistics.median(role_start))
    print("warm start to Ready, kwokctl by hand:          %6.2f s   ratio role/hand %.2f" % (
        statistics.median(hand_start), statistics.median(role_start) / statistics.median(hand_start)))
    print("teardown, role (ansible-playbook):             %6.2f s" % statistics.median(role_down))
    print("teardown, kwokctl delete by hand:              %6.2f s   ratio role/hand %.2f" % (
        statistics.median(hand_down), statistics.median(role_down) / statistics.median(hand_down)))
    last = memory[-1]
    print("resident memory of the control plane:          %6.1f MiB (%s)" % (
        sum(last.values()), ", ".join("%s %.0f" % item for item in sorted(last.items()))))
    stamps = []
    for key in sorted(os.listdir(os.path.join(cache_root(), "bin"))):
        try:
            with open(os.path.join(cache_root(), "bin", key, gobuild.STAMP_NAME)) as stamp:
                stamps.append((key, json.load(stamp)["seconds"]))
        except (OSError, ValueError, KeyError):
            pass
    print("cold build, as recorded in the cache (2 jobs): " + ", ".join("%s %.0f s" % item for item in stamps))
    if "--cold" in argv:
        wall, seconds = cold_build()
        print("cold build, measured now into a scratch cache: %.0f s wall (%s)" % (
            wall, ", ".join("%s %.0f s" % item for item in sorted(seconds.items()))))
