"""The release engine's promises on the real Flagger: gates, concurrent releases, faults.

Each test has its own namespace. The fault tests stop one part of the platform by PID
(Flagger, Prometheus, the load tester, kube-apiserver) and bring it back through the
role that started it, so the next test finds the platform whole.
"""

import os
import time

import pytest
from conftest import BackgroundPlaybook, assert_ok, children, interrupt, lease, phase_is, run_playbook, wait_canary
from test_canary_releases import deploy, gate, release, rollout_result

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import LoadTester
from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def flagger_pidfile(platform, name):
    variables = platform["vars"]
    return os.path.join(variables["cluster_state_dir"], variables["cluster_name"], "flagger", name + ".pid")


def wait_in_flight(platform, namespace, follower, phases=("Progressing",), timeout=120):
    """Wait until the release the follower started is in flight; its output if it never is."""
    try:
        return wait_canary(platform["kubeconfig"], namespace, "podinfo", phase_is(*phases), timeout=timeout)
    except Exception:
        if follower.process.poll() is None:
            follower.process.kill()
        out, err = follower.process.communicate()
        raise AssertionError("canary %s/podinfo never reached %s; the release task said:\n%s" % (
            namespace, phases, (out + err)[-3000:]))


class Stopped:
    """A platform process stopped by PID, brought back through the flagger role afterwards."""

    def __init__(self, platform, name):
        self.platform, self.name = platform, name

    def __enter__(self):
        pid, start_time = process.read_pidfile(flagger_pidfile(self.platform, self.name))
        assert process.stop(pid, start_time), "%s was not running" % self.name
        return self

    def __exit__(self, *_exc):
        assert_ok(run_playbook("flagger.yml", self.platform["vars"]))
        assert process.pidfile_running(flagger_pidfile(self.platform, self.name))


def deployment_version(kube, namespace):
    import kubernetes

    return kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", namespace).metadata.resource_version


def test_both_gates_are_opened_by_approval_auto_and_closed_again(platform):
    variables, _run = deploy(platform, "gates-auto", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-rollout", "confirm-promotion"],
                             canary_loadtester_url=platform["loadtester_url"])
    result = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "5"},
                                              rollout_approval="auto")))
    assert result["verdict"] == "promoted"
    phases = [entry["phase"] for entry in result["timeline"]]
    assert "Waiting" in phases and "WaitingPromotion" in phases
    assert not LoadTester(platform["loadtester_url"]).gate_is_open("podinfo", "gates-auto")


def test_a_promote_leaves_no_gate_open_for_the_next_release(platform):
    variables, _run = deploy(platform, "gates-manual", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    gated = dict(variables, gate_loadtester_url=platform["loadtester_url"])
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_canary(platform["kubeconfig"], "gates-manual", "podinfo", phase_is("WaitingPromotion"), timeout=120)
        promoted = gate(gated, "promote")
        assert promoted["changed"] and "closed again" in promoted["message"]
        assert rollout_result(assert_ok(follower.result()))["verdict"] == "promoted"
    finally:
        follower.stop()
    assert not LoadTester(platform["loadtester_url"]).gate_is_open("podinfo", "gates-manual")
    second = release(variables, rollout_env={"ERROR_FRACTION": "6"}, rollout_approval_timeout=25)
    result = rollout_result(second)
    assert second.returncode != 0 and result["verdict"] == "not_approved"
    assert "confirm-promotion" in result["reason"]


def test_a_release_started_while_another_is_in_flight_gets_its_own_verdict(platform):
    variables, _run = deploy(platform, "inflight", canary_max_weight=50, canary_step_weight=25)
    # Started and not followed (wait: false): in flight, and no release holds the app.
    started = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "5"}, rollout_wait=False)))
    assert started["changed"] and "not followed" in started["msg"]
    wait_canary(platform["kubeconfig"], "inflight", "podinfo", phase_is("Progressing"), timeout=120)
    second = rollout_result(assert_ok(release(variables, rollout_env={"ERROR_FRACTION": "7"})))
    assert second["waited_for"]["verdict"] == "promoted"
    assert second["verdict"] == "promoted" and second["revision"] != second["waited_for"]["revision"]
    assert "Progressing" in [entry["phase"] for entry in second["timeline"]]


