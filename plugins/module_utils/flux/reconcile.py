# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request a Flux reconcile and wait until Flux has handled *that* request.

The protocol is Flux's own (``flux reconcile``): set the annotation
``reconcile.fluxcd.io/requestedAt`` to a fresh token; the controller copies the token
to ``status.lastHandledReconcileAt`` when it has reconciled because of it. Only then do
the object's conditions describe the result of the request; before that, ``Ready=True``
is the previous run's. The object is done when the request is handled and Ready is True
at the current generation (and, when asked, at a given revision); it failed when Flux
reports Ready=False or Stalled for the handled request.

No polling: the wait is the collection's one watch engine (kube/wait.py), with its hard
deadline; a controller that is not running never handles the request, and the timeout
says which controller that is.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
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


def _instant(text):
    """An RFC 3339 time (any fraction of a second) as a comparable tuple, or None."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text or "")
    if not match or match.group(3) not in ("Z", "+00:00"):
        return None
    return match.group(1), int((match.group(2) or "0").ljust(9, "0")[:9])


def handled(last, token):
    """Whether Flux has handled the request ``token``: it handled that token, or a later
    request (the Receiver annotates the source too, after a push; a later request
    handled means ours was superseded by one at least as fresh)."""
    if last == token:
        return True
    last_at, token_at = _instant(last), _instant(token)
    return last_at is not None and token_at is not None and last_at >= token_at


def describe(obj):
    metadata = obj.get("metadata") or {}
    return "%s %s/%s" % (obj.get("kind"), metadata.get("namespace"), metadata.get("name"))


def check_not_suspended(obj):
    if objects.is_suspended(obj):
        raise FluxError("%s is suspended: Flux will not reconcile it. Resume it first "
                        "(gitops.progressive.flux_suspend with state=resumed)." % describe(obj),
                        object=objects.summarize(obj))


def judge(obj, token=None, revision=None):
    """The verdict on one object for the request ``token`` (None: its current state).

    ``revision``: a commit SHA (or prefix) or a revision string the object must report,
    or a function that accepts the object's revision string or not.
    """
    if obj is None:
        return Verdict(False, message="the object does not exist (yet)")
    summary = objects.summarize(obj)
    name = describe(obj)
    status = obj.get("status") or {}
    if token is not None and not handled(status.get("lastHandledReconcileAt"), token):
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


def request(kube, resource, namespace, name, dry_run=False, now=None):
    """Annotate the object with a fresh request token; returns ``(token, object)``.

    Refuses (before writing) an object that does not exist or is suspended.
    """
    current = kube.get(resource, namespace, name)
    if current is None:
        raise FluxError("%s not found" % resource.describe(namespace, name))
    current.setdefault("kind", resource.kind)
    check_not_suspended(current)
    token = request_token(now)
    patched = kube.patch(resource, namespace, name, {"metadata": {"annotations": {objects.REQUESTED_AT: token}}},
                         dry_run=dry_run, patch_type="merge")
    patched.setdefault("kind", resource.kind)
    return token, patched


def wait_handled(kube, resource, namespace, name, token, timeout, revision=None, on_change=None,
                 clock=time.monotonic):
    """Wait until ``token`` is handled and the object is ready (at ``revision``).

    Returns the final Verdict; raises FluxError with Flux's message on failure or timeout.
    """
    lister, watcher = kube.source(resource, namespace, name)
    key = "%s/%s" % (namespace, name)

    def predicate(found):
        obj = found.get(key)
        if obj is not None:
            obj.setdefault("kind", resource.kind)
        return judge(obj, token, revision)

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
            token, _patched = request(self.kube, resource, namespace, name)
            # A source is awaited at the wanted revision too: the Kustomization can only
            # apply what its source has fetched.
            verdict = wait_handled(self.kube, resource, namespace, name, token, self._remaining(deadline),
                                   revision=self.revision, clock=self.clock)
            self.steps.append(dict(kind=resource.kind, namespace=namespace, name=name, requested_at=token,
                                   revision=verdict.data.get("revision"),
                                   seconds=round(self.clock() - step_started, 3)))
            self.report("%s reconciled at %s in %.1f s" % (
                resource.describe(namespace, name), verdict.data.get("revision"), self.clock() - step_started))
            final = verdict
        return dict(changed=True, objects=[final.data], revision=final.data.get("revision"),
                    commit=objects.commit_of(final.data.get("revision")),
                    seconds=round(self.clock() - started, 3), steps=self.steps)
