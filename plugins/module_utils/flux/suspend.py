# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Suspend and resume Flux objects (``flux suspend`` / ``flux resume``), by name or in bulk.

A suspended object keeps what it applied and ignores new revisions until resumed. The
change is ``spec.suspend`` through a merge patch, made only where it differs (a second
run changes nothing). Resuming also requests a reconcile, as ``flux resume`` does, so
what was pushed meanwhile is applied at once; the caller may wait for it.

Nothing is selected by leaving options out: without ``name`` or ``label_selectors`` the
task acts on every object of its kinds (in a namespace, or in all of them, flux-system's
own sync included) only with ``all``, as ``flux suspend`` needs ``--all``. Label
selectors select in ``namespace``, or in every namespace only with ``all`` too: a
selector of absent labels (``!x``, ``x notin (y)``) matches every object.
"""

from __future__ import annotations

import time

from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
from ansible_collections.gitops.progressive.plugins.module_utils.flux.reconcile import (
    FluxError,
    request_token,
    wait_handled,
)
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs


def select(kube, kinds, namespace=None, name=None, label_selector=None):
    """The objects of ``kinds`` (Resources) that match; one named object must exist."""
    found = []
    for resource in kinds:
        if name:
            obj = kube.get(resource, namespace, name)
            if obj is not None:
                obj.setdefault("kind", resource.kind)
                found.append((resource, obj))
            continue
        items, _version = kube.list(resource, namespace, label_selector=label_selector)
        found += [(resource, item) for item in items]
    if name and not found:
        raise FluxError("%s not found" % " or ".join(resource.describe(namespace, name) for resource in kinds))
    return found


def set_suspended(kube, selected, suspend, check_mode=False, now=None):
    """Suspend or resume each selected object; returns the entries that changed."""
    changed = []
    for resource, obj in selected:
        if objects.is_suspended(obj) == suspend:
            continue
        metadata = obj["metadata"]
        patch = {"spec": {"suspend": suspend}}
        token = None
        if not suspend:
            token = request_token(now)
            patch["metadata"] = {"annotations": {objects.REQUESTED_AT: token}}
        kube.patch(resource, metadata.get("namespace"), metadata["name"], patch, dry_run=check_mode,
                   patch_type="merge")
        # What Flux handled before this request: any change of it afterwards is a handled request,
        # whatever the token's format (the Receiver writes its own).
        changed.append(dict(kind=resource.kind, namespace=metadata.get("namespace"), name=metadata["name"],
                            requested_at=token, resource=resource,
                            handled_before=(obj.get("status") or {}).get("lastHandledReconcileAt")))
    return changed


def wait_resumed(kube, changed, timeout, clock):
    """Wait until every resumed object handled its reconcile and is ready."""
    deadline = clock() + timeout
    for entry in changed:
        left = deadline - clock()
        if left <= 0:
            raise FluxError("resume: the timeout of %d s ran out before %s was ready" % (
                timeout, entry["resource"].describe(entry["namespace"], entry["name"])))
        verdict = wait_handled(kube, entry["resource"], entry["namespace"], entry["name"], entry["requested_at"],
                               left, clock=clock, handled_before=entry["handled_before"])
        entry["revision"] = verdict.data.get("revision")


def public(entries):
    return [{key: value for key, value in entry.items() if key not in ("resource", "handled_before")}
            for entry in entries]


def check_options(kind_names, namespace=None, name=None, label_selectors=(), state="suspended", select_all=False):
    """Refuse (InputError) what flux_suspend cannot act on, or would act on more widely than asked."""
    inputs = Inputs("flux_suspend %s" % objects.describe_selection(kind_names or [], namespace or None, name))
    inputs.add(objects.kinds_problems("kinds", kind_names, objects.SUSPENDABLE, "has no spec.suspend"))
    inputs.add(objects.selection_problems(namespace, name, label_selectors))
    if name and label_selectors:
        inputs.add(["name and label_selectors are exclusive: one object by name, or those the labels select"])
    if select_all and name:
        inputs.add(["all selects every object of kinds (those label_selectors match, when given); it goes without "
                    "name"])
    if not (name or label_selectors or select_all) and name != "":
        inputs.dangerous("name", "neither name nor label_selectors is given, so every %s in %s would be %s" % (
            " and ".join(kind_names or ["object"]), "namespace %s" % namespace if namespace
            else "all namespaces (flux-system's own sync included)", state), "all")
    if label_selectors and not name and namespace is None and not select_all:
        # A selector of absent labels (!x, x notin (y)) matches every object: across namespaces that takes
        # flux-system's own sync too.
        what = ("label_selectors without a namespace select in all namespaces, flux-system's own sync included "
                "(a selector such as !x or x notin (y) matches every %s)" % " and ".join(kind_names or ["object"]))
        inputs.dangerous("namespace", what, "all")
    inputs.done()


def suspend_task(connect, kind_names, namespace=None, name=None, label_selectors=(), state="suspended", wait=True,
                 wait_timeout=300, check_mode=False, clock=time.monotonic, select_all=False):
    """flux_suspend's result; ``connect()`` gives the Kube once the options are known good.

    ``select_all``: act on every object of the kinds (the ``all`` option), needed when
    neither ``name`` nor ``label_selectors`` narrows the selection, and for label
    selectors without a ``namespace`` (they then select in every namespace).
    With ``wait``, resumed objects are awaited (all within ``wait_timeout``); never in check mode.
    """
    check_options(kind_names, namespace, name, label_selectors, state, select_all)
    kinds = objects.kinds_of(kind_names)
    kube = connect()
    selected = select(kube, kinds, namespace, name, ",".join(label_selectors) or None)
    changed = set_suspended(kube, selected, state == "suspended", check_mode)
    if changed and state == "resumed" and wait and not check_mode:
        wait_resumed(kube, changed, wait_timeout, clock)
    return dict(changed=bool(changed), changed_objects=public(changed), matched=len(selected))
