"""GitOps on the simulated platform: real Flux controllers, a real git server, real Flagger.

The flux role runs once per session (fixture ``gitops``) beside the session's cluster and
Flagger, with an app of its own (namespace ``gitops``). Each test sets up the state it
needs (a fresh version tag, a resumed Kustomization, a running git server) and checks
the outcome in git and in the cluster.
"""

import os
import subprocess
import time

import pytest
import yaml
from conftest import BackgroundPlaybook, assert_ok, free_block, free_port, interrupt, lease, phase_is, run_playbook, \
    wait_canary

NAMESPACE = "gitops"
IMAGE = "ghcr.io/stefanprodan/podinfo"
ENV_PATH = "spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].value"


@pytest.fixture(scope="session")
def gitops(platform, tmp_path_factory):
    state = tmp_path_factory.mktemp("flux-state")
    variables = dict(
        platform["vars"], flux_state_dir=str(state), flux_git_port=free_port(), flux_events_port=free_port(),
        flux_receiver_port=free_port(), flux_storage_port=free_port(), flux_chart_port=free_port(),
        flux_controller_port_base=free_block(8), flagger_install_mode="flux",
        apps_enabled=["podinfo"],
        apps_catalog=dict(podinfo=dict(namespace=NAMESPACE, image=IMAGE, tag="6.7.0", port=9898,
                                       env={"ERROR_FRACTION": "0"},
                                       canary=dict(interval="10s", threshold=2, maxWeight=50, stepWeight=25,
                                                   progressDeadlineSeconds=60,
                                                   metrics=[dict(name="request-success-rate",
                                                                 thresholdRange={"min": 70}, interval="15s")]))))
    try:
        started = time.monotonic()
        up = assert_ok(run_playbook("flux.yml", variables))
        seconds = time.monotonic() - started
        wait_canary(platform["kubeconfig"], NAMESPACE, "podinfo", phase_is("Initialized"), timeout=180)
        yield dict(vars=dict(variables, app_name="podinfo", app_namespace=NAMESPACE,
                             repo_url="http://127.0.0.1:%d/platform.git" % variables["flux_git_port"]),
                   state=str(state), first_run=up, seconds=seconds, kubeconfig=platform["kubeconfig"],
                   bare=os.path.join(str(state), "git", "platform.git"))
    finally:
        down = run_playbook("flux_absent.yml", variables)
    assert_ok(down)


def git_show(gitops, path, ref="main"):
    return subprocess.run(["git", "--git-dir", gitops["bare"], "show", "%s:%s" % (ref, path)],
                          capture_output=True, text=True, check=True).stdout


