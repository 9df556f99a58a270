"""git_release's change strategies (module_utils/release/git_change.py) on real git repositories.

A bare repository stands for the platform repository; "Flux" is a stand-in for the
reconcile wait that applies a commit the way kustomize-controller would for this test's
one app: the tag in ``apps/staging/kustomization.yaml`` at that commit becomes the
Deployment's image. Flagger is the same scripted fake as in test_release_pipeline.py.
"""

import copy
import os
import signal
import subprocess

import pytest
from test_release_pipeline import Clock, FakeKube, canary, target

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
from ansible_collections.gitops.progressive.plugins.module_utils.flux.reconcile import FluxError
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import resolve_in
from ansible_collections.gitops.progressive.plugins.module_utils.release import git_change
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.gitops.progressive.plugins.module_utils.release.pipeline import git_release

KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base/podinfo
images:
  # podinfo's version in staging
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.7.0 # {"$imagepolicy": "flux-system:podinfo"}
"""


def git(cwd, *args):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, capture_output=True, text=True,
                          env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                                   GIT_COMMITTER_EMAIL="t@t")).stdout.strip()


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "platform.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    (seed / "apps" / "staging").mkdir(parents=True)
    (seed / "apps" / "staging" / "kustomization.yaml").write_text(KUSTOMIZATION)
    (seed / "apps" / "staging" / "other.yaml").write_text("replicas: 1\n")
    git(seed, "add", "-A")
    git(seed, "commit", "--quiet", "-m", "seed")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def someone_else_pushes(remote, tmp_path, relative, text, message="someone else"):
    other = tmp_path / ("other-%d" % len(os.listdir(tmp_path)))
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    (other / relative).write_text(text)
    git(other, "commit", "--quiet", "-am", message)
    git(other, "push", "--quiet", "origin", "HEAD:main")
    return git(other, "rev-parse", "HEAD")


def tag_at(remote, commit):
    text = git(remote, "show", "%s:apps/staging/kustomization.yaml" % commit)
    return text.split("newTag: ")[1].split()[0].strip('"')


class FluxKube(FakeKube):
    """The scripted Flagger fake plus the Flux objects git_release checks."""

    def __init__(self, *args, ready="True", branch="main", policies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.flux = {
            objects.KUSTOMIZATION: {"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system"},
                                    "spec": {"sourceRef": {"kind": "GitRepository", "name": "platform"}},
                                    "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Failed"
                                                               if ready == "False" else "Succeeded",
                                                               "message": "earlier commit broke it"}]}},
            objects.GIT_REPOSITORY: {"kind": "GitRepository", "metadata": {"name": "platform",
                                                                           "namespace": "flux-system"},
                                     "spec": {"ref": {"branch": branch}}},
            objects.IMAGE_UPDATE_AUTOMATION: {"kind": "ImageUpdateAutomation", "metadata": {
                "name": "staging", "namespace": "flux-system"}, "spec": {"suspend": True}},
        }
        self.policies = list(policies)
        self.flux_patches = []

    def get(self, resource, namespace, name):
        if resource in self.flux:
            return copy.deepcopy(self.flux[resource])
        if resource is objects.IMAGE_POLICY:
            return copy.deepcopy(next((policy for policy in self.policies if policy["metadata"]["name"] == name),
                                      None))
        return super().get(resource, namespace, name)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None, timeout=None):
        if resource is objects.IMAGE_POLICY:
            return copy.deepcopy(self.policies), "1"
        return super().list(resource, namespace, label_selector, field_selector, timeout)

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="strategic"):
        if resource in self.flux:
            self.flux_patches.append((resource.kind, patch))
            self.flux[resource]["spec"].update(patch.get("spec") or {})
            return copy.deepcopy(self.flux[resource])
        return super().patch(resource, namespace, name, patch, dry_run, patch_type)


@pytest.fixture
def flux(monkeypatch, remote):
    """Replace the reconcile wait with a Flux that applies the branch head (or what the test says)."""
    state = {"fail": None, "applied": [], "head_override": None}

    def reconcile(self, run, commit, keep=0.0):
        if state["fail"]:
            raise FluxError(state["fail"])
        applied = state["head_override"] or git(remote, "rev-parse", "main")
        state["applied"].append(applied)
        self.applied_revision = applied
        run.kube.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = (
            "ghcr.io/stefanprodan/podinfo:%s" % tag_at(remote, applied))
        return dict(seconds=0.1, revision="main@sha1:%s" % applied, steps=[])

    monkeypatch.setattr(git_change.GitCommit, "_reconcile", reconcile)
    return state


def release(kube, clock, remote, tmp_path, check_mode=False, **args):
    options = dict(name="podinfo", namespace="test", images={"ghcr.io/stefanprodan/podinfo": "6.7.1"},
                   approval="manual", wait_timeout=600, in_flight="wait", fail_on_rollback=True, progress=True,
                   repo_url="file://%s" % remote, branch="main", workdir=str(tmp_path / "workdir"), path="apps/staging",
                   values=[], kustomization="apps", kustomization_namespace="flux-system", flux_timeout=60,
                   revert_on_rollback=True, author_name="gitops.progressive", author_email="g@p")
    options.update(args)
    said = []
    run = git_release(kube, options, check_mode=check_mode, say=said.append, clock=clock, sleep=clock.sleep,
                      lease_holder={"user": "me", "host": "here", "pid": 1})
    return run.run(), said


def podinfo(tag="6.7.0"):
    deployment = target(image="ghcr.io/stefanprodan/podinfo:%s" % tag)
    deployment["spec"]["template"]["spec"]["containers"][0]["name"] = "podinfo"
    return deployment


def test_a_healthy_release_is_one_commit_applied_and_promoted(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "promoted" and result["changed"], result["msg"]
    head = git(remote, "rev-parse", "main")
    assert result["commit"] == head and tag_at(remote, head) == "6.7.1"
    diff = git(remote, "show", "--numstat", "--format=", head)
    assert diff.split()[:2] == ["1", "1"], "one line changed: %s" % diff
    assert '"$imagepolicy"' in git(remote, "show", "main:apps/staging/kustomization.yaml")
    assert kube.leases == {}


def test_a_rollback_reverts_the_commit_and_git_is_as_it_was(remote, tmp_path, flux):
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "failed" and result["revert_commit"] == git(remote, "rev-parse", "main")
    assert git(remote, "diff", before, "main") == ""


def test_a_revert_after_someone_elses_commit_to_the_same_file_still_applies(remote, tmp_path, flux):
    """#10 and #16: another commit lands on the branch during the analysis; the revert is redone on it."""
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])

    def meanwhile():
        if len(kube.script) == 1:
            someone_else_pushes(remote, tmp_path, "apps/staging/other.yaml", "replicas: 3\n")

    kube.before_watch = meanwhile
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "failed" and result.get("revert_commit"), result
    assert tag_at(remote, "main") == "6.7.0"
    assert git(remote, "show", "main:apps/staging/other.yaml") == "replicas: 3"


