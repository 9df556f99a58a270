# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger Canary specs: built from structured options, validated before anything is written,
and waited for once applied.

- :mod:`build`: the Canary from the canary module's options (over ``definition``).
- :mod:`validate`: the Canary checked against Flagger v1.41.0's own CRD schema
  (vendored in :mod:`canary_crd`) and against what Flagger would quietly change or
  ignore; every error names the field by its full path and the object.
- here: when Flagger has taken a Canary over, or let it go.

The names imported below stay importable from here (status.py imports ``strategy_of``).
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.build import (  # noqa: F401
    API_VERSION,
    GATE_WEBHOOKS,
    KIND,
    build_canary,
    canary_identity,
    gate_webhooks,
    identity_errors,
    metric_from_option,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (  # noqa: F401
    MIN_ANALYSIS_INTERVAL,
    go_duration_seconds,
    strategy_of,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.validate import (  # noqa: F401
    BUILTIN_METRICS,
    PROVIDERS,
    CanarySpecError,
    validate_canary,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict

__all__ = ["API_VERSION", "BUILTIN_METRICS", "GATE_WEBHOOKS", "KIND", "MIN_ANALYSIS_INTERVAL", "PROVIDERS",
           "CanarySpecError", "build_canary", "canary_identity", "deleted_predicate", "gate_webhooks",
           "go_duration_seconds", "identity_errors", "initialised_predicate", "metric_from_option", "strategy_of",
           "validate_canary"]

# Phases in which Flagger has not (yet) taken the target over, or is letting go of it.
_NOT_INITIALISED = ("", "Initializing")
_LETTING_GO = ("Terminating", "Terminated")


# -- waiting for Flagger ----------------------------------------------------------------

def initialised_predicate(key):
    """A wait-engine predicate: done once Flagger has taken canary ``key`` ("namespace/name") over.

    Flagger reports ``Initialized`` (a new canary) and records ``lastAppliedSpec`` and
    ``lastPromotedSpec``; an existing canary is past that already (``Succeeded``, or a
    release in flight, or ``Failed`` after a rolled-back release: the primary serves).
    ``Failed`` before anything was ever promoted means the initialisation itself failed
    (the primary never became ready): that ends the wait at once, not ok.
    """

    def predicate(objects):
        canary = objects.get(key)
        if canary is None:
            return Verdict(done=True, ok=False, message="canary %s was deleted" % key, data={"phase": None})
        status = canary.get("status") or {}
        phase = status.get("phase") or ""
        data = {"phase": phase or "Pending", "canary": canary}
        promoted = bool(status.get("lastPromotedSpec"))
        if phase == "Failed" and not promoted:
            return Verdict(done=True, ok=False, data=data, message="Flagger could not initialise it (phase Failed)")
        if phase in _LETTING_GO:
            return Verdict(done=True, ok=False, data=data, message="the canary is being deleted (phase %s)" % phase)
        if phase not in _NOT_INITIALISED and status.get("lastAppliedSpec") and promoted:
            return Verdict(done=True, ok=True, data=data, message=phase)
        return Verdict(done=False, data=data, message=phase or "Pending")

    return predicate


def deleted_predicate(key):
    """Done once canary ``key`` is gone (Flagger's finalizer, with revertOnDeletion, may hold it a while)."""

    def predicate(objects):
        if key in objects:
            phase = ((objects[key].get("status") or {}).get("phase")) or "Pending"
            return Verdict(done=False, message="still there (phase %s)" % phase, data={"phase": phase})
        return Verdict(done=True, ok=True, message="deleted", data={"phase": None})

    return predicate
