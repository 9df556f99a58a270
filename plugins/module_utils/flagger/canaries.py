# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canaries on the API server: read, apply, delete, their events, their target; and the
options of the modules that name them, checked before any of that.

All through kube/api.py (one request path, no discovery): a ``canary_info`` call costs
one request for the canaries and one for their events.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.build import (
    build_canary,
    canary_identity,
    field_origins,
    identity_errors,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import summarize
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.validate import CanarySpecError, validate_canary
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import (
    Inputs,
    name_problems,
    url_credentials,
    url_problems,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import (
    CANARY,
    FIELD_MANAGER,
    METRIC_TEMPLATE,
    WORKLOADS,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.events import group_events, object_events
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import label_selector_problems

_IGNORED_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


# More events than anyone reads per canary; the request itself is one list either way.
EVENTS_MAX = 1000


class TargetError(CollectionError):
    """The canary's target cannot take the change asked for."""


def check_canary_options(params):
    """Refuse the canary module's options before anything is read or written.

    ``absent``: the Canary must be named (option or definition), validly. ``present``:
    the whole Canary as built is checked against Flagger's schema and semantics (without
    the server look-ups, which come once connected; each problem names the option, or the
    definition, its field came from), and no address may carry credentials: they would be
    stored in the Canary, readable by whoever reads canaries.
    Raises CanarySpecError, its ``errors`` each starting with the field's path, as the
    server-side checks word theirs.
    """
    namespace, name = canary_identity(params)
    problems = identity_errors(params)
    for field, option, value, kind in (("metadata.name", "name", name, "subdomain"),
                                       ("metadata.namespace", "namespace", namespace, "label")):
        where = "%s (option %s)" % (field, option) if params.get(option) else "%s (in definition)" % field
        if value is not None:
            problems += name_problems(where, value, kind=kind)
        if params.get(option) == "" and value is not None:
            problems.append("%s (option %s) may not be empty (it does not fall back to definition's metadata)"
                            % (field, option))
    if params["state"] == "present":
        problems += url_problems("spec.analysis.webhooks (option loadtester_url)", params.get("loadtester_url"),
                                 required=False)
        for index, hook in enumerate(params.get("webhooks") or []):
            url = hook.get("url") if isinstance(hook, dict) else None
            if url_credentials(url):
                problems += url_problems("spec.analysis.webhooks[%d].url (option webhooks[%d].url)" % (index, index),
                                         url)
    if problems:
        raise CanarySpecError("%s/%s" % (namespace or "<no namespace>", name or "<no name>"), problems)
    if params["state"] == "present":
        validate_canary(build_canary(params), origins=field_origins(params))


def check_info_options(params):
    """Refuse canary_info's options (InputError) before anything is read: an empty name or
    namespace never widens the report, a selector is checked, events are bounded."""
    inputs = Inputs("canary_info %s" % ("canary %s/%s" % (params["namespace"], params["name"]) if params["name"]
                                        else "canaries in %s" % (params["namespace"] or "all namespaces")))
    inputs.name("name", params["name"], required=False)
    inputs.namespace("namespace", params["namespace"], required=False)
    inputs.add(label_selector_problems("label_selectors", params["label_selectors"]))
    inputs.number("events", params["events"], 0, EVENTS_MAX)
    inputs.done()


def get_canary(kube, namespace, name):
    return kube.get(CANARY, namespace, name)


def list_canaries(kube, namespace=None, label_selector=None):
    return kube.list(CANARY, namespace, label_selector=label_selector)[0]


def canary_events(kube, namespace, name=None, limit=20):
    """Events Flagger recorded on canaries (of one name, or all), oldest first."""
    return object_events(kube, "Canary", namespace, name, limit=limit, key="canary")


def events_by_canary(events):
    return group_events(events, key="canary")


def report(kube, namespace=None, name=None, label_selectors=(), events=10):
    """canary_info's report: a summary of each canary (status.py) with its last ``events`` events.

    One request for the canaries (one GET with ``name``, which needs ``namespace``) and, when
    there are canaries and ``events`` > 0, one for their events. Sorted by namespace and name.
    """
    if name:
        found = get_canary(kube, namespace, name)
        items = [found] if found else []
    else:
        items = list_canaries(kube, namespace, ",".join(label_selectors) or None)
    grouped = {}
    if items and events > 0:
        grouped = events_by_canary(canary_events(kube, namespace, name, limit=0))
    entries = []
    for canary in items:
        entry = summarize(canary)
        entry["events"] = grouped.get("%s/%s" % (entry["namespace"], entry["name"]), [])[-events:] if events > 0 else []
        entries.append(entry)
    return sorted(entries, key=lambda entry: (entry["namespace"], entry["name"]))


def metric_template_lookup(kube):
    def exists(namespace, name):
        return kube.get(METRIC_TEMPLATE, namespace, name) is not None

    return exists


def target_lookup(kube):
    """``exists(kind, namespace, name)`` for a canary's target."""
    def exists(kind, namespace, name):
        resource = WORKLOADS.get(kind)
        return resource is None or kube.get(resource, namespace, name) is not None

    return exists


def comparable(obj):
    """An object without the fields the server changes on every write."""
    if not obj:
        return obj
    result = dict(obj)
    result.pop("status", None)
    metadata = dict(result.get("metadata") or {})
    for key in _IGNORED_METADATA:
        metadata.pop(key, None)
    result["metadata"] = metadata
    return result


def _strict_apply(kube, canary, dry_run):
    """Server-side apply of ``canary`` with ``fieldValidation=Strict``.

    Without it the API server prunes a field the CRD does not know and answers 200; with
    it the apply fails and names the field. Kube.apply cannot ask for that, and the
    kubernetes client's ``request`` passes only the query parameters it knows by name,
    so the parameter goes as a raw query parameter (a fresh list: the client appends to it).
    """
    namespace, name = canary["metadata"]["namespace"], canary["metadata"]["name"]
    return kube.request("PATCH", CANARY.path(namespace, name),
                        "applying (dry run)" if dry_run else "applying", CANARY.describe(namespace, name),
                        body=canary, content_type="application/apply-patch+yaml", field_manager=FIELD_MANAGER,
                        force_conflicts=True, dry_run="All" if dry_run else None,
                        query_params=[("fieldValidation", "Strict")])


def apply_canary(kube, canary, check_mode):
    """Server-side apply; a dry run first decides whether anything would change.

    Both requests ask for strict field validation, so a field the API server would drop
    fails the dry run instead. Returns ``(changed, before, after)``. In check mode only
    the dry run is made.
    """
    namespace, name = canary["metadata"]["namespace"], canary["metadata"]["name"]
    before = get_canary(kube, namespace, name)
    preview = _strict_apply(kube, canary, dry_run=True)
    changed = comparable(before) != comparable(preview)
    after = preview
    if changed and not check_mode:
        after = _strict_apply(kube, canary, dry_run=False)
    return changed, before, after


def delete_canary(kube, namespace, name, check_mode):
    """Returns ``(changed, before)``; check mode deletes with a server-side dry run."""
    before = get_canary(kube, namespace, name)
    if before is None:
        return False, None
    kube.delete(CANARY, namespace, name, dry_run=check_mode)
    return True, before


def target_of(canary):
    """``(resource, namespace, name)`` of the workload whose pod template a release changes."""
    target = (canary.get("spec") or {}).get("targetRef") or {}
    kind = target.get("kind") or "Deployment"
    resource = WORKLOADS.get(kind)
    if resource is None:
        raise TargetError("canary %s/%s: its target kind %s has no pod template to change" % (
            canary["metadata"].get("namespace"), canary["metadata"].get("name"), kind))
    return resource, canary["metadata"]["namespace"], target.get("name")


def get_target(kube, canary):
    resource, namespace, name = target_of(canary)
    target = kube.get(resource, namespace, name)
    if target is None:
        raise TargetError("canary %s/%s: its target %s %s/%s does not exist" % (
            namespace, canary["metadata"]["name"], resource.kind, namespace, name))
    return target


def patch_target(kube, canary, patch, check_mode):
    resource, namespace, name = target_of(canary)
    return kube.patch(resource, namespace, name, patch, dry_run=check_mode)


def pod_template(workload):
    return ((workload or {}).get("spec") or {}).get("template") or {}


def template_patch(target, images=None, env=None, env_container=None, annotations=None):
    """A strategic-merge patch of the target's pod template, or None if nothing would change.

    ``images`` maps container name to image; ``env`` maps variable to a string value, set
    on ``env_container`` (or on every container); ``annotations`` go on the pod template.
    """
    template = pod_template(target)
    containers = (template.get("spec") or {}).get("containers") or []
    names = [container["name"] for container in containers]
    unknown = sorted(set(images or {}) - set(names))
    if env_container and env_container not in names:
        unknown.append(env_container)
    if unknown:
        raise TargetError("%s %s/%s has no container named %s (it has %s)" % (
            target.get("kind", "Deployment"), target["metadata"]["namespace"], target["metadata"]["name"],
            ", ".join(unknown), ", ".join(names)))
    patched = []
    for container in containers:
        change = {"name": container["name"]}
        wanted_image = (images or {}).get(container["name"])
        if wanted_image and wanted_image != container.get("image"):
            change["image"] = wanted_image
        if env and (not env_container or env_container == container["name"]):
            current = {item.get("name"): item for item in container.get("env") or []}
            changed_env = [_env_entry(key, value, current.get(key) or {}) for key, value in sorted(env.items())
                           if (current.get(key) or {}).get("value") != value or (current.get(key) or {}).get("valueFrom")]
            if changed_env:
                change["env"] = changed_env
        if len(change) > 1:
            patched.append(change)
    current_annotations = (template.get("metadata") or {}).get("annotations") or {}
    new_annotations = {key: value for key, value in (annotations or {}).items()
                       if current_annotations.get(key) != value}
    if not patched and not new_annotations:
        return None
    patch = {"spec": {"template": {}}}
    if patched:
        patch["spec"]["template"]["spec"] = {"containers": patched}
    if new_annotations:
        patch["spec"]["template"]["metadata"] = {"annotations": new_annotations}
    return patch


def _env_entry(name, value, current):
    entry = {"name": name, "value": value}
    if current.get("valueFrom"):
        # A value replaces a reference; both at once is rejected by the API server.
        entry["valueFrom"] = None
    return entry


def without_env_values(patch):
    """The patch as a result may show it: env values left out (they may be credentials)."""
    if not patch:
        return patch
    shown = {"spec": {"template": dict(patch["spec"]["template"])}}
    spec = patch["spec"]["template"].get("spec")
    if spec:
        shown["spec"]["template"]["spec"] = {"containers": [
            dict(container, env=[{"name": item["name"]} for item in container["env"]]) if "env" in container
            else container for container in spec["containers"]]}
    return shown