def test_a_commit_flux_cannot_apply_is_reverted_at_once(remote, tmp_path, flux):
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    flux["fail"] = "kustomize build failed: broken manifest"
    kube = FluxKube(canary(), podinfo(), clock, [])
    with pytest.raises(ReleaseError, match="Flux did not apply .*broken manifest.*Reverted it with"):
        release(kube, clock, remote, tmp_path)
    assert git(remote, "diff", before, "main") == "" and git(remote, "rev-parse", "main") != before
    assert kube.leases == {}


def test_a_kustomization_failing_already_is_refused_before_anything_is_written(remote, tmp_path, flux):
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [], ready="False")
    with pytest.raises(ReleaseError, match="Kustomization flux-system/apps is failing already.*earlier commit "
                                           "broke it.*nothing was written"):
        release(kube, clock, remote, tmp_path)
    assert git(remote, "rev-parse", "main") == before and kube.leases == {}


def test_a_value_the_file_cannot_take_is_told_before_a_failing_kustomization(remote, tmp_path, flux):
    """The user's mistake first: on a Kustomization failing (or between two revisions) already,
    an image the kustomization lacks is still what the error names."""
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [], ready="False")
    with pytest.raises(CollectionError, match="images.ghcr.io/stefanprodan/podinf0: .* has no image of that name"):
        release(kube, clock, remote, tmp_path, images={"ghcr.io/stefanprodan/podinf0": "6.7.9"})
    assert git(remote, "rev-parse", "main") == before and kube.leases == {}


