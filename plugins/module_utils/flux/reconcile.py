# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request a Flux reconcile and wait until Flux has handled *that* request.

The protocol is Flux's own (``flux reconcile``): record ``status.lastHandledReconcileAt``,
then set the annotation ``reconcile.fluxcd.io/requestedAt`` to a fresh token; the
controller copies the annotation to ``status.lastHandledReconcileAt`` when it has
reconciled because of it. The request counts as handled as soon as that field differs
from what was recorded, whatever the new value is: another client may have overwritten
our annotation before the controller read it (notification-controller's Receiver writes
``metav1.Now().String()``, e.g. ``2026-12-07 01:02:03.456 +0000 UTC m=+5.000000001``),
and that reconcile ran after our request too. Tokens are never compared as times: they
come from different machines' clocks. Whether the reconcile brought *this* commit is the
revision predicate's question, not the token's.

Only once the request is handled do the object's conditions describe its result; before
that, ``Ready=True`` is the previous run's. The object is done when the request is
handled and Ready is True at the current generation (and, when asked, at a given
revision); it failed when Flux reports Ready=False or Stalled for the handled request.

No polling: the wait is the collection's one watch engine (kube/wait.py), with its hard
deadline; a controller that is not running never handles the request, and the timeout
says which controller that is.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout, wait_for

# Reasons for Ready=False that Flux retries by itself: not a verdict yet.
RETRIED_REASONS = ("DependencyNotReady", "Progressing")


class FluxError(CollectionError):
    """Flux refused or failed a reconcile; the message is Flux's own, with the object."""


class FluxTimeout(FluxError):
    """Flux gave no verdict in time (not a failure Flux reported)."""


