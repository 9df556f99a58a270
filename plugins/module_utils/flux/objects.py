# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flux's kinds, and how to read their state the way ``flux get`` does.

Every Flux object reports the same things in the same places (the ``fluxcd/pkg``
runtime conventions): a ``Ready`` condition, ``Reconciling`` while it works and
``Stalled`` when it gave up; ``status.observedGeneration``; the reconcile request it
last handled (``status.lastHandledReconcileAt``); ``spec.suspend``. Only the revision
lives in different places per kind (:data:`REVISION_FIELDS`).
"""

from __future__ import annotations

import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import name_problems, namespace_problems
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Resource
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import label_selector_problems

GIT_REPOSITORY = Resource("source.toolkit.fluxcd.io/v1", "GitRepository", "gitrepositories")
OCI_REPOSITORY = Resource("source.toolkit.fluxcd.io/v1", "OCIRepository", "ocirepositories")
HELM_REPOSITORY = Resource("source.toolkit.fluxcd.io/v1", "HelmRepository", "helmrepositories")
HELM_CHART = Resource("source.toolkit.fluxcd.io/v1", "HelmChart", "helmcharts")
BUCKET = Resource("source.toolkit.fluxcd.io/v1", "Bucket", "buckets")
KUSTOMIZATION = Resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations")
HELM_RELEASE = Resource("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases")
RECEIVER = Resource("notification.toolkit.fluxcd.io/v1", "Receiver", "receivers")
ALERT = Resource("notification.toolkit.fluxcd.io/v1beta3", "Alert", "alerts")
PROVIDER = Resource("notification.toolkit.fluxcd.io/v1beta3", "Provider", "providers")
IMAGE_REPOSITORY = Resource("image.toolkit.fluxcd.io/v1", "ImageRepository", "imagerepositories")
IMAGE_POLICY = Resource("image.toolkit.fluxcd.io/v1", "ImagePolicy", "imagepolicies")
IMAGE_UPDATE_AUTOMATION = Resource("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", "imageupdateautomations")

# In the order `flux get all` prints them: sources, then what applies them.
KINDS = {resource.kind: resource for resource in (
    GIT_REPOSITORY, OCI_REPOSITORY, HELM_REPOSITORY, BUCKET, HELM_CHART, KUSTOMIZATION, HELM_RELEASE, RECEIVER,
    IMAGE_REPOSITORY, IMAGE_POLICY, IMAGE_UPDATE_AUTOMATION)}
SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart")
# The kinds `flux reconcile` and `flux suspend` act on.
RECONCILABLE = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart", "Kustomization",
                "HelmRelease", "Receiver")
# The kinds with a spec.suspend (an ImagePolicy has none: a patch of it would be dropped).
SUSPENDABLE = RECONCILABLE + ("ImageRepository", "ImageUpdateAutomation")
CONTROLLERS = {"Kustomization": "kustomize-controller", "HelmRelease": "helm-controller",
               "Receiver": "notification-controller", "ImageRepository": "image-reflector-controller",
               "ImagePolicy": "image-reflector-controller", "ImageUpdateAutomation": "image-automation-controller"}

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
# Where each kind records the revision it last fetched or applied.
REVISION_FIELDS = {
    "Kustomization": ("lastAppliedRevision",),
    "HelmRelease": ("lastAppliedRevision", "lastAttemptedRevision"),
}


_SHORT_NAMES = {"gitrepo": "GitRepository", "ocirepo": "OCIRepository", "helmrepo": "HelmRepository",
                "ks": "Kustomization", "hr": "HelmRelease", "source": "GitRepository",
                "imagerepo": "ImageRepository", "imageupdate": "ImageUpdateAutomation"}


class KindError(CollectionError, ValueError):
    """A kind option that names no Flux kind (a ValueError too, for callers that check values)."""


def kind_of(name, field="kind"):
    """The Resource for a kind name: ``Kustomization``, ``kustomizations``, ``ks``, any case."""
    wanted = (name or "").lower()
    for kind, resource in KINDS.items():
        if wanted in (kind.lower(), resource.plural, kind.lower() + "s"):
            return resource
    if wanted in _SHORT_NAMES:
        return KINDS[_SHORT_NAMES[wanted]]
    raise KindError("%s: %r is not a Flux kind; choose from %s" % (field, name, ", ".join(KINDS)))


def kinds_of(names):
    """Resources for a ``kinds`` option; KindError naming ``kinds[i]`` for a wrong one."""
    return [kind_of(name, "kinds[%d]" % index) for index, name in enumerate(names)]


def kinds_problems(option, names, allowed=None, why=""):
    """The problems of a ``kinds`` option: empty, or a name that is no Flux kind (or not in ``allowed``: ``why``)."""
    if not names:
        return ["%s must name at least one Flux kind" % option]
    problems = []
    for index, name in enumerate(names):
        try:
            resource = kind_of(name, "%s[%d]" % (option, index))
        except KindError as error:
            problems.append(str(error))
            continue
        if allowed is not None and resource.kind not in allowed:
            problems.append("%s[%d]: %s %s; choose from %s" % (option, index, resource.kind, why, ", ".join(allowed)))
    return problems


def describe_selection(kinds, namespace=None, name=None):
    """What a task's ``kinds``, ``namespace`` and ``name`` select, for messages (kinds as the task wrote them).

    ``Kustomization flux-system/apps``, or ``Kustomization, HelmRelease objects in namespace apps``.
    """
    if name:
        return "%s %s/%s" % (" or ".join(kinds) or "Flux object", namespace, name)
    return "%s objects in %s" % (", ".join(kinds) or "Flux", "namespace %s" % namespace if namespace else "all namespaces")


def controller_of(kind):
    return CONTROLLERS.get(kind, "source-controller")


def condition(obj, kind):
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return None


def revision(obj):
    """The revision the object last fetched (sources) or applied (Kustomization, HelmRelease); the
    tag an ImagePolicy selected, an ImageRepository's scan, an ImageUpdateAutomation's last push."""
    status = obj.get("status") or {}
    for field in REVISION_FIELDS.get(obj.get("kind"), ()):
        if status.get(field):
            return status[field]
    kind = obj.get("kind")
    if kind == "ImagePolicy":  # the tag it selected
        return (status.get("latestRef") or {}).get("tag") or ""
    if kind == "ImageRepository":  # the scan's revision
        return (status.get("lastScanResult") or {}).get("revision") or ""
    if kind == "ImageUpdateAutomation":  # the commit it pushed last
        return status.get("lastPushCommit") or ""
    return (status.get("artifact") or {}).get("revision") or ""


def commit_of(revision_text):
    """The commit SHA in a Flux revision (``main@sha1:<sha>``, ``sha1:<sha>``, or a bare SHA)."""
    match = re.search(r"(?:sha1|sha256):([0-9a-f]+)\Z", revision_text or "")
    if match:
        return match.group(1)
    match = re.fullmatch(r"(?:[^@]+@)?([0-9a-f]{7,64})", revision_text or "")
    return match.group(1) if match else ""


def revision_matches(revision_text, wanted):
    """True when the object's revision is ``wanted``: a commit SHA (or its prefix of 7+
    characters) or a whole revision string like ``main@sha1:…`` or a chart version."""
    if not wanted:
        return True
    if revision_text == wanted:
        return True
    commit = commit_of(revision_text)
    return bool(commit) and len(wanted) >= 7 and re.fullmatch(r"[0-9a-f]+", wanted) is not None \
        and commit.startswith(wanted)


# The revisions Flux writes: a commit or digest after the ref or tag it came from
# (main@sha1:<40 hex>, v1.2.0@sha256:<64 hex>, refs/pull/1/head@sha1:...) or alone.
_FLUX_REVISION = re.compile(r"^(?:[^@\s]+@)?(?:sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}"
                            r"|sha512:[0-9a-f]{128}|blake3:[0-9a-f]{64})\Z")
_COMMIT_PREFIX = re.compile(r"^[0-9a-f]{7,64}\Z")
# A chart version (HelmChart, HelmRelease): SemVer 2, as Helm writes it.
_CHART_VERSION = re.compile(r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
                            r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z")
CHART_KINDS = ("HelmChart", "HelmRelease")


def revision_problems(option, value, kinds=()):
    """Why ``value`` can never match what Flux reports as a revision (wait options), or [].

    A revision that matches nothing would only wait out the whole timeout. Flux writes
    ``<ref>@sha1:<40 hex>`` (and ``sha256:`` digests), lower case; a commit prefix of 7
    or more characters matches too (``revision_matches``), and a chart version for the
    ``kinds`` that report one (HelmChart, HelmRelease).
    """
    if value is None:
        return []
    if not isinstance(value, str) or not value.strip():
        return ["%s may not be empty" % option]
    if _FLUX_REVISION.match(value) or _COMMIT_PREFIX.match(value):
        return []
    if any(kind in CHART_KINDS for kind in kinds) and _CHART_VERSION.match(value):
        return []
    hint = ""
    if re.fullmatch(r"[0-9a-fA-F]{7,64}", value):
        hint = " (Flux writes commits in lower case)"
    elif re.fullmatch(r"[0-9a-f]{1,6}", value):
        hint = " (a commit prefix needs at least 7 characters)"
    return ["%s must be a commit SHA (7 to 40 lower-case hex characters, a prefix matches), a revision as Flux "
            "writes it (main@sha1:<40 hex>, sha256:<64 hex>)%s, got %r%s; any other value never matches and "
            "would only wait out wait_timeout" % (
                option, " or a chart version" if any(kind in CHART_KINDS for kind in kinds) else "",
                value[:80], hint)]


def selection_problems(namespace, name, label_selectors=()):
    """The problems of a task's ``namespace``, ``name`` and ``label_selectors`` (all optional).

    An empty string is refused, never read as "not given": ``name: ""`` must not select
    every object, nor ``namespace: ""`` every namespace.
    """
    return (namespace_problems("namespace", namespace, required=False)
            + name_problems("name", name, required=False)
            + label_selector_problems("label_selectors", label_selectors))


def is_suspended(obj):
    return bool((obj.get("spec") or {}).get("suspend"))


def summarize(obj):
    """What ``flux get`` prints of an object, as data."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ready = condition(obj, "Ready") or {}
    return dict(
        kind=obj.get("kind"), name=metadata.get("name"), namespace=metadata.get("namespace"),
        ready=ready.get("status", "Unknown"), reason=ready.get("reason", ""), message=ready.get("message", ""),
        revision=revision(obj), suspended=is_suspended(obj),
        generation=metadata.get("generation"), observed_generation=status.get("observedGeneration"),
        last_handled_reconcile_at=status.get("lastHandledReconcileAt", ""),
        conditions=status.get("conditions") or [],
        webhook_path=status.get("webhookPath", ""),
    )