def waiting_on_a_dependency(kube, clock, until):
    """The Kustomization says DependencyNotReady until the clock reaches ``until``."""
    ready = kube.flux[objects.KUSTOMIZATION]["status"]["conditions"][0]
    get = kube.get

    def get_then(resource, namespace, name):
        if resource is objects.KUSTOMIZATION:
            ready.update(status="False", reason="DependencyNotReady", message="dependency 'flux-system/infra' is "
                         "not ready") if clock.now < until else ready.update(status="True", reason="Succeeded")
        return get(resource, namespace, name)

    kube.get = get_then


def test_a_dependency_applying_a_new_revision_is_waited_out_not_called_failing(remote, tmp_path, flux):
    """A revert just pushed: the dependency applies it and the app's Kustomization says
    DependencyNotReady for a few seconds. The next release waits that out and goes on."""
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    waiting_on_a_dependency(kube, clock, until=6)
    result, said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "promoted", result["msg"]
    assert any("waits on a dependency" in line for line in said), said


def test_a_dependency_that_stays_not_ready_is_refused_within_the_wait(remote, tmp_path, flux):
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [])
    waiting_on_a_dependency(kube, clock, until=10 ** 6)
    with pytest.raises(ReleaseError, match="failing already .*DependencyNotReady.*; waited 30 s for its dependency.*"
                                           "nothing was written"):
        release(kube, clock, remote, tmp_path)
    assert git_change.DEPENDENCY_WAIT <= clock.now <= git_change.DEPENDENCY_WAIT + 2
    assert git(remote, "rev-parse", "main") == before and kube.leases == {}


def test_a_kustomization_suspended_while_its_dependency_was_waited_for_is_refused(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    waiting_on_a_dependency(kube, clock, until=4)
    get = kube.get

    def suspended_later(resource, namespace, name):
        if resource is objects.KUSTOMIZATION and clock.now >= 2:
            kube.flux[objects.KUSTOMIZATION].setdefault("spec", {})["suspend"] = True
        return get(resource, namespace, name)

    kube.get = suspended_later
    with pytest.raises(CollectionError, match="Kustomization flux-system/apps is suspended"):
        release(kube, clock, remote, tmp_path)
    assert kube.leases == {}


def test_a_branch_flux_does_not_follow_is_refused(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [], branch="production")
    with pytest.raises(ReleaseError, match="follows branch 'production'.*nothing was written"):
        release(kube, clock, remote, tmp_path)


def test_values_git_holds_that_flagger_never_analysed_are_followed_not_called_promoted(remote, tmp_path, flux):
    """#1 through git: the tag is in git (an interrupted run, another user), Flux applied it,
    Flagger has not analysed it yet; it then fails."""
    clock = Clock()
    someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml", KUSTOMIZATION.replace("6.7.0", "6.7.1"))
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Failed", "r2")], primary=podinfo())
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "failed" and not result["changed"] and "commit" not in result


def test_a_later_commit_that_changed_the_same_file_makes_the_verdict_superseded(remote, tmp_path, flux, monkeypatch):
    """#5 through git: another user's tag is pushed on top of ours before Flux applies either."""
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    original_make = git_change.GitCommit.make

    def make_then_someone_else(self, run, obj, change):
        original_make(self, run, obj, change)
        flux["head_override"] = someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml",
                                                    KUSTOMIZATION.replace("6.7.0", "6.7.3"))

    monkeypatch.setattr(git_change.GitCommit, "make", make_then_someone_else)
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "superseded" and "set images.ghcr.io/stefanprodan/podinfo again" in result["reason"]
    assert "revert_commit" not in result and tag_at(remote, "main") == "6.7.3"


def test_an_interrupt_while_flagger_rolls_back_pushes_the_revert(remote, tmp_path, flux):
    """#2 through git: Ctrl-C (SIGTERM from ansible-playbook) arrives once Flagger has failed the release."""
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25)])

    def interrupted():
        if not kube.script:
            kube.canary["status"]["phase"] = "Failed"
            os.kill(os.getpid(), signal.SIGTERM)

    kube.before_watch = interrupted
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["interrupted"] == "SIGTERM" and result["reverted_on_interrupt"]
    assert git(remote, "diff", before, "main") == "" and kube.leases == {}