def git_head(gitops):
    return subprocess.run(["git", "--git-dir", gitops["bare"], "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()


def tag_in_git(gitops):
    images = yaml.safe_load(git_show(gitops, "apps/staging/kustomization.yaml"))["images"]
    return next(entry["newTag"] for entry in images if entry["name"] == IMAGE)


def target_image(kube, name="podinfo"):
    import kubernetes

    deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment(name, NAMESPACE)
    return deployment.spec.template.spec.containers[0].image


def fresh_tag():
    return "6.8.%d" % (int(time.time() * 10) % 100000)


def release(gitops, **variables):
    run = run_playbook("git_release.yml", dict(gitops["vars"], **variables))
    return run, run.results("Ship the release through git")[0]


def flux(gitops, module, **args):
    run = run_playbook("flux_ops.yml", dict(gitops["vars"], flux_module=module, flux_args=args))
    task = {"reconcile": "Run the module", "suspend": "Suspend or resume", "info": "Report",
            "diff": "Diff a path"}[module]
    return run, run.results(task)[0]


def kustomization(kube, name):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations", name)


def ready_since(obj):
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    return ready["lastTransitionTime"]


def push_change(gitops, tmp_path, relative, change, message):
    """Commit ``change(text) -> text`` of one file straight to the repository; the new commit."""
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo

    with open(os.path.join(gitops["state"], "git-credentials")) as handle:
        user, _colon, password = handle.read().strip().partition(":")
    repo = PlatformRepo(gitops["vars"]["repo_url"], str(tmp_path / "push"), username=user, password=password)
    repo.sync()
    with open(repo.path(relative)) as handle:
        text = handle.read()
    with open(repo.path(relative), "w") as handle:
        handle.write(change(text))
    commit = repo.commit(message)
    repo.push()
    return repo, commit


# 1. Bootstrap ---------------------------------------------------------------------------
def test_the_role_bootstraps_in_dependency_order_and_a_second_run_changes_nothing(gitops, kube):
    layout = gitops["first_run"].results("Lay the platform repository out (one commit when anything differs)")[0]
    assert layout["changed"] and "clusters/staging/apps.yaml" in layout["changed_files"]
    for path in ("clusters/staging/flux-system/gotk-sync.yaml", "infrastructure/base/releases/kustomization.yaml",
                 "infrastructure/staging/manifests/kustomization.yaml", "apps/base/podinfo/canary.yaml"):
        assert git_show(gitops, path)
    releases, manifests, apps = (kustomization(kube, name) for name in ("infra-releases", "infra-manifests", "apps"))
    assert manifests["spec"]["dependsOn"] == [{"name": "infra-releases"}]
    assert apps["spec"]["dependsOn"] == [{"name": "infra-manifests"}]
    assert ready_since(releases) <= ready_since(manifests) <= ready_since(apps)

    second = assert_ok(run_playbook("flux.yml", gitops["vars"]))
    assert second.stats["changed"] == 0, second.changed_tasks()
    checked = assert_ok(run_playbook("flux.yml", gitops["vars"], check=True))
    assert checked.stats["changed"] == 0, checked.changed_tasks()


# 2. A healthy image bump ----------------------------------------------------------------
def test_an_image_bump_through_git_is_applied_by_flux_and_promoted(gitops, kube):
    tag = fresh_tag()
    before = git_head(gitops)
    run, result = release(gitops, release_images={IMAGE: tag},
                          release_values=[dict(file="apps/staging/podinfo-env.yaml", path=ENV_PATH, value="0")],
                          release_prometheus_url=gitops["vars"].get("flagger_prometheus_url") or "http://127.0.0.1:%d"
                          % gitops["vars"]["flagger_prometheus_port"])
    assert_ok(run)
    assert result["verdict"] == "promoted", result
    assert result["commit_before"] == before and result["commit"] == git_head(gitops)
    assert tag_in_git(gitops) == tag
    assert target_image(kube, "podinfo-primary") == "%s:%s" % (IMAGE, tag)
    assert result["flux"]["revision"].endswith(result["commit"])
    assert "request-success-rate" in result["metrics_checked"]

    again_run, again = release(gitops, release_images={IMAGE: tag})
    assert_ok(again_run)
    assert not again["changed"] and git_head(gitops) == result["commit"]


# 3. A failing version -------------------------------------------------------------------
def test_a_failing_version_is_rolled_back_and_its_commit_reverted(gitops, kube):
    old_tag = tag_in_git(gitops)
    tag = fresh_tag()
    run, result = release(gitops, release_images={IMAGE: tag}, release_fail_on_rollback=False,
                          release_values=[dict(file="apps/staging/podinfo-env.yaml", path=ENV_PATH, value="75")])
    assert run.returncode == 0, run.raw[-3000:]
    assert result["verdict"] == "failed", result
    assert result["revert_commit"] == git_head(gitops) and result["commit"] != result["revert_commit"]
    assert tag_in_git(gitops) == old_tag
    assert yaml.safe_load(git_show(gitops, "apps/staging/podinfo-env.yaml"))[
        "spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "0"
    assert result["revert_flux"]["revision"].endswith(result["revert_commit"])
    assert target_image(kube) == "%s:%s" % (IMAGE, old_tag)


def background_release(gitops, **variables):
    return BackgroundPlaybook("git_release.yml", dict(gitops["vars"], **variables))


def canary_phase(kube):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "flagger.app", "v1beta1", NAMESPACE, "canaries", "podinfo")["status"].get("phase")


def test_ctrl_c_mid_analysis_leaves_the_pushed_commit_and_no_lease(gitops, kube):
    tag = fresh_tag()
    follower = background_release(gitops, release_images={IMAGE: tag})
    try:
        wait_canary(gitops["kubeconfig"], NAMESPACE, "podinfo", phase_is("Progressing"), timeout=180)
        assert tag_in_git(gitops) == tag
        head = git_head(gitops)
        assert interrupt(follower) == [], "no worker left running"
    finally:
        follower.stop()
    assert git_head(gitops) == head and tag_in_git(gitops) == tag, "the pushed commit stays: not rolled back"
    assert lease(kube, NAMESPACE) is None
    # Flagger goes on with the release on its own; the next test starts from its verdict.
    wait_canary(gitops["kubeconfig"], NAMESPACE, "podinfo", phase_is("Succeeded"), timeout=180)


def test_ctrl_c_while_flagger_rolls_back_still_reverts_the_commit(gitops, kube):
    old_tag = tag_in_git(gitops)
    tag = fresh_tag()
    follower = background_release(gitops, release_images={IMAGE: tag}, release_fail_on_rollback=False,
                                  release_values=[dict(file="apps/staging/podinfo-env.yaml", path=ENV_PATH,
                                                       value="75")])
    try:
        wait_canary(gitops["kubeconfig"], NAMESPACE, "podinfo", phase_is("Failed"), timeout=240)
        assert interrupt(follower) == [], "no worker left running"
    finally:
        follower.stop()
    assert tag_in_git(gitops) == old_tag, "the revert is pushed"
    assert yaml.safe_load(git_show(gitops, "apps/staging/podinfo-env.yaml"))[
        "spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "0"
    assert lease(kube, NAMESPACE) is None


# 4. Suspend and resume ------------------------------------------------------------------
def test_a_suspended_kustomization_ignores_a_push_until_resumed(gitops, kube, tmp_path):
    import kubernetes

    marker = "m%d" % int(time.time())

    def annotate(text):
        doc = yaml.safe_load(text)
        doc["metadata"].setdefault("annotations", {})["gitops.test/marker"] = marker
        return yaml.safe_dump(doc)

    assert_ok(flux(gitops, "suspend", name="apps", state="suspended")[0])
    try:
        _repo, commit = push_change(gitops, tmp_path, "apps/staging/podinfo-env.yaml", annotate, "marker")
        source_run, source = flux(gitops, "reconcile", kind="GitRepository", name="flux-system", revision=commit)
        assert_ok(source_run)
        assert source["commit"] == commit
        time.sleep(5)
        deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", NAMESPACE)
        assert (deployment.metadata.annotations or {}).get("gitops.test/marker") != marker

        refused_run, refused = flux(gitops, "reconcile", kind="Kustomization", name="apps")
        assert refused_run.returncode != 0 and "is suspended" in refused["msg"]
    finally:
        resumed_run, resumed = flux(gitops, "suspend", name="apps", state="resumed")
    assert_ok(resumed_run)
    assert resumed["changed_objects"][0]["name"] == "apps"
    assert resumed["changed_objects"][0]["revision"].endswith(commit)
    deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", NAMESPACE)
    assert deployment.metadata.annotations["gitops.test/marker"] == marker
    again_run, again = flux(gitops, "suspend", name="apps", state="resumed")
    assert_ok(again_run)
    assert not again["changed"]


# 5. A broken manifest -------------------------------------------------------------------
def test_a_broken_manifest_fails_flux_reconcile_with_kustomize_controllers_message(gitops, tmp_path):
    def break_it(text):
        doc = yaml.safe_load(text)
        doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = {"not": "a string"}
        return yaml.safe_dump(doc)

    repo, commit = push_change(gitops, tmp_path, "apps/staging/podinfo-env.yaml", break_it, "broken")
    try:
        started = time.monotonic()
        run, result = flux(gitops, "reconcile", kind="Kustomization", name="apps", with_source=True,
                           revision=commit, wait_timeout=60)
        assert run.returncode != 0
        assert time.monotonic() - started < 90
        assert "Kustomization flux-system/apps is not ready" in result["msg"], result["msg"]
        assert "env" in result["msg"] or "value" in result["msg"], result["msg"]
    finally:
        repo.sync()
        reverted = repo.revert(commit, "unbreak")
        repo.push()
    assert_ok(flux(gitops, "reconcile", kind="Kustomization", name="apps", with_source=True, revision=reverted)[0])


def test_the_release_action_reverts_a_commit_flux_cannot_apply(gitops):
    before = git_head(gitops)
    deployment_before = git_show(gitops, "apps/base/podinfo/deployment.yaml")
    # A port the API server refuses: kustomize-controller's dry run fails.
    run, result = release(gitops, release_values=[dict(
        file="apps/base/podinfo/deployment.yaml", path="spec.template.spec.containers[name=podinfo].ports[0].containerPort",
        value=70000)])
    assert run.returncode != 0
    assert "Flux did not apply" in result["msg"] and "Reverted it with" in result["msg"], result["msg"]
    assert "containerPort" in result["msg"] or "70000" in result["msg"], result["msg"]
    assert result["commit"] != before and result["revert_commit"] == git_head(gitops)
    assert git_show(gitops, "apps/base/podinfo/deployment.yaml") == deployment_before


def test_bad_release_values_are_refused_before_anything_is_written(gitops):
    before = git_head(gitops)
    bad = dict(file="apps/staging/podinfo-env.yaml", path=ENV_PATH, value={"not": "a string"})
    run, result = release(gitops, release_values=[bad])
    assert run.returncode != 0 and "holds a string" in result["msg"], result["msg"]
    run, result = release(gitops, release_images={"ghcr.io/stefanprodan/podinf0": "6.7.9"})
    assert run.returncode != 0 and "images.ghcr.io/stefanprodan/podinf0" in result["msg"], result["msg"]
    assert git_head(gitops) == before


# 6. The git server down -----------------------------------------------------------------
def test_the_git_server_down_is_a_clear_error_and_nothing_half_done(gitops):
    with open(os.path.join(gitops["state"], "git-server.pid")) as handle:
        pid = int(handle.read().split()[0])
    before = git_head(gitops)
    os.kill(pid, 15)
    try:
        for _attempt in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        run, result = release(gitops, release_images={IMAGE: fresh_tag()})
        assert run.returncode != 0
        assert "git ls-remote failed" in result["msg"] and "connect" in result["msg"], result["msg"]
        assert "127.0.0.1:%d" % gitops["vars"]["flux_git_port"] in result["msg"]
        assert not result.get("changed")
        assert git_head(gitops) == before
    finally:
        assert_ok(run_playbook("flux.yml", gitops["vars"]))
    assert git_head(gitops) == before


# The other modules ----------------------------------------------------------------------
def test_flux_info_reports_like_flux_get_with_events(gitops):
    run, result = flux(gitops, "info", kinds=["GitRepository", "Kustomization"], namespace="flux-system")
    assert_ok(run)
    names = {(entry["kind"], entry["name"]) for entry in result["objects"]}
    assert {("GitRepository", "flux-system"), ("Kustomization", "apps")} <= names
    source = next(entry for entry in result["objects"] if entry["kind"] == "GitRepository")
    assert source["ready"] == "True" and source["revision"].startswith("main@sha1:")
    assert source["revision"].endswith(git_head(gitops)) or source["events"] is not None


def test_flux_diff_shows_what_a_path_would_change_before_it_is_pushed(gitops, tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo

    with open(os.path.join(gitops["state"], "git-credentials")) as handle:
        user, _colon, password = handle.read().strip().partition(":")
    repo = PlatformRepo(gitops["vars"]["repo_url"], str(tmp_path / "diff"), username=user, password=password)
    repo.sync()
    kubectl = os.path.join(os.path.expanduser(os.environ.get("GITOPS_PROGRESSIVE_CACHE")
                                              or "~/.cache/gitops-progressive"), "bin", "kubectl-v1.33.13", "kubectl")
    command = [kubectl, "kustomize"]
    run, same = flux(gitops, "diff", path=repo.path("apps/staging"), kustomization="apps", kustomize_command=command)
    assert_ok(run)
    assert not same["changed"] and same["summary"]["unchanged"] >= 2, same

    path = repo.path("apps/staging/podinfo-env.yaml")
    with open(path) as handle:
        doc = yaml.safe_load(handle)
    doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "42"
    with open(path, "w") as handle:
        yaml.safe_dump(doc, handle)
    run, changed = flux(gitops, "diff", path=repo.path("apps/staging"), kustomization="apps",
                        kustomize_command=command)
    assert_ok(run)
    deployment = next(entry for entry in changed["changes"] if entry["kind"] == "Deployment")
    assert changed["changed"] and deployment["action"] == "configured", changed
    assert "'42'" in deployment["diff"] or '"42"' in deployment["diff"], deployment["diff"]
    assert git_head(gitops) == repo.head()