def request_token(now=None):
    """A token like the flux CLI's (RFC 3339 with nanoseconds), unique per request."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%09d" % (now.microsecond * 1000 + time.monotonic_ns() % 1000) + "Z"


# ``handled_before`` when the caller did not record it: then only our own token counts.
NOT_RECORDED = object()


def handled(last, token, handled_before=NOT_RECORDED):
    """Whether Flux has handled the request ``token``, given ``status.lastHandledReconcileAt``.

    ``handled_before``: that field as read before the annotation was written (None when
    Flux never handled a request). Any change from it means a reconcile ran on a request
    written after ours was, whatever the token's format. Without it, only ``token``
    itself proves the request handled.
    """
    if last is not None and last == token:
        return True
    if handled_before is NOT_RECORDED:
        return False
    return last is not None and last != handled_before


def describe(obj):
    metadata = obj.get("metadata") or {}
    return "%s %s/%s" % (obj.get("kind"), metadata.get("namespace"), metadata.get("name"))


def check_not_suspended(obj):
    if objects.is_suspended(obj):
        raise FluxError("%s is suspended: Flux will not reconcile it. Resume it first "
                        "(gitops.progressive.flux_suspend with state=resumed)." % describe(obj),
                        object=objects.summarize(obj))


def judge(obj, token=None, revision=None, handled_before=NOT_RECORDED):
    """The verdict on one object for the request ``token`` (None: its current state).

    ``revision``: a commit SHA (or prefix) or a revision string the object must report,
    or a function that accepts the object's revision string or not.
    ``handled_before``: ``status.lastHandledReconcileAt`` as read before the request was
    written (see ``handled``).
    """
    if obj is None:
        return Verdict(False, message="the object does not exist (yet)")
    summary = objects.summarize(obj)
    name = describe(obj)
    status = obj.get("status") or {}
    if token is not None and not handled(status.get("lastHandledReconcileAt"), token, handled_before):
        return Verdict(False, message="%s: waiting for %s to handle the reconcile request" % (
            name, objects.controller_of(obj.get("kind"))), data=summary)
    generation = (obj.get("metadata") or {}).get("generation")
    if status.get("observedGeneration") != generation:
        return Verdict(False, message="%s: generation %s not yet observed" % (name, generation), data=summary)
    ready = objects.condition(obj, "Ready") or {}
    stalled = objects.condition(obj, "Stalled") or {}
    reconciling = objects.condition(obj, "Reconciling") or {}
    if stalled.get("status") == "True":
        return Verdict(True, ok=False, message="%s is stalled: %s" % (name, stalled.get("message")), data=summary)
    if ready.get("status") == "True":
        if revision and not (revision(summary["revision"]) if callable(revision)
                             else objects.revision_matches(summary["revision"], revision)):
            return Verdict(False, message="%s: ready at %s, waiting for revision %s" % (
                name, summary["revision"] or "no revision",
                revision.__name__ if callable(revision) else revision), data=summary)
        return Verdict(True, ok=True, message="%s is ready at %s" % (name, summary["revision"]), data=summary)
    # Flux keeps Reconciling=True (reason ProgressingWithRetry) after a failure it will
    # retry: that is still this request's outcome, a failure.
    still_working = reconciling.get("status") == "True" and reconciling.get("reason") != "ProgressingWithRetry"
    if ready.get("status") == "False" and not still_working and ready.get("reason") not in RETRIED_REASONS:
        return Verdict(True, ok=False, message="%s is not ready (%s): %s" % (
            name, ready.get("reason"), ready.get("message")), data=summary)
    return Verdict(False, message="%s: %s" % (name, ready.get("message") or reconciling.get("message")
                                              or "reconciling"), data=summary)


def request_reconcile(kube, resource, namespace, name, dry_run=False, now=None):
    """Annotate the object with a fresh request token, as ``flux reconcile`` does.

    Returns ``(token, object, handled_before)``: ``handled_before`` is the object's
    ``status.lastHandledReconcileAt`` read just before the annotation was written (None
    when Flux never handled a request), for ``wait_handled``. Refuses (before writing)
    an object that does not exist or is suspended.
    """
    current = kube.get(resource, namespace, name)
    if current is None:
        raise FluxError("%s not found" % resource.describe(namespace, name))
    current.setdefault("kind", resource.kind)
    check_not_suspended(current)
    handled_before = (current.get("status") or {}).get("lastHandledReconcileAt")
    token = request_token(now)
    patched = kube.patch(resource, namespace, name, {"metadata": {"annotations": {objects.REQUESTED_AT: token}}},
                         dry_run=dry_run, patch_type="merge")
    patched.setdefault("kind", resource.kind)
    return token, patched, handled_before


def request(kube, resource, namespace, name, dry_run=False, now=None):
    """``request_reconcile`` without what was handled before: ``(token, object)``.

    A wait on this token alone finishes only when Flux handles that very token; use
    ``request_reconcile`` to also accept a request that replaced ours.
    """
    token, patched, _handled_before = request_reconcile(kube, resource, namespace, name, dry_run=dry_run, now=now)
    return token, patched


def wait_handled(kube, resource, namespace, name, token, timeout, revision=None, on_change=None,
                 clock=time.monotonic, handled_before=NOT_RECORDED):
    """Wait until ``token`` is handled and the object is ready (at ``revision``).

    ``handled_before``: ``status.lastHandledReconcileAt`` recorded before the request (from
    ``request_reconcile``); with it, any change of that field counts as handled.
    Returns the final Verdict; raises FluxError with Flux's message on failure or timeout.
    """
    lister, watcher = kube.source(resource, namespace, name)
    key = "%s/%s" % (namespace, name)

    def predicate(found):
        obj = found.get(key)
        if obj is not None:
            obj.setdefault("kind", resource.kind)
        return judge(obj, token, revision, handled_before)

    try:
        verdict = wait_for(lister, watcher, predicate, timeout, on_change=on_change, clock=clock)
    except WaitTimeout as error:
        last = error.last.message if error.last else "no answer from the API server"
        hint = ""
        if error.last and "to handle the reconcile request" in error.last.message:
            hint = " Is %s running?" % objects.controller_of(resource.kind)
        raise FluxTimeout("%s: not ready within %d s: %s.%s" % (
            resource.describe(namespace, name), timeout, last, hint),
            object=error.last.data if error.last else {})
    if not verdict.ok:
        raise FluxError(verdict.message, object=verdict.data)
    return verdict


def source_of(obj):
    """``(Resource, namespace, name)`` of the source an object applies, or None for a source."""
    try:
        return _source_of(obj)
    except ValueError as error:
        raise FluxError("%s: its source cannot be reconciled here: %s" % (describe(obj), error))


def _source_of(obj):
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    namespace = (obj.get("metadata") or {}).get("namespace")
    if kind == "Kustomization":
        ref = spec.get("sourceRef") or {}
        return objects.kind_of(ref.get("kind", "GitRepository")), ref.get("namespace") or namespace, ref.get("name")
    if kind == "HelmRelease":
        if spec.get("chartRef"):
            ref = spec["chartRef"]
            return objects.kind_of(ref["kind"]), ref.get("namespace") or namespace, ref.get("name")
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
        # helm-controller names the HelmChart it makes "<namespace>-<name>", in the source's namespace.
        return objects.HELM_CHART, ref.get("namespace") or namespace, "%s-%s" % (
            namespace, (obj.get("metadata") or {}).get("name"))
    return None


def check_options(params):
    """Refuse (InputError) flux_reconcile options that name no object, or a revision Flux never reports."""
    inputs = Inputs("flux_reconcile %s %s/%s" % (params["kind"], params["namespace"], params["name"]))
    inputs.name("name", params["name"])
    inputs.namespace("namespace", params["namespace"])
    inputs.add(objects.revision_problems("revision", params.get("revision"), [objects.kind_of(params["kind"]).kind]))
    inputs.done()


class Reconcile:
    """One ``flux reconcile [--with-source]`` with its wait; what ``flux_reconcile`` runs."""

    def __init__(self, kube, resource, namespace, name, timeout, with_source=False, revision=None,
                 report=None, clock=time.monotonic):
        self.kube, self.resource, self.namespace, self.name = kube, resource, namespace, name
        self.timeout, self.with_source, self.revision = timeout, with_source, revision
        self.report = report or (lambda line: None)
        self.clock = clock
        self.steps = []

    def _remaining(self, deadline):
        left = deadline - self.clock()
        if left <= 0:
            raise FluxTimeout("%s: the timeout of %d s ran out" % (
                self.resource.describe(self.namespace, self.name), self.timeout))
        return left

    def run(self, check_mode=False):
        started = self.clock()
        deadline = started + self.timeout
        target = self.kube.get(self.resource, self.namespace, self.name)
        if target is None:
            raise FluxError("%s not found" % self.resource.describe(self.namespace, self.name))
        target.setdefault("kind", self.resource.kind)
        check_not_suspended(target)
        chain = []
        if self.with_source:
            source = source_of(target)
            if source is not None:
                source_obj = self.kube.get(*source)
                if source_obj is None:
                    raise FluxError("%s: its source %s not found" % (
                        describe(target), source[0].describe(source[1], source[2])))
                source_obj.setdefault("kind", source[0].kind)
                check_not_suspended(source_obj)
                chain.append((source, source_obj))
        chain.append(((self.resource, self.namespace, self.name), target))
        if check_mode:
            return dict(changed=True, objects=[objects.summarize(obj) for _ref, obj in chain],
                        revision=objects.revision(target), seconds=0.0, steps=[])
        final = None
        for (resource, namespace, name), _obj in chain:
            step_started = self.clock()
            token, _patched, handled_before = request_reconcile(self.kube, resource, namespace, name)
            # A source is awaited at the wanted revision too: the Kustomization can only
            # apply what its source has fetched.
            verdict = wait_handled(self.kube, resource, namespace, name, token, self._remaining(deadline),
                                   revision=self.revision, clock=self.clock, handled_before=handled_before)
            self.steps.append(dict(kind=resource.kind, namespace=namespace, name=name, requested_at=token,
                                   revision=verdict.data.get("revision"),
                                   seconds=round(self.clock() - step_started, 3)))
            self.report("%s reconciled at %s in %.1f s" % (
                resource.describe(namespace, name), verdict.data.get("revision"), self.clock() - step_started))
            final = verdict
        return dict(changed=True, objects=[final.data], revision=final.data.get("revision"),
                    commit=objects.commit_of(final.data.get("revision")),
                    seconds=round(self.clock() - started, 3), steps=self.steps)