def test_an_interrupt_mid_analysis_reports_the_pushed_commit_unreverted(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25)])

    def interrupted():
        if not kube.script:
            os.kill(os.getpid(), signal.SIGINT)

    kube.before_watch = interrupted
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["interrupted"] == "SIGINT" and "revert_commit" not in result
    assert "commit %s is pushed and not reverted" % result["commit"][:12] in result["msg"]
    assert kube.leases == {}


def test_automation_is_not_resumed_while_its_policy_selects_another_tag(remote, tmp_path, flux):
    """#15: resuming now would write the bad tag back."""
    clock = Clock()
    policies = [{"metadata": {"name": "podinfo", "namespace": "flux-system"},
                 "status": {"latestRef": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.7.2"}}}]
    kube = FluxKube(canary(), podinfo(), clock, [], policies=policies)
    with pytest.raises(ReleaseError, match="not resumed: ImagePolicy flux-system/podinfo selects 6.7.2, not 6.7.1"):
        release(kube, clock, remote, tmp_path, image_automation="staging", resume_automation=True)
    assert kube.flux_patches == [] and kube.flux[objects.IMAGE_UPDATE_AUTOMATION]["spec"]["suspend"] is True


def test_check_mode_computes_the_diff_and_writes_nothing(remote, tmp_path, flux):
    clock = Clock()
    before = git(remote, "rev-parse", "main")
    kube = FluxKube(canary(), podinfo(), clock, [])
    result, _said = release(kube, clock, remote, tmp_path, check_mode=True)
    added = [line for line in result["diff"]["prepared"].splitlines() if line.startswith("+ ")]
    assert result["changed"] and len(added) == 1 and "newTag:" in added[0] and "6.7.1" in added[0]
    assert git(remote, "rev-parse", "main") == before and kube.lease_writes == []


def test_a_blip_on_the_reconcile_request_is_asked_again_not_a_revert(remote, tmp_path, monkeypatch):
    """#22: the API server did not answer the reconcile request once; the good commit stays."""
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError

    calls = []

    class FlakyReconcile:
        def __init__(self, kube, *args, **kwargs):
            self.kube = kube

        def run(self):
            calls.append(1)
            if len(calls) == 1:
                raise ApiError("changing Kustomization flux-system/apps: the API server did not answer")
            head = git(remote, "rev-parse", "main")
            self.kube.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = (
                "ghcr.io/stefanprodan/podinfo:%s" % tag_at(remote, head))
            return dict(seconds=0.1, revision="main@sha1:%s" % head, commit=head, steps=[])

    monkeypatch.setattr(git_change, "Reconcile", FlakyReconcile)
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "promoted" and "revert_commit" not in result, result["msg"]
    assert len(calls) == 2 and any("asking again" in warning for warning in result["warnings"])


def test_another_apps_commit_to_the_same_file_is_not_this_releases_business(remote, tmp_path, flux, monkeypatch):
    """Review of the rebuild, #9: app B's tag lands in the shared kustomization before Flux applies ours."""
    clock = Clock()
    with_backend = KUSTOMIZATION + "  - name: ghcr.io/x/backend\n    newTag: 1.0.0\n"
    someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml", with_backend)
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    original_make = git_change.GitCommit.make

    def make_then_another_app(self, run, obj, change):
        original_make(self, run, obj, change)
        current = git(remote, "show", "main:apps/staging/kustomization.yaml")
        flux["head_override"] = someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml",
                                                    current.replace("newTag: 1.0.0", "newTag: 1.0.1"))

    monkeypatch.setattr(git_change.GitCommit, "make", make_then_another_app)
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["verdict"] == "promoted", result["msg"]


def test_image_automation_follows_the_commit_that_wrote_the_tag_not_a_later_one(remote, tmp_path):
    """Review of the rebuild, #2: another app's commit to the same file after the automation's."""
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo

    before = git(remote, "rev-parse", "main")
    automation = someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml",
                                     KUSTOMIZATION.replace("6.7.0", "6.7.1") + "  - name: ghcr.io/x/backend\n"
                                     "    newTag: 1.0.0\n", message="automation")
    someone_else_pushes(remote, tmp_path, "apps/staging/kustomization.yaml",
                        KUSTOMIZATION.replace("6.7.0", "6.7.1") + "  - name: ghcr.io/x/backend\n    newTag: 1.0.1\n")
    change = git_change.ImageAutomation(dict(
        repo_url="file://%s" % remote, branch="main", workdir=str(tmp_path / "wc"), path="apps/staging",
        images={"ghcr.io/stefanprodan/podinfo": "6.7.1"}, values=[], image_automation="staging"))
    change.repo = PlatformRepo(str(remote), str(tmp_path / "wc"))
    change.repo.sync()
    assert change._writer_of("apps/staging/kustomization.yaml", before) == automation


def test_an_interrupt_during_the_push_still_knows_the_commit_landed(remote, tmp_path, flux, monkeypatch):
    """Review of the rebuild, #4: the signal arrives after the server took the push, before its answer."""
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo

    original_push = PlatformRepo.push

    def push_then_signal(self):
        original_push(self)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(PlatformRepo, "push", push_then_signal)
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [])
    result, _said = release(kube, clock, remote, tmp_path)
    assert result["interrupted"] == "SIGTERM" and result["changed"]
    assert result["commit"] == git(remote, "rev-parse", "main")
    assert "commit %s is pushed and not reverted" % result["commit"][:12] in result["msg"]


