"""The whole simulated platform through site.yml, its memory with both environments, and a
tag pushed to the registry followed to its verdict.

1. ``site.yml`` (cluster -> Flux -> Flagger through Flux -> apps) from an empty
   simulated platform (binaries cached) until everything is Ready, then the second,
   no-change run. The second run is the baseline: what checking everything costs.
2. The staging-production inventory (two clusters, one platform repository): ``site.yml``
   for both at once, and the resident memory (sum of VmRSS) of every process the
   platform started, by environment and by part (control plane and KWOK, Flux and the
   git server, Flagger and its companions), with one environment as the baseline.
3. In that platform, a tag pushed to staging's registry: seconds until the ImagePolicy
   selects it (scan), until image automation's commit is seen (commit), until Flux applied
   it (apply), and Flagger's analysis to the verdict, against the analysis floor.
4. Two ``release.yml`` runs at once on that inventory (each releasing the backend app in
   both environments, as two people or two AWX jobs would), against one run alone (the
   baseline): what each environment's release was told (refused by the app's Lease, or its
   verdict), and corrupted commits: a commit that holds both environments' edits or more
   than its own tag line (goal: 0).

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
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

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


def tag_to_verdict(path, inventory, kubeconfig):
    """Push a tag to staging's registry and follow the release to its verdict; seconds by phase."""
    import kubernetes
    from test_staging_production import IMAGE, VARIABLES, fresh_tag

    from ansible_collections.gitops.progressive.plugins.module_utils.sim.registry import push_tag

    staging = inventory["all"]["children"]["staging"]["hosts"]["staging-sim"]
    api = kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(config_file=kubeconfig))
    tag = fresh_tag()
    command = ["ansible-playbook", "-i", path, os.path.join(ROOT, "tests", "integration", "playbooks",
                                                            "follow_automation.yml"),
               "-e", json.dumps(dict(VARIABLES, follow_images={IMAGE: tag}))]
    follow = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))
    bare = os.path.join(os.path.dirname(path), "staging", "flux", "git", "platform.git")

    def git(*args):
        return subprocess.run(["git", "--git-dir", bare] + list(args), capture_output=True, text=True,
                              check=False).stdout.strip()

    head = git("rev-parse", "main")
    time.sleep(5)
    pushed = time.monotonic()
    push_tag("http://127.0.0.1:%d" % staging["flux_registry_port"], "stefanprodan/podinfo", tag)
    scanned = committed = None
    while committed is None and time.monotonic() - pushed < 300 and follow.poll() is None:
        if scanned is None:
            policy = api.get_namespaced_custom_object("image.toolkit.fluxcd.io", "v1", "flux-system",
                                                      "imagepolicies", "podinfo")
            if ((policy.get("status") or {}).get("latestRef") or {}).get("tag") == tag:
                scanned = time.monotonic()
        if git("log", "--format=%H", "--author=fluxcdbot", "%s..main" % head):
            committed = time.monotonic()
        time.sleep(0.25)
    stdout, _stderr = follow.communicate(timeout=900)
    ended = time.monotonic()
    output = json.loads(stdout[stdout.index("{"):])
    result = [task["hosts"]["staging-sim"] for play in output["plays"] for task in play["tasks"]
              if task["task"]["name"] == "Follow the release image automation makes of the pushed tag"][0]
    timings = result.get("timings") or {}
    scanned = scanned or committed or ended
    return dict(verdict=result.get("verdict"), total=ended - pushed, scan=scanned - pushed,
                commit=(committed or ended) - scanned, apply=timings.get("flux", 0.0),
                analysis=timings.get("analysis", 0.0))


RELEASE = os.path.join(ROOT, "playbooks", "release.yml")
RELEASE_TASK = "Ship the release through git and follow it to its verdict"