def test_a_second_release_of_the_same_app_is_refused_naming_the_first(platform, kube):
    variables, _run = deploy(platform, "twice", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    first = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_in_flight(platform, "twice", first, phases=("WaitingPromotion",))
        held = lease(kube, "twice")
        assert held is not None and any("pid %d" % worker in held.spec.holder_identity
                                        for worker in children(first.process.pid)), "the worker running it holds it"
        before = deployment_version(kube, "twice")
        run = release(variables, rollout_env={"ERROR_FRACTION": "6"})
        refused = rollout_result(run)
        assert run.returncode != 0 and not refused.get("changed")
        assert "another release of this app is running, held by %s since" % held.spec.holder_identity in refused["msg"]
        assert deployment_version(kube, "twice") == before, "nothing was written"
        gate(dict(variables, gate_loadtester_url=platform["loadtester_url"]), "promote")
        assert rollout_result(assert_ok(first.result()))["verdict"] == "promoted"
    finally:
        first.stop()
    assert lease(kube, "twice") is None, "the first release let go of the app"


def test_ctrl_c_at_an_open_gate_closes_it_and_releases_the_lease(platform, kube):
    variables, _run = deploy(platform, "interrupted", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-promotion"], canary_loadtester_url=platform["loadtester_url"])
    tester = LoadTester(platform["loadtester_url"])
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"},
                                                      rollout_approval="auto", rollout_timeout=600))
    try:
        wait_in_flight(platform, "interrupted", follower, phases=("WaitingPromotion",))
        # Hold the release at its gate: with Flagger stopped nothing passes it.
        with Stopped(platform, "flagger"):
            deadline = time.monotonic() + 30
            while not tester.gate_is_open("podinfo", "interrupted") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert tester.gate_is_open("podinfo", "interrupted"), "approval=auto opened the gate"
            assert lease(kube, "interrupted") is not None
            left = interrupt(follower)
            assert left == [], "workers still running after the interrupt: %s" % left
            assert not tester.gate_is_open("podinfo", "interrupted"), "the gate is closed again"
            assert lease(kube, "interrupted") is None, "the Lease is released"
    finally:
        follower.stop()


def test_a_canary_flagger_has_not_initialised_is_not_released(platform, kube):
    with Stopped(platform, "flagger"):
        variables = dict(platform["vars"], app_name="podinfo", app_namespace="uninitialised",
                         canary_max_weight=50, canary_step_weight=50)
        assert_ok(run_playbook("app.yml", variables))
        before = deployment_version(kube, "uninitialised")
        run = release(variables, rollout_env={"ERROR_FRACTION": "5"})
        result = rollout_result(run)
        assert run.returncode != 0 and "not initialised by Flagger" in result["msg"]
        assert not result.get("changed")
        assert deployment_version(kube, "uninitialised") == before


def test_flagger_stopped_mid_release_is_reported_long_before_the_timeout(platform):
    variables, _run = deploy(platform, "stall", canary_max_weight=50, canary_step_weight=10)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"},
                                                      rollout_timeout=900))
    try:
        wait_in_flight(platform, "stall", follower)
        with Stopped(platform, "flagger"):
            result = rollout_result(follower.result(timeout=300))
    finally:
        follower.stop()
    assert result["verdict"] == "stalled" and result["changed"]
    assert "is Flagger running" in result["reason"] and "phase Progressing" in result["reason"]
    assert result["duration"] < 200


def test_prometheus_down_during_an_analysis_is_not_blamed_on_the_release(platform):
    variables, _run = deploy(platform, "nometrics", canary_max_weight=50, canary_step_weight=10)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "1"},
                                                      rollout_fail_on_rollback=False))
    try:
        wait_in_flight(platform, "nometrics", follower)
        with Stopped(platform, "prometheus"):
            result = rollout_result(assert_ok(follower.result(timeout=300)))
    finally:
        follower.stop()
    assert result["verdict"] == "failed"
    assert result["cause"] == "metrics_unavailable"
    assert "metrics server did not answer" in result["reason"]


