# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``flux get`` and ``flux events --for`` as data: one list request per kind, one events
request per kind that has objects."""

from __future__ import annotations

import os
import re
import time

from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
from ansible_collections.gitops.progressive.plugins.module_utils.flux.reconcile import FluxError, judge
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import at_or_after
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.events import group_events, object_events
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout, wait_for

# More events than anyone reads per object; the request itself is one list either way.
EVENTS_MAX = 1000


def flux_info(kube, kinds, namespace=None, name=None, label_selector=None, events=10):
    """Summaries of the Flux objects of ``kinds`` (Resources), each with its recent events.

    A kind whose CRD is not installed is skipped and named in ``missing_kinds``.
    """
    report, missing = [], []
    for resource in kinds:
        try:
            if name:
                obj = kube.get(resource, namespace, name)
                items = [obj] if obj else []
            else:
                items = kube.list(resource, namespace, label_selector=label_selector)[0]
        except ApiError as error:
            if error.status == 404:
                missing.append(resource.kind)
                continue
            raise
        grouped = {}
        if items and events > 0:
            grouped = group_events(object_events(kube, resource.kind, namespace, name, limit=0))
        for obj in items:
            obj.setdefault("kind", resource.kind)
            entry = objects.summarize(obj)
            entry["events"] = grouped.get("%s/%s" % (entry["namespace"], entry["name"]), [])[-events:] \
                if events > 0 else []
            report.append(entry)
    return report, missing


def wait_ready(kube, kinds, namespace, name, label_selector, timeout, clock, revision=None):
    """Wait until every matching object of ``kinds`` exists and is Ready at its generation.

    Kind by kind, within one deadline. Raises FluxError with Flux's message when one
    fails, or on timeout with what was still not ready.
    """
    deadline = clock() + timeout
    for resource in kinds:
        left = deadline - clock()
        if left <= 0:
            raise FluxError("the timeout of %d s ran out before the %ss were ready" % (timeout, resource.kind))
        lister, watcher = kube.source(resource, namespace, name, label_selector)

        def predicate(found, resource=resource):
            if name and not found:
                return Verdict(False, message="%s does not exist (yet)" % resource.describe(namespace, name))
            waiting = []
            for obj in found.values():
                obj.setdefault("kind", resource.kind)
                verdict = judge(obj, revision=revision if resource.kind != "Receiver" else None)
                if verdict.done and not verdict.ok:
                    return verdict
                if not verdict.done:
                    waiting.append(verdict.message)
            return Verdict(not waiting, message="; ".join(waiting))

        try:
            verdict = wait_for(lister, watcher, predicate, left, clock=clock)
        except WaitTimeout as error:
            raise FluxError("not ready within %d s: %s" % (
                timeout, error.last.message if error.last else "no answer from the API server"))
        if not verdict.ok:
            raise FluxError(verdict.message, object=verdict.data)


def check_options(kind_names, namespace=None, name=None, label_selectors=(), events=5, wait=False, revision=None,
                  revision_repo=None):
    """Refuse (InputError) flux_info options that select nothing they mean to, or wait for what never comes."""
    inputs = Inputs("flux_info %s" % objects.describe_selection(kind_names or [], namespace or None, name))
    inputs.add(objects.kinds_problems("kinds", kind_names))
    inputs.add(objects.selection_problems(namespace, name, label_selectors))
    inputs.number("events", events, 0, EVENTS_MAX)
    if inputs.add(objects.revision_problems("revision", revision, _kinds_named(kind_names))) and revision \
            and not wait:
        inputs.add(["revision is only waited for with wait: true; without it, it would be ignored"])
    if revision_repo is not None:
        if not isinstance(revision_repo, str) or not revision_repo.strip():
            inputs.add(["revision_repo may not be empty"])
        elif not os.path.isdir(revision_repo):
            inputs.add(["revision_repo must be a local git directory, got %r (not a directory)" % revision_repo])
        elif revision and not re.fullmatch(r"[0-9a-f]{7,40}", revision):
            inputs.add(["revision must be a commit SHA with revision_repo (a later commit can only be recognised "
                        "from a SHA), got %r" % revision])
    inputs.done()


def _kinds_named(kind_names):
    """The kinds among ``kind_names`` that are Flux kinds (the others are reported by kinds_problems)."""
    kinds = []
    for kind in kind_names or []:
        try:
            kinds.append(objects.kind_of(kind).kind)
        except objects.KindError:
            continue
    return kinds


def info_task(connect, kind_names, namespace=None, name=None, label_selectors=(), events=5, wait=False,
              wait_timeout=300, revision=None, revision_repo=None, clock=time.monotonic):
    """flux_info's result; ``connect()`` gives the Kube. With ``wait``, the objects are awaited first.

    ``revision_repo``: a git directory in which a later commit holding ``revision`` is
    accepted too (git/repo.py at_or_after).
    """
    check_options(kind_names, namespace, name, label_selectors, events, wait, revision, revision_repo)
    kinds = objects.kinds_of(kind_names)
    selector = ",".join(label_selectors) or None
    kube = connect()
    if wait:
        if revision and revision_repo:
            revision = at_or_after(revision, revision_repo)
        wait_ready(kube, kinds, namespace, name, selector, wait_timeout, clock, revision=revision)
    report, missing = flux_info(kube, kinds, namespace, name, selector, events)
    return dict(changed=False, objects=report, missing_kinds=missing)
