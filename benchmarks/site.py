"""The whole simulated platform through site.yml, and its memory with both environments.

1. ``site.yml`` (cluster -> Flux -> Flagger through Flux -> apps) from an empty
   simulated platform (binaries cached) until everything is Ready, then the second,
   no-change run. The second run is the baseline: what checking everything costs.
2. The staging-production inventory (two clusters, one platform repository): ``site.yml``
   for both at once, and the resident memory (sum of VmRSS) of every process the
   platform started, by environment and by part (control plane and KWOK, Flux and the
   git server, Flagger and its companions), with one environment as the baseline.

    python benchmarks/run.py site
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import free_block, free_port  # noqa: E402

SITE = os.path.join(ROOT, "playbooks", "site.yml")
TEARDOWN = os.path.join(ROOT, "playbooks", "teardown.yml")
ENVIRONMENTS = ("staging", "production")
CLUSTER_TASK = "Bring the simulated cluster to the wanted state"


def playbook(inventory, name, extra=None):
    command = ["ansible-playbook", "-i", inventory, name, "-e", json.dumps(extra or {})]
    started = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
    seconds = time.monotonic() - started
    if run.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (os.path.basename(name), (run.stdout + run.stderr)[-3000:]))
    return json.loads(run.stdout[run.stdout.index("{"):]), seconds


def pids_by_part(output, host):
    """{part: [pid]} from a site.yml run's results for ``host``."""
    parts = {"control plane + KWOK": [], "Flux + git server + chart repository": [], "Flagger + companions": []}
    for play in output["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host) or {}
            name = task["task"]["name"]
            if name.endswith(CLUSTER_TASK):
                parts["control plane + KWOK"] += result.get("pids") or []
            for item in result.get("results") or []:
                if item.get("pid") and name.startswith("gitops.progressive.flux"):
                    parts["Flux + git server + chart repository"].append(item["pid"])
                elif item.get("pid") and name.startswith("gitops.progressive.flagger"):
                    parts["Flagger + companions"].append(item["pid"])
    return parts


def rss_mib(pids):
    total = 0.0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as status:
                total += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024.0
        except OSError:
            pass
    return total


def one_environment(state):
    inventory = os.path.join(state, "sim.yml")
    variables = dict(ansible_connection="local", ansible_python_interpreter="{{ ansible_playbook_python }}",
                     cluster_provider="kwok", cluster_name="bench-site", cluster_state_dir=state,
                     cluster_kubeconfig=os.path.join(state, "bench-site.kubeconfig"),
                     flagger_port=free_port(), flagger_loadtester_port=free_port(), flagger_prometheus_port=free_port(),
                     flagger_traffic_port=free_port(), flux_git_port=free_port(), flux_events_port=free_port(),
                     flux_receiver_port=free_port(), flux_storage_port=free_port(), flux_chart_port=free_port(),
                     flux_controller_port_base=free_block(8))
    with open(inventory, "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"sim": variables}}}, handle)
    try:
        print("  site.yml, one environment, from nothing ...", flush=True)
        first, first_seconds = playbook(inventory, SITE)
        print("  site.yml, one environment, second run ...", flush=True)
        second, second_seconds = playbook(inventory, SITE)
        memory = {part: rss_mib(pids) for part, pids in pids_by_part(first, "sim").items()}
        changed = second["stats"]["sim"]["changed"]
    finally:
        subprocess.run(["ansible-playbook", "-i", inventory, TEARDOWN], cwd=ROOT, capture_output=True, check=False)
    return first_seconds, second_seconds, changed, memory


def two_environments(state):
    with open(os.path.join(ROOT, "inventories", "staging-production", "hosts.yml")) as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"].update(platform_state_dir=state, cluster_state_dir=state)
    git_port = free_port()
    for env in ENVIRONMENTS:
        host = inventory["all"]["children"][env]["hosts"]["%s-sim" % env]
        host.update({name: free_port() for name in (
            "flux_events_port", "flux_receiver_port", "flux_storage_port", "flux_chart_port", "flagger_port",
            "flagger_loadtester_port", "flagger_prometheus_port", "flagger_traffic_port")})
        host.update(flux_controller_port_base=free_block(8), flux_git_port=git_port)
    path = os.path.join(state, "staging-production.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    try:
        print("  site.yml, staging and production, from nothing ...", flush=True)
        output, seconds = playbook(path, SITE)
        memory = {env: {part: rss_mib(pids) for part, pids in pids_by_part(output, "%s-sim" % env).items()}
                  for env in ENVIRONMENTS}
    finally:
        subprocess.run(["ansible-playbook", "-i", path, TEARDOWN], cwd=ROOT, capture_output=True, check=False)
    return seconds, memory


def main(_options):
    with tempfile.TemporaryDirectory(prefix="bench-site-") as state:
        first, second, changed, one = one_environment(os.path.join(state, "one"))
        both_seconds, both = two_environments(os.path.join(state, "two"))
    print("\nsite.yml on the simulated platform (binaries cached)")
    print("  from nothing to all Ready    %6.1f s  (x%.1f the no-change run)" % (first, first / second))
    print("  second run (changed=%d)       %6.1f s  (baseline)" % (changed, second))
    print("  staging + production at once %6.1f s  (x%.1f one environment)" % (both_seconds, both_seconds / first))
    one_total = sum(one.values())
    print("\nresident memory (VmRSS), MiB")
    print("  one environment: %.0f (%s)" % (one_total, ", ".join("%s %.0f" % item for item in one.items())))
    total = 0.0
    for env, parts in both.items():
        env_total = sum(parts.values())
        total += env_total
        print("  %-10s %.0f (%s)" % (env, env_total, ", ".join("%s %.0f" % item for item in parts.items())))
    print("  both environments: %.0f MiB (x%.2f one environment)" % (total, total / one_total))


if __name__ == "__main__":
    main(sys.argv[1:])