def test_a_load_tester_down_when_a_gate_must_open_is_named(platform):
    variables, _run = deploy(platform, "ltdown", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["confirm-rollout"], canary_loadtester_url=platform["loadtester_url"])
    with Stopped(platform, "loadtester"):
        run = release(variables, rollout_env={"ERROR_FRACTION": "5"}, rollout_approval="auto", rollout_timeout=60)
    result = rollout_result(run)
    assert run.returncode != 0 and result["changed"] and result["verdict"] == "timeout"
    assert "could not open the confirm-rollout gate" in result["msg"]
    assert "load tester at %s did not answer /gate/open" % platform["loadtester_url"] in result["msg"]


def test_the_api_server_restarting_while_a_release_waits(platform, sim_cluster):
    variables, _run = deploy(platform, "apirestart", canary_max_weight=50, canary_step_weight=25)
    follower = BackgroundPlaybook("rollout.yml", dict(variables, rollout_env={"ERROR_FRACTION": "5"}))
    try:
        wait_in_flight(platform, "apirestart", follower)
        pidfile = os.path.join(sim_cluster["vars"]["cluster_state_dir"], "kwok", "clusters",
                               sim_cluster["vars"]["cluster_name"], "pids", "kube-apiserver.pid")
        pid, _none = process.read_pidfile(pidfile)  # kwokctl's PID files hold the PID alone
        assert "kube-apiserver" in " ".join(process.command_line(pid) or []), "the PID file names the API server"
        assert process.stop(pid, process.start_time_of(pid))
        time.sleep(5)
        assert_ok(run_playbook("cluster.yml", sim_cluster["vars"]))  # kwokctl starts what is not running
        result = rollout_result(assert_ok(follower.result(timeout=400)))
    finally:
        follower.stop()
    assert result["verdict"] == "promoted"
    assert result["watch"]["retries"] >= 1


@pytest.mark.parametrize("action", ["rollback"])
def test_a_rollback_where_flagger_ignores_it_fails_at_once(platform, action):
    variables, _run = deploy(platform, "ignored", canary_max_weight=50, canary_step_weight=50,
                             canary_gates=["rollback"], canary_loadtester_url=platform["loadtester_url"])
    started = time.monotonic()
    run = run_playbook("gate.yml", dict(variables, gate_action=action, gate_loadtester_url=platform["loadtester_url"]))
    assert run.returncode != 0
    assert "Flagger acts on rollback requests only while a release is Progressing or WaitingPromotion" in \
        run.results("Work the gate")[0]["msg"]
    assert time.monotonic() - started < 30
    assert not LoadTester(platform["loadtester_url"]).rollback_requested("podinfo", "ignored")


# --- git_release refuses a change Flux would not apply, or that is not the canary's app -----

FLUX_CRDS = (("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories"),
             ("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations"))
GIT_RELEASE_PLAYBOOK = """---
- name: Release through git
  hosts: all
  gather_facts: false
  tasks:
    - name: Ship the release through git
      gitops.progressive.git_release:
        kubeconfig: "{{ cluster_kubeconfig }}"
        name: podinfo
        namespace: "{{ app_namespace }}"
        repo_url: "{{ repo_url }}"
        workdir: "{{ release_workdir }}"
        path: apps/staging
        images: "{{ release_images }}"
        kustomization: apps
        kustomization_namespace: "{{ app_namespace }}"
        wait_timeout: 300
        flux_timeout: 30
"""


def _flux_objects_without_flux(kube, namespace, url):
    """A GitRepository and the Kustomization that applies ./apps/staging from it, with CRDs
    that only hold them when Flux is not installed in this session (then nothing reconciles
    them; when it is, its controllers may fail them, which git_release checks after the
    branch, the path and the app). Returns the CRDs this created, to be deleted afterwards."""
    import kubernetes

    extensions = kubernetes.client.ApiextensionsV1Api(kube)
    created = []
    for group, kind, plural in FLUX_CRDS:
        try:
            extensions.read_custom_resource_definition("%s.%s" % (plural, group))
            continue  # the real one: another test module stood Flux up in this session
        except kubernetes.client.exceptions.ApiException as error:
            if error.status != 404:
                raise
        extensions.create_custom_resource_definition({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}})
        created.append("%s.%s" % (plural, group))
    custom = kubernetes.client.CustomObjectsApi(kube)
    deadline = time.monotonic() + 30
    while True:
        try:
            custom.create_namespaced_custom_object("source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories", {
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "platform", "namespace": namespace},
                "spec": {"url": url, "interval": "1m", "ref": {"branch": "production"}}})
            break
        except kubernetes.client.exceptions.ApiException as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the new CRD is not served yet
    custom.create_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations", {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": namespace},
        "spec": {"path": "./apps/staging", "interval": "1m", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "platform"}}})
    return created


