"""Two releases of one app at once, through git: what each is told, and what git holds after.

A dedicated cluster with Flux and Flagger (as the flux benchmark builds it). Each trial
starts two ``git_release`` tasks (two ansible-playbook processes, as two people or two
AWX jobs would) on the same app with different tags, a fraction of a second apart, and
counts:

- refused: the task was told another release holds the app (the Lease), nothing written;
- promoted / failed / other: the verdict of a release that ran;
- corrupted commits: a commit since the trial started that holds more than one release's
  change, or that changed anything but the one tag line it names, or git's final tag
  that is neither the promoted release's nor the tag before the trial (goal: 0).

The baseline is the same two releases one after the other, in the same run: the time a
trial's pair takes against it, and that sequential releases are all promoted.

    python benchmarks/run.py concurrency [--trials 3]
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from flux import Bench  # noqa: E402

IMAGE = "ghcr.io/stefanprodan/podinfo"
KUSTOMIZATION = "apps/staging/kustomization.yaml"
TASK = "Ship the release through git"


def start(bench, tag):
    variables = dict(bench.vars, app_name="podinfo", app_namespace="demo", repo_url=bench.repo_url,
                     release_images={IMAGE: tag}, release_timeout=600, release_fail_on_rollback=False)
    command = ["ansible-playbook", "-i", os.path.join(bench.playbooks, "..", "inventory.yml"),
               os.path.join(bench.playbooks, "git_release.yml"), "-e", json.dumps(variables)]
    return subprocess.Popen(command, cwd=bench.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"))


def outcome(process):
    stdout, _stderr = process.communicate(timeout=900)
    try:
        output = json.loads(stdout[stdout.index("{"):])
        result = [task["hosts"]["sim"] for play in output["plays"] for task in play["tasks"]
                  if task["task"]["name"] == TASK][0]
    except (ValueError, IndexError):
        return "crashed", {}
    if "another release of this app is running" in (result.get("msg") or ""):
        return "refused", result
    return result.get("verdict") or "error: %s" % (result.get("msg") or "")[:120], result


def git(bench, *args):
    return subprocess.run(["git", "--git-dir", os.path.join(bench.vars["flux_state_dir"], "git", "platform.git")]
                          + list(args), capture_output=True, text=True, check=True).stdout.strip()


def tag_at(bench, ref):
    import yaml

    images = yaml.safe_load(git(bench, "show", "%s:%s" % (ref, KUSTOMIZATION)))["images"]
    return next(str(entry["newTag"]) for entry in images if entry["name"] == IMAGE)


def corrupted(bench, start_commit, tags, outcomes):
    """Commits since ``start_commit`` that mix releases or touch more than their tag line; and
    whether git's final tag is one a verdict allows."""
    bad = []
    for commit in git(bench, "rev-list", "%s..main" % start_commit).split():
        changed = git(bench, "show", "--format=", "--unified=0", commit)
        added = [line for line in changed.splitlines() if line.startswith("+") and not line.startswith("+++")]
        named = [tag for tag in tags if any(tag in line for line in added)]
        files = git(bench, "show", "--format=", "--name-only", commit).split()
        if len(named) > 1 or files != [KUSTOMIZATION] or len(added) != 1:
            bad.append(commit[:12])
    promoted = [tag for tag, (verdict, _result) in zip(tags, outcomes) if verdict == "promoted"]
    final = tag_at(bench, "main")
    allowed = promoted[-1:] or [tag_at(bench, start_commit)]
    if final not in allowed and not (len(promoted) > 1 and final in promoted):
        bad.append("final tag %s (allowed: %s)" % (final, ", ".join(allowed)))
    return bad


def pair(bench, concurrent, trial):
    stamp = int(time.time()) % 10000
    tags = ["6.%d.%d" % (20 + trial, stamp), "6.%d.%d" % (20 + trial, stamp + 1)]
    before = git(bench, "rev-parse", "main")
    started = time.monotonic()
    if concurrent:
        first = start(bench, tags[0])
        time.sleep(0.5)
        second = start(bench, tags[1])
        outcomes = [outcome(first), outcome(second)]
    else:
        outcomes = [outcome(start(bench, tags[0])), outcome(start(bench, tags[1]))]
    seconds = time.monotonic() - started
    return seconds, [verdict for verdict, _result in outcomes], corrupted(bench, before, tags, outcomes)


def main(options):
    trials = int(options[options.index("--trials") + 1]) if "--trials" in options else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as state_dir:
        bench = Bench(state_dir, "30s")
        bench.root = os.path.dirname(HERE)
        bench.playbooks = os.path.join(bench.root, "tests", "integration", "playbooks")
        try:
            bench.up()
            print("  baseline: two releases one after the other ...", flush=True)
            baseline = pair(bench, False, 0)
            for trial in range(1, trials + 1):
                print("  trial %d: two releases at once ..." % trial, flush=True)
                rows.append(pair(bench, True, trial))
        finally:
            bench.down()
    print("\ntwo git_release tasks on one app (podinfo), %d trials" % trials)
    print("  baseline, one after the other: %.1f s, verdicts %s, corrupted %d" % (
        baseline[0], " + ".join(baseline[1]), len(baseline[2])))
    counts = {}
    for seconds, verdicts, bad in rows:
        for verdict in verdicts:
            counts[verdict] = counts.get(verdict, 0) + 1
        print("  at once: %.1f s (x%.2f the baseline), verdicts %s, corrupted %d%s" % (
            seconds, seconds / baseline[0], " + ".join(verdicts), len(bad), (" (%s)" % ", ".join(bad)) if bad else ""))
    print("  totals over %d releases: %s; corrupted commits %d" % (
        2 * trials, ", ".join("%s %d" % item for item in sorted(counts.items())), sum(len(bad) for _s, _v, bad in rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
