# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canaries on the API server: read, apply, delete, their events, their target.

Reads go straight to the resource paths (``/apis/flagger.app/v1beta1/...``) through the
kubernetes.core client, without API discovery: a ``canary_info`` call costs one request
for the canaries and one for their events.
"""

from __future__ import annotations

import json

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.spec import API_VERSION

FIELD_MANAGER = "gitops.progressive"
_IGNORED_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


def _not_found(error):
    return getattr(error, "status", None) == 404


def canaries_path(namespace=None, name=None):
    path = "/apis/%s" % API_VERSION
    if namespace:
        path += "/namespaces/%s" % namespace
    path += "/canaries"
    return path + ("/%s" % name if name else "")


def _request(client, method, path, **params):
    """A raw request through the dynamic client; returns the decoded JSON body."""
    response = client.client.request(method, path, serialize=False, **params)
    data = response.data if hasattr(response, "data") else response.read()
    return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


def get_canary(client, namespace, name):
    try:
        return _request(client, "GET", canaries_path(namespace, name))
    except Exception as error:  # pylint: disable=broad-except
        if _not_found(error):
            return None
        raise


def list_canaries(client, namespace=None, label_selector=None):
    body = _request(client, "GET", canaries_path(namespace), label_selector=label_selector)
    return body.get("items") or []


def canary_events(client, namespace, name=None, limit=20):
    """Events Flagger recorded on canaries (of one name, or all), oldest first."""
    selector = "involvedObject.kind=Canary"
    if name:
        selector += ",involvedObject.name=%s" % name
    path = "/api/v1/namespaces/%s/events" % namespace if namespace else "/api/v1/events"
    items = _request(client, "GET", path, field_selector=selector).get("items") or []
    items.sort(key=_event_time)
    events = [{"time": _event_time(item), "type": item.get("type"), "reason": item.get("reason"),
               "message": item.get("message"), "count": item.get("count") or 1,
               "canary": "%s/%s" % (item["involvedObject"].get("namespace"), item["involvedObject"].get("name"))}
              for item in items]
    return events[-limit:] if limit else events


def _event_time(event):
    return (event.get("lastTimestamp") or event.get("eventTime") or
            (event.get("metadata") or {}).get("creationTimestamp") or "")


def events_by_canary(events):
    grouped = {}
    for event in events:
        grouped.setdefault(event["canary"], []).append(event)
    return grouped


def metric_template_lookup(client):
    def exists(namespace, name):
        try:
            _request(client, "GET", "/apis/%s/namespaces/%s/metrictemplates/%s" % (API_VERSION, namespace, name))
            return True
        except Exception as error:  # pylint: disable=broad-except
            if _not_found(error):
                return False
            raise

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


def apply_canary(client, canary, check_mode):
    """Server-side apply; a dry run first decides whether anything would change.

    Returns ``(changed, before, after)``. In check mode only the dry run is made.
    """
    namespace, name = canary["metadata"]["namespace"], canary["metadata"]["name"]
    before = get_canary(client, namespace, name)
    path = canaries_path(namespace, name)
    params = dict(content_type="application/apply-patch+yaml", field_manager=FIELD_MANAGER, force_conflicts=True)
    preview = _request(client, "PATCH", path, body=canary, dry_run="All", **params)
    changed = comparable(before) != comparable(preview)
    after = preview
    if changed and not check_mode:
        after = _request(client, "PATCH", path, body=canary, **params)
    return changed, before, after


def delete_canary(client, namespace, name, check_mode):
    """Returns ``(changed, before)``; check mode deletes with a server-side dry run."""
    before = get_canary(client, namespace, name)
    if before is None:
        return False, None
    try:
        _request(client, "DELETE", canaries_path(namespace, name), dry_run="All" if check_mode else None)
    except Exception as error:  # pylint: disable=broad-except
        if not _not_found(error):
            raise
    return True, before


def target_path(canary):
    target = (canary.get("spec") or {}).get("targetRef") or {}
    kind = target.get("kind") or "Deployment"
    plural = {"Deployment": "deployments", "DaemonSet": "daemonsets"}.get(kind)
    if plural is None:
        raise ValueError("canary target kind %s has no pod template to change" % kind)
    return "/apis/apps/v1/namespaces/%s/%s/%s" % (canary["metadata"]["namespace"], plural, target["name"])


def template_patch(target, images=None, env=None, env_container=None, annotations=None):
    """A strategic-merge patch of the target's pod template, or None if nothing would change.

    ``images`` maps container name to image; ``env`` maps variable to value, set on
    ``env_container`` (or on every container); ``annotations`` go on the pod template.
    """
    template = ((target.get("spec") or {}).get("template") or {})
    containers = (template.get("spec") or {}).get("containers") or []
    names = [container["name"] for container in containers]
    unknown = sorted(set(images or {}) - set(names))
    if env_container and env_container not in names:
        unknown.append(env_container)
    if unknown:
        raise ValueError("%s %s/%s has no container named %s (it has %s)" % (
            target.get("kind", "Deployment"), target["metadata"]["namespace"], target["metadata"]["name"],
            ", ".join(unknown), ", ".join(names)))
    patched = []
    for container in containers:
        change = {"name": container["name"]}
        wanted_image = (images or {}).get(container["name"])
        if wanted_image and wanted_image != container.get("image"):
            change["image"] = wanted_image
        if env and (not env_container or env_container == container["name"]):
            current = {item.get("name"): item.get("value") for item in container.get("env") or []}
            changed_env = [{"name": key, "value": str(value)} for key, value in sorted(env.items())
                           if current.get(key) != str(value)]
            if changed_env:
                change["env"] = changed_env
        if len(change) > 1:
            patched.append(change)
    current_annotations = (template.get("metadata") or {}).get("annotations") or {}
    new_annotations = {key: str(value) for key, value in (annotations or {}).items()
                       if current_annotations.get(key) != str(value)}
    if not patched and not new_annotations:
        return None
    patch = {"spec": {"template": {}}}
    if patched:
        patch["spec"]["template"]["spec"] = {"containers": patched}
    if new_annotations:
        patch["spec"]["template"]["metadata"] = {"annotations": new_annotations}
    return patch


def get_target(client, canary):
    return _request(client, "GET", target_path(canary))


def patch_target(client, canary, patch, check_mode):
    return _request(client, "PATCH", target_path(canary), body=patch,
                    content_type="application/strategic-merge-patch+json",
                    dry_run="All" if check_mode else None)
