import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects, reconcile
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
    """Just enough of Kube for Reconcile: get, patch, and a source whose list sees the patch handled."""

    def __init__(self, obj, handle=True):
        self.obj, self.handle, self.patches = obj, handle, []

    def get(self, resource, namespace, name):
        return dict(self.obj)

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type="merge"):
        self.patches.append(patch)
        token = patch["metadata"]["annotations"][objects.REQUESTED_AT]
        if self.handle:
            self.obj = dict(self.obj, status=dict(self.obj["status"], lastHandledReconcileAt=token))
        return dict(self.obj)

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


def test_a_later_request_handled_counts_as_ours_an_earlier_one_does_not():
    ours = "2026-11-23T17:00:00.000000500Z"
    assert reconcile.handled(ours, ours)
    assert reconcile.handled("2026-11-23T17:00:01.5Z", ours)
    assert not reconcile.handled("2026-11-23T17:00:00Z", ours)
    assert not reconcile.handled("not a time", ours) and not reconcile.handled(None, ours)


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
