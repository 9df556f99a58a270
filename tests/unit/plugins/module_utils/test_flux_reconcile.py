import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux import info, objects, reconcile
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict


def kustomization(token=None, ready="True", reason="ReconciliationSucceeded", message="Applied revision",
                  generation=2, observed=2, revision="main@sha1:abcdef1234567890", suspend=False, extra=()):
    status = {"observedGeneration": observed, "lastAppliedRevision": revision,
              "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}]
              + list(extra)}
    if token:
        status["lastHandledReconcileAt"] = token
    return {"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system", "generation": generation},
            "spec": {"suspend": suspend, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": status}


def test_a_ready_object_is_not_done_until_flux_handled_this_request():
    verdict = reconcile.judge(kustomization(token="old"), token="new")
    assert not verdict.done and "kustomize-controller" in verdict.message


def test_handled_and_ready_at_the_current_generation_is_done():
    verdict = reconcile.judge(kustomization(token="t"), token="t")
    assert verdict.done and verdict.ok and verdict.data["revision"] == "main@sha1:abcdef1234567890"


def test_an_unobserved_generation_is_not_done_even_when_ready():
    assert not reconcile.judge(kustomization(token="t", observed=1), token="t").done


def test_ready_false_for_the_handled_request_fails_with_flux_message():
    verdict = reconcile.judge(kustomization(token="t", ready="False", reason="BuildFailed",
                                            message="kustomize build failed: accumulating resources"), token="t")
    assert verdict.done and not verdict.ok
    assert "BuildFailed" in verdict.message and "accumulating resources" in verdict.message


@pytest.mark.parametrize("reason", ["DependencyNotReady", "Progressing"])
def test_reasons_flux_retries_keep_waiting(reason):
    assert not reconcile.judge(kustomization(token="t", ready="False", reason=reason), token="t").done


def test_while_reconciling_ready_false_is_not_a_verdict():
    reconciling = {"type": "Reconciling", "status": "True", "message": "Building manifests"}
    assert not reconcile.judge(kustomization(token="t", ready="False", reason="X", extra=[reconciling]),
                               token="t").done


def test_a_failure_flux_will_retry_is_still_this_requests_failure():
    retrying = {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry"}
    verdict = reconcile.judge(kustomization(token="t", ready="False", reason="ReconciliationFailed",
                                            message="dry-run failed", extra=[retrying]), token="t")
    assert verdict.done and not verdict.ok and "dry-run failed" in verdict.message


def test_stalled_is_a_failure():
    stalled = {"type": "Stalled", "status": "True", "message": "invalid path"}
    verdict = reconcile.judge(kustomization(token="t", ready="False", reason="X", extra=[stalled]), token="t")
    assert verdict.done and not verdict.ok and "invalid path" in verdict.message


def test_a_wanted_revision_keeps_waiting_until_applied():
    assert not reconcile.judge(kustomization(token="t"), token="t", revision="1234567").done
    assert reconcile.judge(kustomization(token="t"), token="t", revision="abcdef1").ok
    assert reconcile.judge(kustomization(token="t"), token="t", revision="main@sha1:abcdef1234567890").ok


def test_a_short_sha_prefix_never_matches():
    assert not objects.revision_matches("main@sha1:abcdef1234567890", "abc")


def test_a_suspended_object_is_refused_naming_it():
    with pytest.raises(reconcile.FluxError, match="Kustomization flux-system/apps is suspended"):
        reconcile.check_not_suspended(kustomization(suspend=True))


def test_request_tokens_are_unique():
    assert reconcile.request_token() != reconcile.request_token()


def test_the_source_of_a_helmrelease_with_a_chart_template_is_its_helmchart():
    release = {"kind": "HelmRelease", "metadata": {"name": "podinfo", "namespace": "apps"},
               "spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                         "namespace": "flux-system"}}}}}
    resource, namespace, name = reconcile.source_of(release)
    assert (resource.kind, namespace, name) == ("HelmChart", "flux-system", "apps-podinfo")


def test_kind_names_accept_plurals_short_names_and_any_case():
    assert objects.kind_of("ks") is objects.KUSTOMIZATION
    assert objects.kind_of("HelmReleases") is objects.HELM_RELEASE
    assert objects.kind_of("gitrepositories") is objects.GIT_REPOSITORY
    with pytest.raises(ValueError, match="kinds\\[0\\]: 'Deployment' is not a Flux kind"):
        objects.kind_of("Deployment", "kinds[0]")


class FakeKube:
    """Just enough of Kube for Reconcile: get, patch, and a source whose list sees the patch handled.

    ``handle``: True, Flux handles our token; a string, Flux handles that token instead
    (the Receiver's annotation overwrote ours before the controller read it); False,
    nobody handles anything. ``calls`` records the order of reads and writes.
    """

    def __init__(self, obj, handle=True):
        self.obj, self.handle, self.patches, self.calls = obj, handle, [], []

    def get(self, resource, namespace, name):
        self.calls.append("get")
        return dict(self.obj)

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="merge"):
        self.calls.append("patch")
        self.patches.append(patch)
        token = patch["metadata"]["annotations"][objects.REQUESTED_AT]
        response = dict(self.obj)
        if self.handle:
            handled = token if self.handle is True else self.handle
            self.obj = dict(self.obj, status=dict(self.obj["status"], lastHandledReconcileAt=handled))
        return response

    def source(self, resource, namespace, name, label_selector=None):
        def lister(_timeout):
            return [self.obj], "1"

        def watcher(_version, _timeout):
            return iter(())

        return lister, watcher


def test_reconcile_requests_and_returns_the_applied_revision():
    kube = FakeKube(kustomization())
    result = reconcile.Reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps", 5).run()
    assert result["revision"] == "main@sha1:abcdef1234567890" and result["commit"] == "abcdef1234567890"
    assert len(kube.patches) == 1


def fake_clock():
    ticks = iter([step * 0.25 for step in range(100000)])
    return lambda: next(ticks)


def test_reconcile_finishes_when_the_receivers_token_replaced_ours():
    kube = FakeKube(kustomization(token="2026-12-07T00:00:00Z"), handle=RECEIVER_TOKEN)
    result = reconcile.Reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps", 5, revision="abcdef1",
                                 clock=fake_clock()).run()
    assert result["commit"] == "abcdef1234567890"


def test_an_unchanged_handled_token_is_not_our_request_even_when_it_reads_as_later():
    # Written by a client whose clock runs a century ahead, before our request.
    kube = FakeKube(kustomization(token="2126-01-01T00:00:00Z"), handle=False)
    with pytest.raises(reconcile.FluxTimeout, match="Is kustomize-controller running"):
        reconcile.Reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps", 5, clock=fake_clock()).run()


def test_the_handled_token_is_recorded_before_the_request_is_written():
    kube = FakeKube(kustomization(token="before"), handle=RECEIVER_TOKEN)
    token, _patched, handled_before = reconcile.request_reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps")
    assert kube.calls == ["get", "patch"] and handled_before == "before"
    assert kube.patches[0]["metadata"]["annotations"][objects.REQUESTED_AT] == token
    verdict = reconcile.wait_handled(kube, objects.KUSTOMIZATION, "flux-system", "apps", token, 5,
                                     handled_before=handled_before, clock=fake_clock())
    assert verdict.ok


def test_request_still_answers_token_and_object():
    kube = FakeKube(kustomization(token="before"))
    token, patched = reconcile.request(kube, objects.KUSTOMIZATION, "flux-system", "apps")
    assert patched["kind"] == "Kustomization" and kube.patches[0]["metadata"]["annotations"][objects.REQUESTED_AT] == token


def test_check_mode_requests_nothing():
    kube = FakeKube(kustomization())
    result = reconcile.Reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps", 5).run(check_mode=True)
    assert result["changed"] and kube.patches == []


def test_a_request_nobody_handles_times_out_naming_the_controller():
    clock = iter([step * 0.25 for step in range(100000)])
    kube = FakeKube(kustomization(), handle=False)
    with pytest.raises(reconcile.FluxError, match="Is kustomize-controller running"):
        reconcile.Reconcile(kube, objects.KUSTOMIZATION, "flux-system", "apps", 5,
                            clock=lambda: next(clock)).run()


def test_summaries_read_like_flux_get():
    summary = objects.summarize(kustomization(suspend=True))
    assert summary["ready"] == "True" and summary["suspended"] and summary["revision"].startswith("main@sha1:")
    assert isinstance(Verdict(True), Verdict)


# notification-controller's Receiver annotates with metav1.Now().String(), Go's time.String() form.
RECEIVER_TOKEN = "2026-12-07 01:02:03.456 +0000 UTC m=+5.000000001"


def test_without_a_recorded_baseline_only_our_own_token_counts():
    ours = "2026-11-23T17:00:00.000000500Z"
    assert reconcile.handled(ours, ours)
    # Times are never compared: a "later" time may come from a clock that runs ahead.
    assert not reconcile.handled("2026-11-23T17:00:01.5Z", ours)
    assert not reconcile.handled(RECEIVER_TOKEN, ours) and not reconcile.handled(None, ours)


def test_any_change_of_the_handled_token_after_the_request_counts_whatever_its_format():
    ours = "2026-11-23T17:00:00.000000500Z"
    before = "2026-11-23T16:00:00Z"
    assert reconcile.handled(RECEIVER_TOKEN, ours, handled_before=before)
    # Earlier than ours by the text, written by a machine whose clock is behind: still a change.
    assert reconcile.handled("2001-01-01T00:00:00Z", ours, handled_before=before)
    assert reconcile.handled(ours, ours, handled_before=before)
    assert not reconcile.handled(before, ours, handled_before=before)
    # Never handled before: the first value Flux records is a change.
    assert reconcile.handled(RECEIVER_TOKEN, ours, handled_before=None)
    assert not reconcile.handled(None, ours, handled_before=None)


def test_judge_accepts_the_receivers_request_and_leaves_this_commit_to_the_revision():
    ours = reconcile.request_token()
    handled_by_receiver = kustomization(token=RECEIVER_TOKEN)
    verdict = reconcile.judge(handled_by_receiver, ours, revision="abcdef1", handled_before="earlier")
    assert verdict.done and verdict.ok
    # The Receiver's reconcile fetched an older commit: not ours yet, keep waiting.
    verdict = reconcile.judge(handled_by_receiver, ours, revision="1234567", handled_before="earlier")
    assert not verdict.done and "waiting for revision 1234567" in verdict.message
    # Unchanged since before the request: Ready=True is the previous run's.
    unchanged = reconcile.judge(kustomization(token="earlier"), ours, handled_before="earlier")
    assert not unchanged.done and "to handle the reconcile request" in unchanged.message


def test_a_revision_may_be_judged_by_a_function():
    assert reconcile.judge(kustomization(token="t"), token="t", revision=lambda text: text.endswith("7890")).ok
    assert not reconcile.judge(kustomization(token="t"), token="t", revision=lambda text: False).done


def test_image_automation_kinds_report_their_own_revisions():
    from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects

    assert objects.kind_of("imagepolicies") is objects.IMAGE_POLICY
    assert objects.kind_of("imageupdate") is objects.IMAGE_UPDATE_AUTOMATION
    assert objects.controller_of("ImagePolicy") == "image-reflector-controller"
    policy = {"kind": "ImagePolicy", "status": {"latestRef": {"name": "127.0.0.1:5000/podinfo", "tag": "6.8.1"}}}
    repository = {"kind": "ImageRepository", "status": {"lastScanResult": {"revision": "sha256:abc", "tagCount": 3}}}
    automation = {"kind": "ImageUpdateAutomation", "status": {"lastPushCommit": "0123456789abcdef"}}
    assert [objects.summarize(obj)["revision"] for obj in (policy, repository, automation)] == [
        "6.8.1", "sha256:abc", "0123456789abcdef"]


def test_a_resume_is_handled_when_the_receivers_token_replaced_ours():
    """flux_suspend state=resumed waits the way flux reconcile does: any change of the handled token."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flux import suspend

    suspended = kustomization(token="2026-12-07T00:00:00Z")
    suspended["spec"] = dict(suspended.get("spec") or {}, suspend=True)
    kube = FakeKube(suspended, handle=RECEIVER_TOKEN)
    kube.patch = lambda resource, namespace, name, patch, dry_run=False, patch_type="merge": (
        setattr(kube, "obj", dict(kube.obj, status=dict(kube.obj["status"], lastHandledReconcileAt=RECEIVER_TOKEN)))
        or kube.obj)
    changed = suspend.set_suspended(kube, [(objects.KUSTOMIZATION, suspended)], False)
    suspend.wait_resumed(kube, changed, 5, fake_clock())
    assert changed[0]["revision"] == "main@sha1:abcdef1234567890"
    assert "handled_before" not in suspend.public(changed)[0]


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("revision, kinds", [
    (SHA, ["Kustomization"]), (SHA[:7], ["GitRepository"]), ("main@sha1:%s" % SHA, ["Kustomization"]),
    ("refs/pull/1/head@sha1:%s" % SHA, ["GitRepository"]), ("sha256:%s" % ("ab" * 32), ["HelmRepository"]),
    ("v1.2.0@sha256:%s" % ("ab" * 32), ["OCIRepository"]), ("6.8.0", ["HelmRelease"]),
    ("v1.2.3-rc.1+build.5", ["HelmChart"]), (None, ["Kustomization"]),
])
def test_revisions_flux_writes_are_accepted(revision, kinds):
    assert objects.revision_problems("revision", revision, kinds) == []


@pytest.mark.parametrize("revision, kinds, hint", [
    ("main", ["Kustomization"], "any other value never matches"),
    ("abc123", ["Kustomization"], "a commit prefix needs at least 7 characters"),
    ("ABCDEF1234", ["Kustomization"], "Flux writes commits in lower case"),
    ("main@sha1:abc", ["Kustomization"], "got 'main@sha1:abc'"),
    ("6.8.0", ["Kustomization"], "would only wait out wait_timeout"),
    ("", ["Kustomization"], "revision may not be empty"),
    (" %s" % SHA, ["Kustomization"], "never matches"),
    ("main@sha1:%s\n" % SHA, ["Kustomization"], "never matches"),
    ("%s\n" % SHA[:7], ["Kustomization"], "never matches"),
    ("6.8.0\n", ["HelmRelease"], "never matches"),
])
def test_a_revision_that_can_never_match_is_refused(revision, kinds, hint):
    problems = objects.revision_problems("revision", revision, kinds)
    assert len(problems) == 1 and problems[0].startswith("revision ") and hint in problems[0]


def test_reconcile_options_are_refused_together_naming_the_object():
    with pytest.raises(CollectionError) as error:
        reconcile.check_options(dict(kind="ks", name="", namespace="Flux", revision="main"))
    message = str(error.value)
    assert message.startswith("flux_reconcile ks Flux/: 3 problems: name is required")
    assert "namespace must be a DNS-1123 label" in message and "revision must be a commit SHA" in message
    assert reconcile.check_options(dict(kind="hr", name="podinfo", namespace="apps", revision="6.8.0")) is None


def test_flux_info_refuses_a_revision_without_wait_and_a_revision_repo_that_is_no_directory(tmp_path):
    def never():
        pytest.fail("connected")

    with pytest.raises(CollectionError, match="revision is only waited for with wait: true"):
        info.info_task(never, ["Kustomization"], "flux-system", revision=SHA)
    with pytest.raises(CollectionError, match="revision_repo must be a local git directory"):
        info.info_task(never, ["Kustomization"], "flux-system", wait=True, revision=SHA,
                       revision_repo=str(tmp_path / "missing"))
    with pytest.raises(CollectionError, match="events must be between 0 and 1000"):
        info.info_task(never, ["ks"], events=-1)
    assert info.check_options(["ks", "hr"], revision="6.8.0", wait=True, revision_repo=None) is None