def _versions(kube, namespace):
    """The resourceVersions of what a release writes: the target and the canary."""
    import kubernetes

    canary = kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", "podinfo")
    return dict(deployment=deployment_version(kube, namespace), canary=canary["metadata"]["resourceVersion"])


def test_git_release_refuses_a_branch_flux_does_not_read_and_another_apps_image(platform, kube, tmp_path):
    import subprocess

    import kubernetes

    namespace = "gitrefused"
    variables, _run = deploy(platform, namespace, canary_max_weight=50, canary_step_weight=50)
    running = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", namespace)
    image = running.spec.template.spec.containers[0].image.rsplit(":", 1)[0]
    bare, seed = tmp_path / "platform.git", tmp_path / "seed"
    environment = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                       GIT_COMMITTER_EMAIL="t@t")

    def git(*args, cwd=tmp_path):
        return subprocess.run(["git"] + list(args), cwd=str(cwd), check=True, capture_output=True, text=True,
                              env=environment).stdout.strip()

    git("init", "--quiet", "--bare", "-b", "main", str(bare))
    git("clone", "--quiet", str(bare), str(seed))
    (seed / "apps" / "staging").mkdir(parents=True)
    (seed / "apps" / "staging" / "kustomization.yaml").write_text(
        "resources: []\nimages:\n  - name: %s\n    newTag: 1.0.0\n  - name: ghcr.io/x/backend\n    newTag: 1.0.0\n"
        % image)
    git("add", "-A", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    head = git("--git-dir", str(bare), "rev-parse", "main")
    playbook = tmp_path / "git_release.yml"
    playbook.write_text(GIT_RELEASE_PLAYBOOK)
    created = _flux_objects_without_flux(kube, namespace, "http://127.0.0.1:1/platform.git")
    options = dict(variables, cluster_kubeconfig=platform["kubeconfig"], app_namespace=namespace,
                   repo_url="file://%s" % bare, release_workdir=str(tmp_path / "workdir"))
    try:
        before = _versions(kube, namespace)
        started = time.monotonic()
        wrong_branch = run_playbook(str(playbook), dict(options, release_images={image: "9.9.9"}))
        refused = wrong_branch.results("Ship the release through git")[0]
        assert wrong_branch.returncode != 0 and not refused.get("changed")
        assert "branch is 'main', but GitRepository %s/platform (the source of Kustomization %s/apps) follows " \
            "branch 'production'" % (namespace, namespace) in refused["msg"]
        assert time.monotonic() - started < 30, "refused before any wait"
        assert git("--git-dir", str(bare), "rev-parse", "main") == head, "nothing was pushed"
        assert _versions(kube, namespace) == before, "nothing was written in the cluster"

        kubernetes.client.CustomObjectsApi(kube).patch_namespaced_custom_object(
            "source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories", "platform",
            {"spec": {"ref": {"branch": "main"}}})
        before = _versions(kube, namespace)
        wrong_app = run_playbook(str(playbook), dict(options, release_images={"ghcr.io/x/backend": "1.0.1"}))
        refused = wrong_app.results("Ship the release through git")[0]
        assert wrong_app.returncode != 0 and not refused.get("changed")
        assert "images[ghcr.io/x/backend]: the canary's target Deployment %s/podinfo runs %s, not " \
            "ghcr.io/x/backend" % (namespace, image) in refused["msg"]
        assert git("--git-dir", str(bare), "rev-parse", "main") == head, "nothing was pushed"
        assert _versions(kube, namespace) == before, "nothing was written in the cluster"
        assert lease(kube, namespace) is None
    finally:
        custom = kubernetes.client.CustomObjectsApi(kube)
        custom.delete_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations", "apps")
        custom.delete_namespaced_custom_object("source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories",
                                               "platform")
        for name in created:
            kubernetes.client.ApiextensionsV1Api(kube).delete_custom_resource_definition(name)