def release_runs(path, inventory, tags):
    """``release.yml`` runs for ``tags`` at once; per run ``{env: verdict or refused}`` and seconds."""
    from test_staging_production import BACKEND

    staging = inventory["all"]["children"]["staging"]["hosts"]["staging-sim"]
    started, processes = time.monotonic(), []
    for tag in tags:
        variables = dict(release_app="backend", release_namespace="demo", release_images={BACKEND: tag},
                         release_timeout=600, release_fail_on_rollback=False,
                         release_repo_url="http://127.0.0.1:%d/platform.git" % staging["flux_git_port"])
        processes.append(subprocess.Popen(
            ["ansible-playbook", "-i", path, RELEASE, "-e", json.dumps(variables)], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")))
        time.sleep(0.5)
    runs = []
    for process in processes:
        stdout, _stderr = process.communicate(timeout=1200)
        told = {}
        try:
            output = json.loads(stdout[stdout.index("{"):])
            for play in output["plays"]:
                for task in play["tasks"]:
                    if task["task"]["name"] == RELEASE_TASK:
                        for host, result in task["hosts"].items():
                            refused = "another release of this app is running" in (result.get("msg") or "")
                            told[host.split("-")[0]] = "refused" if refused else result.get("verdict") or "error"
        except (ValueError, KeyError):
            told = {"run": "crashed"}
        runs.append(told)
    return runs, time.monotonic() - started


def corrupted_commits(bare, since):
    def git(*args):
        return subprocess.run(["git", "--git-dir", bare] + list(args), capture_output=True, text=True,
                              check=True).stdout.strip()

    bad = []
    for commit in git("rev-list", "%s..main" % since).split():
        files = git("show", "--format=", "--name-only", commit).split()
        added = [line for line in git("show", "--format=", "--unified=0", commit).splitlines()
                 if line.startswith("+") and not line.startswith("+++")]
        if len({name.split("/")[1] for name in files if name.startswith("apps/")}) > 1 or len(added) != 1:
            bad.append(commit[:12])
    return bad


def concurrent_releases(path, inventory):
    from test_staging_production import fresh_tag

    bare = os.path.join(os.path.dirname(path), "staging", "flux", "git", "platform.git")
    head = subprocess.run(["git", "--git-dir", bare, "rev-parse", "main"], capture_output=True, text=True,
                          check=True).stdout.strip()
    baseline, baseline_seconds = release_runs(path, inventory, [fresh_tag()])
    both, seconds = release_runs(path, inventory, [fresh_tag(), fresh_tag()])
    return dict(baseline=baseline[0], baseline_seconds=baseline_seconds, runs=both, seconds=seconds,
                corrupted=corrupted_commits(bare, head))


def two_environments(state):
    from test_staging_production import VARIABLES, shipped_inventory

    path, inventory = shipped_inventory(state)
    try:
        print("  site.yml, staging and production, from nothing ...", flush=True)
        output, seconds = playbook(path, SITE, VARIABLES)
        memory = {env: {part: rss_mib(pids) for part, pids in pids_by_part(output, "%s-sim" % env).items()}
                  for env in ENVIRONMENTS}
        print("  a tag pushed to staging's registry, followed to its verdict ...", flush=True)
        tag = tag_to_verdict(path, inventory, os.path.join(state, "staging.kubeconfig"))
        print("  two release.yml runs at once ...", flush=True)
        releases = concurrent_releases(path, inventory)
    finally:
        subprocess.run(["ansible-playbook", "-i", path, TEARDOWN], cwd=ROOT, capture_output=True, check=False)
    return seconds, memory, tag, releases


def main(_options):
    with tempfile.TemporaryDirectory(prefix="bench-site-") as state:
        os.makedirs(os.path.join(state, "one"))
        first, second, changed, one = one_environment(os.path.join(state, "one"))
        os.makedirs(os.path.join(state, "two"))
        both_seconds, both, tag, releases = two_environments(os.path.join(state, "two"))
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
    print("\ntag pushed -> verdict (staging, image automation, git_release following it): %s in %.1f s" % (
        tag["verdict"], tag["total"]))
    print("  scan %.1f s, commit %.1f s, Flux apply %.1f s, Flagger analysis %.1f s (the analysis floor is the baseline:"
          " interval x steps = 20 s)" % (tag["scan"], tag["commit"], tag["apply"], tag["analysis"]))
    print("\ntwo release.yml runs at once, staging-production inventory (backend app in both environments)")
    print("  one run alone (baseline): %.1f s, %s" % (releases["baseline_seconds"], releases["baseline"]))
    counts = {}
    for run in releases["runs"]:
        for told in run.values():
            counts[told] = counts.get(told, 0) + 1
    print("  two runs at once: %.1f s (x%.2f the baseline), %s" % (
        releases["seconds"], releases["seconds"] / releases["baseline_seconds"], " | ".join(map(str, releases["runs"]))))
    print("  told: %s; corrupted commits %d%s" % (", ".join("%s %d" % item for item in sorted(counts.items())),
                                                  len(releases["corrupted"]), (" (%s)" % ", ".join(
                                                      releases["corrupted"])) if releases["corrupted"] else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
