# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary module's task: a Canary present (validated, applied, taken over by Flagger) or absent.

Every failure is a CollectionError whose message names the Canary; one that happens
after something was written carries the task's result so far in its details (``changed``,
``canary``, ``phase``), so a failed wait still says what the task did.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.build import (
    build_canary,
    canary_identity,
    field_origins,
    identity_errors,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import strategy_of
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.spec import (
    deleted_predicate,
    initialised_predicate,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import failure_reason
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.validate import validate_canary
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import CANARY
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import WaitTimeout, wait_for


class InitialisationError(CollectionError):
    """Flagger did not take the applied Canary over (it failed, or the wait ran out)."""


def describe(params):
    """``Canary namespace/name`` from the options or the definition, as every message names it."""
    namespace, name = canary_identity(params)
    return "Canary %s/%s" % (namespace or "<no namespace>", name or "<no name>")


def wait_canary(kube, namespace, name, predicate, timeout):
    """The wait engine on one canary; returns its Verdict (WaitTimeout carries the last one)."""
    lister, watcher = kube.source(CANARY, namespace, name)
    return wait_for(lister, watcher, predicate, timeout)


def flagger_said(kube, namespace, name, canary):
    """Flagger's own words about the canary: its warnings, else the Promoted condition's message."""
    reason = failure_reason(canaries.canary_events(kube, namespace, name))
    if reason == "no events from Flagger":
        conditions = ((canary or {}).get("status") or {}).get("conditions") or []
        reason = "; ".join(item.get("message") or "" for item in conditions if item.get("message")) or reason
    return reason


def ensure_canary(connect, params, check_mode=False, diff=False):
    """The canary module's result for ``params``; ``connect()`` gives the Kube (kube/api.py).

    It is called only once the options name a Canary, so a task without a name never
    needs a cluster to be told so.
    """
    if params["state"] == "absent":
        problems = identity_errors(params)
        if problems:
            raise CollectionError("%s: %s" % (describe(params), "; ".join(problems)), errors=problems)
        return ensure_absent(connect(), params, check_mode, diff)
    return ensure_present(connect(), params, check_mode, diff)


def ensure_absent(kube, params, check_mode=False, diff=False):
    namespace, name = canary_identity(params)
    changed, before = canaries.delete_canary(kube, namespace, name, check_mode)
    result = dict(changed=changed)
    if diff:
        result["diff"] = dict(before=canaries.comparable(before) or {}, after={})
    if params["wait"] and not check_mode:
        try:
            wait_canary(kube, namespace, name, deleted_predicate("%s/%s" % (namespace, name)), params["wait_timeout"])
        except WaitTimeout as error:
            raise WaitTimeout("waiting for the deletion of %s: %s" % (describe(params), error),
                              last=error.last, error=error.error)
        result["phase"] = None
    return result


def ensure_present(kube, params, check_mode=False, diff=False):
    """Validate, apply (a server-side dry run decides ``changed``), then wait for Flagger when asked."""
    desired = validate_canary(build_canary(params), canaries.metric_template_lookup(kube),
                              canaries.target_lookup(kube), origins=field_origins(params))
    changed, before, after = canaries.apply_canary(kube, desired, check_mode)
    result = dict(changed=changed, canary=after, strategy=strategy_of(after["spec"].get("analysis")))
    if diff:
        result["diff"] = dict(before=canaries.comparable(before) or {}, after=canaries.comparable(after))
    if params["wait"] and not check_mode:
        wait_initialised(kube, params, result)
    return result


def wait_initialised(kube, params, result):
    """Wait until Flagger has taken the canary over; adds ``phase`` and the last ``canary`` to ``result``."""
    namespace, name = canary_identity(params)
    obj, timeout = describe(params), params["wait_timeout"]
    try:
        verdict = wait_canary(kube, namespace, name, initialised_predicate("%s/%s" % (namespace, name)), timeout)
    except WaitTimeout as error:
        last = error.last.data if error.last else {}
        raise InitialisationError("%s: Flagger had not initialised it after %ds (phase %s): %s" % (
            obj, timeout, last.get("phase") or "Pending", flagger_said(kube, namespace, name, last.get("canary"))),
            phase=last.get("phase"), **result)
    result["phase"] = verdict.data.get("phase")
    result["canary"] = verdict.data.get("canary") or result["canary"]
    if not verdict.ok:
        raise InitialisationError("%s: %s: %s" % (obj, verdict.message, flagger_said(
            kube, namespace, name, verdict.data.get("canary"))), **result)
    return result