def test_check_mode_with_resume_automation_says_changed_and_refuses_what_the_real_run_refuses(remote, tmp_path, flux):
    """Review of the rebuild, #13."""
    clock = Clock()
    policies = [{"metadata": {"name": "podinfo", "namespace": "flux-system"},
                 "status": {"latestRef": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.7.1"}}}]
    kube = FluxKube(canary(), podinfo(), clock, [], policies=policies)
    result, _said = release(kube, clock, remote, tmp_path, check_mode=True, image_automation="staging",
                            resume_automation=True)
    assert result["changed"] and "would resume" in result["msg"] and kube.flux_patches == []
    policies[0]["status"]["latestRef"]["tag"] = "6.7.2"
    with pytest.raises(ReleaseError, match="selects 6.7.2, not 6.7.1"):
        release(kube, clock, remote, tmp_path, check_mode=True, image_automation="staging", resume_automation=True)


# --- the change is the canary's app's, and goes where Flux reads (issue 17) -------------------

BACKEND = "  - name: ghcr.io/x/backend\n    newTag: 1.0.0\n"
PODINFO_ENV = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  template:
    spec:
      containers:
        - name: podinfo
          env:
            - name: ERROR_FRACTION
              value: "0"
"""


def push_files(remote, tmp_path, files, message="layout"):
    """Another writer adds or changes ``files`` ({path: text}) in one commit."""
    other = tmp_path / ("other-%d" % len(os.listdir(tmp_path)))
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    for relative, text in files.items():
        (other / relative).parent.mkdir(parents=True, exist_ok=True)
        (other / relative).write_text(text)
    git(other, "add", "-A")
    git(other, "commit", "--quiet", "-m", message)
    git(other, "push", "--quiet", "origin", "HEAD:main")
    return git(other, "rev-parse", "HEAD")


def refused(kube, clock, remote, tmp_path, match, **args):
    """The release is refused with ``match``, and nothing was written: git, the Lease, the target."""
    before = git(remote, "rev-parse", "main")
    with pytest.raises(ReleaseError, match=match):
        release(kube, clock, remote, tmp_path, **args)
    assert git(remote, "rev-parse", "main") == before and kube.lease_writes == [] and kube.patches == []


def test_another_apps_image_is_refused_naming_the_canarys_target(remote, tmp_path, flux):
    """Issue 17: with another app's image name the release was that app's, unfollowed, never reverted."""
    clock = Clock()
    push_files(remote, tmp_path, {"apps/staging/kustomization.yaml": KUSTOMIZATION + BACKEND})
    kube = FluxKube(canary(), podinfo(), clock, [])
    refused(kube, clock, remote, tmp_path, r"images\[ghcr.io/x/backend\]: the canary's target Deployment test/podinfo "
            r"runs ghcr.io/stefanprodan/podinfo, not ghcr.io/x/backend.*another app's image.*nothing was written",
            images={"ghcr.io/x/backend": "1.0.1"})


def test_an_image_renamed_by_new_name_is_matched_as_it_is_rendered(remote, tmp_path, flux):
    """The kustomization renders the entry as its newName: that is what the target runs."""
    clock = Clock()
    renamed = KUSTOMIZATION.replace("    newTag: 6.7.0", "    newName: registry.example/podinfo\n    newTag: 6.7.0")
    push_files(remote, tmp_path, {"apps/staging/kustomization.yaml": renamed})
    kube = FluxKube(canary(), podinfo(), clock, [])
    refused(kube, clock, remote, tmp_path, r"runs ghcr.io/stefanprodan/podinfo, not registry.example/podinfo")
    deployment = target(image="registry.example/podinfo:6.7.0")
    result, _said = release(FluxKube(canary(), deployment, clock, []), clock, remote, tmp_path, check_mode=True)
    assert result["changed"] and "would commit and push" in result["msg"]


def test_values_in_another_apps_file_are_refused(remote, tmp_path, flux):
    clock = Clock()
    push_files(remote, tmp_path, {"apps/staging/backend.yaml": PODINFO_ENV.replace("name: podinfo", "name: backend")})
    kube = FluxKube(canary(), podinfo(), clock, [])
    refused(kube, clock, remote, tmp_path, r"values\[0\].file: apps/staging/backend.yaml holds no Deployment named "
            r"podinfo, and no file beside it does", images={},
            values=[dict(file="apps/staging/backend.yaml", path="spec.template.spec.containers[name=podinfo]"
                         ".env[name=ERROR_FRACTION].value", value="5")])


def test_values_in_the_apps_base_reached_from_the_kustomization_are_released(remote, tmp_path, flux):
    """A file of the app's base (``../base/podinfo``, reached from spec.path through resources) is the app's."""
    clock = Clock()
    push_files(remote, tmp_path, {"apps/base/podinfo/deployment.yaml": PODINFO_ENV,
                                  "apps/base/podinfo/config.yaml": "kind: ConfigMap\nmetadata:\n  name: podinfo\n"
                                                                   "data:\n  level: info\n"})
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Succeeded", "r2")])
    kube.flux[objects.KUSTOMIZATION]["spec"]["path"] = "./apps/staging"
    result, _said = release(kube, clock, remote, tmp_path, values=[
        dict(file="apps/base/podinfo/config.yaml", path="data.level", value="debug")])
    assert result["verdict"] == "promoted" and result["changed"], result["msg"]


@pytest.mark.parametrize("ref,match", [
    ({}, r"follows branch 'master'"),
    ({"branch": "production"}, r"branch is 'main', but GitRepository flux-system/platform \(the source of "
                               r"Kustomization flux-system/apps\) follows branch 'production'"),
    ({"tag": "v1.0.0"}, r"follows tag v1.0.0, not a branch"),
    ({"branch": "main", "semver": ">=1.0.0"}, r"follows the tags matching >=1.0.0, not a branch"),
    ({"branch": "main", "commit": "0123456789abcdef0123456789abcdef01234567"}, r"follows commit 0123456789ab"),
    ({"name": "refs/tags/v1"}, r"follows the reference refs/tags/v1"),
])
def test_a_branch_flux_does_not_read_is_refused_before_anything_is_written(remote, tmp_path, flux, ref, match):
    """Issue 17: the commit and its revert went to a branch nothing reads, after a 40 s wait."""
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [])
    kube.flux[objects.GIT_REPOSITORY]["spec"]["ref"] = ref
    refused(kube, clock, remote, tmp_path, match + ".*nothing was written")


def test_the_branch_named_as_a_full_reference_is_followed(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [])
    kube.flux[objects.GIT_REPOSITORY]["spec"]["ref"] = {"name": "refs/heads/main", "branch": "other"}
    result, _said = release(kube, clock, remote, tmp_path, check_mode=True)
    assert result["changed"]


def test_a_path_the_kustomization_does_not_apply_is_refused(remote, tmp_path, flux):
    clock = Clock()
    push_files(remote, tmp_path, {"apps/production/kustomization.yaml": KUSTOMIZATION})
    kube = FluxKube(canary(), podinfo(), clock, [])
    kube.flux[objects.KUSTOMIZATION]["spec"]["path"] = "./apps/production"
    refused(kube, clock, remote, tmp_path, r"path 'apps/staging' is not applied by Kustomization flux-system/apps "
            r"\(spec.path './apps/production'\).*option kustomization")


def test_a_source_that_is_not_git_is_refused(remote, tmp_path, flux):
    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [])
    kube.flux[objects.KUSTOMIZATION]["spec"]["sourceRef"] = {"kind": "OCIRepository", "name": "platform"}
    kube.flux[objects.OCI_REPOSITORY] = {"kind": "OCIRepository", "metadata": {"name": "platform"}, "spec": {}}
    refused(kube, clock, remote, tmp_path, r"OCIRepository flux-system/platform \(the source of Kustomization "
            r"flux-system/apps\) is not a GitRepository")


def test_applied_directories_follow_resources_and_stop_at_the_repository(tmp_path):
    """Through resources, not out of the repository (``../..``), not through a link, not to a remote."""
    layout = {"apps/staging/kustomization.yaml": "resources: [../base/podinfo, ../../../x, https://x.example/y]\n",
              "apps/base/podinfo/kustomization.yaml": "resources: [deployment.yaml, ../linked]\n",
              "apps/loose/app.yaml": "kind: ConfigMap\n", "outside/x.yaml": ""}
    for relative, text in layout.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "apps" / "base" / "linked").symlink_to(tmp_path / "outside")

    def path_of(relative):
        return resolve_in(str(tmp_path), relative)

    assert git_change.applied_directories(path_of, "apps/staging") == ({"apps/staging", "apps/base/podinfo"}, set())
    assert git_change.applied_directories(path_of, "apps/loose") == ({"apps/loose"}, {"apps/loose"})


def test_an_awx_job_and_its_user_are_named_in_the_commit_and_the_verdict_is_published_as_git_release(
        remote, tmp_path, flux):
    """AWX sets JOB_ID and passes awx_user_name as an extra variable; a rollback's verdict is
    published (fail_on_rollback false) under the task's own name, not canary_rollout's."""
    from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import holder

    clock = Clock()
    kube = FluxKube(canary(), podinfo(), clock, [("Progressing", "r2", 25), ("Failed", "r2")])
    who = holder({"JOB_ID": "42"}, awx={"awx_user_name": "alice"})
    options = dict(name="podinfo", namespace="test", images={"ghcr.io/stefanprodan/podinfo": "6.7.1"},
                   approval="manual", wait_timeout=600, in_flight="wait", fail_on_rollback=False, progress=False,
                   repo_url="file://%s" % remote, branch="main", workdir=str(tmp_path / "workdir"), path="apps/staging",
                   values=[], kustomization="apps", kustomization_namespace="flux-system", flux_timeout=60,
                   revert_on_rollback=True, author_name="gitops.progressive", author_email="g@p", publish_stats=True)
    result = git_release(kube, options, clock=clock, sleep=clock.sleep, lease_holder=who).run()
    assert result["verdict"] == "failed" and not result.get("failed")
    message = git(remote, "log", "-1", "--format=%B", result["commit"])
    assert "Requested by AWX job 42 launched by alice through gitops.progressive.git_release." in message, message
    published = result["ansible_stats"]["data"]
    assert list(published) == ["git_release"], published
    assert published["git_release"]["test/podinfo"]["verdict"] == "failed"
    assert published["git_release"]["test/podinfo"]["reason"] == result["reason"]


def test_the_job_comes_from_awx_extra_variables_when_the_environment_has_none():
    from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import describe_holder, holder

    who = holder({}, awx={"tower_job_id": 7, "tower_user_name": "bob"})
    assert who["awx_job"] == "7" and who["awx_user"] == "bob"
    assert describe_holder(who).endswith("(AWX job 7 launched by bob)")
    assert "awx_job" not in holder({}, awx={}) and git_change.requested_by({}, environ={}).count("@") == 1
