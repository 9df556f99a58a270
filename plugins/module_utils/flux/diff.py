# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Kustomization path would change in the cluster, before it is pushed (``flux diff``).

The path is rendered the way kustomize-controller renders it: ``kustomize build`` when it
has a ``kustomization.yaml``, otherwise every YAML file under it. Each object is then
applied as a server-side *dry run* (admission, defaulting and field ownership included,
nothing stored) and compared with the live object. Objects in the Kustomization's
inventory that the path no longer has are reported as deleted when the Kustomization
prunes.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux.objects import KUSTOMIZATION
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, quote

# Fields the server owns: never part of a difference people care about.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FLUX_FIELD_MANAGER = "kustomize-controller"
KUSTOMIZE_TIMEOUT = 120


class DiffError(CollectionError):
    """The path cannot be rendered or an object cannot be dry-run applied."""


def check_options(path, kustomization=None, namespace="flux-system", kustomize=None):
    """Refuse (InputError) flux_diff options before anything is rendered or requested."""
    inputs = Inputs("flux_diff %s" % quote(path))
    if not isinstance(path, str) or not path.strip():
        inputs.add(["path may not be empty (a directory to render)"])
    elif any(part == ".git" for part in path.replace(os.sep, "/").split("/")):
        inputs.add(["path may not be in git's own directory .git: %s" % quote(path)])
    elif not os.path.isdir(path):
        inputs.add(["path must be a directory, got %s" % quote(path)])
    inputs.name("kustomization", kustomization, required=False)
    inputs.namespace("namespace", namespace)
    if kustomize is not None:
        if not kustomize:
            inputs.add(["kustomize_command may not be empty (leave it out to find kustomize or kubectl on PATH)"])
        inputs.add(["kustomize_command[%d] may not be empty" % index for index, word in enumerate(kustomize)
                    if not isinstance(word, str) or not word.strip()])
    inputs.done()


def _inside(path, root):
    """Whether ``path`` (symbolic links resolved) is ``root`` or below it."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def render(path, kustomize=None):
    """The objects a Kustomization at ``path`` would apply (a list of dicts).

    A file that a symbolic link takes out of ``path`` is refused, as kustomize-controller's
    file system refuses it: what is shown must be what Flux would apply.
    """
    import yaml

    if not os.path.isdir(path):
        raise DiffError("path: %s is not a directory" % path)
    if any(os.path.exists(os.path.join(path, name)) for name in _KUSTOMIZATION_FILES):
        if not kustomize:
            raise DiffError("path: %s has a kustomization.yaml; building it needs kustomize or kubectl "
                            "on PATH (option kustomize_command)" % path)
        try:
            result = subprocess.run(list(kustomize) + [path], capture_output=True, text=True, check=False,
                                    timeout=KUSTOMIZE_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DiffError("%s %s: %s" % (" ".join(kustomize), path, error))
        if result.returncode != 0:
            raise DiffError("kustomize build %s failed: %s" % (path, result.stderr.strip()))
        texts = [result.stdout]
    else:
        texts = []
        for directory, subdirs, files in os.walk(path):
            subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
            for name in sorted(files):
                if name.endswith((".yaml", ".yml")):
                    if not _inside(os.path.join(directory, name), path):
                        raise DiffError("path: %s is a symbolic link out of %s; kustomize-controller refuses "
                                        "it" % (os.path.join(directory, name), path))
                    with open(os.path.join(directory, name)) as handle:
                        texts.append(handle.read())
    found = []
    for text in texts:
        try:
            found += [doc for doc in yaml.safe_load_all(text) if doc]
        except yaml.YAMLError as error:
            raise DiffError("path: %s holds invalid YAML: %s" % (path, error))
    for index, obj in enumerate(found):
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind") \
                or not (obj.get("metadata") or {}).get("name"):
            raise DiffError("path: %s: document %d is not a Kubernetes object (apiVersion, kind and "
                            "metadata.name are required)" % (path, index + 1))
    return found


def kustomize_command(explicit=None, which=None):
    """``kustomize build`` or ``kubectl kustomize``, whichever is on PATH (or ``explicit``)."""
    import shutil

    which = which or shutil.which
    if explicit:
        return explicit
    if which("kustomize"):
        return ["kustomize", "build"]
    if which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


# flux diff's masks (fluxcd/pkg ssa SanitizeUnstructuredData): the same text for every
# value, so the output tells whether a value changed and nothing else. Any text derived
# from the value (a hash, even truncated) lets a dictionary recover a guessable secret
# from task output and logs, and links equal secrets across objects and runs.
SECRET_MASK = "***"
SECRET_MASK_BEFORE = "*** (before)"
SECRET_MASK_AFTER = "*** (after)"
_SECRET_FIELDS = ("data", "stringData")


def _copy(obj):
    return json.loads(json.dumps(obj)) if obj is not None else None


def _drop_volatile(obj):
    if obj is None:
        return None
    metadata = obj.get("metadata") or {}
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    # kubectl's copy of the applied object: for a Secret, its values in clear.
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        metadata.pop("annotations", None)
    obj.pop("status", None)
    return obj


def _secret_values(obj, field):
    """The ``data`` or ``stringData`` map of a Secret, or None (not a Secret, no such map)."""
    if obj is None or obj.get("kind") != "Secret" or not isinstance(obj.get(field), dict):
        return None
    return obj[field]


def clean(obj):
    """A copy of ``obj`` as shown: no server-owned fields, a Secret's values all ``***``."""
    obj = _copy(obj)
    for field in _SECRET_FIELDS:
        values = _secret_values(obj, field)
        if values is not None:
            obj[field] = {key: SECRET_MASK for key in values}
    return _drop_volatile(obj)


def clean_pair(live, merged):
    """``(live, merged)`` as shown, side by side, like ``flux diff``.

    A Secret value that differs reads ``*** (before)`` / ``*** (after)``; one that is the
    same on both sides, or is on one side only, reads ``***``.
    """
    live, merged = _copy(live), _copy(merged)
    for field in _SECRET_FIELDS:
        before, after = _secret_values(live, field), _secret_values(merged, field)
        changed = {key for key in set(before or ()) & set(after or ()) if before[key] != after[key]}
        if before is not None:
            live[field] = {key: SECRET_MASK_BEFORE if key in changed else SECRET_MASK for key in before}
        if after is not None:
            merged[field] = {key: SECRET_MASK_AFTER if key in changed else SECRET_MASK for key in after}
    return _drop_volatile(live), _drop_volatile(merged)


def _text(obj):
    import yaml

    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True) if obj is not None else ""


def object_ref(obj):
    metadata = obj.get("metadata") or {}
    return "%s/%s/%s" % (obj.get("kind"), metadata.get("namespace") or "", metadata.get("name"))


def flux_labels(namespace, name):
    """The labels kustomize-controller puts on every object it applies."""
    return {"kustomize.toolkit.fluxcd.io/name": name, "kustomize.toolkit.fluxcd.io/namespace": namespace}


def diff_path(kube, objects_to_apply, target_namespace=None, inventory=(), prune=True, labels=None):
    """``(changes, before_text, after_text)``: per object its action and unified diff.

    ``labels`` are added to every object, as kustomize-controller adds its own."""
    changes, before_all, after_all = [], [], []
    rendered_ids = set()
    for obj in objects_to_apply:
        if labels:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        resource = kube.resource_for(obj["apiVersion"], obj["kind"])
        if resource is None:
            raise DiffError("%s: the API server has no kind %s in %s (is its CRD installed?)" % (
                object_ref(obj), obj["kind"], obj["apiVersion"]))
        metadata = obj.setdefault("metadata", {})
        if resource.namespaced:
            metadata["namespace"] = target_namespace or metadata.get("namespace") or "default"
        else:
            metadata.pop("namespace", None)
        namespace = metadata.get("namespace")
        rendered_ids.add(inventory_id(obj))
        live_obj = kube.get(resource, namespace, metadata["name"])
        try:
            # As kustomize-controller applies: fields it owns and the path dropped show as removed.
            dry_obj = kube.apply(resource, obj, dry_run=True, field_manager=FLUX_FIELD_MANAGER)
        except CollectionError as error:
            raise DiffError("%s: the API server refused it (dry run): %s" % (object_ref(obj), error))
        live, dry = clean_pair(live_obj, dry_obj)
        action = "created" if live is None else ("unchanged" if live == dry else "configured")
        entry = dict(kind=obj["kind"], namespace=namespace, name=metadata["name"], action=action)
        if action != "unchanged":
            entry["diff"] = "".join(difflib.unified_diff(
                _text(live).splitlines(True), _text(dry).splitlines(True),
                "live/%s" % object_ref(obj), "merged/%s" % object_ref(obj)))
            before_all.append(_text(live))
            after_all.append(_text(dry))
        changes.append(entry)
    if prune:
        for item in inventory:
            if item["id"] not in rendered_ids:
                namespace, name, _group, kind = split_inventory_id(item["id"])
                changes.append(dict(kind=kind, namespace=namespace or None, name=name, action="deleted"))
                before_all.append("# %s %s/%s\n" % (kind, namespace, name))
    return changes, "---\n".join(before_all), "---\n".join(after_all)


def inventory_id(obj):
    """kustomize-controller's inventory id: ``<namespace>_<name>_<group>_<kind>``."""
    metadata = obj.get("metadata") or {}
    group = obj["apiVersion"].rpartition("/")[0]
    return "%s_%s_%s_%s" % (metadata.get("namespace") or "", metadata["name"], group, obj["kind"])


def split_inventory_id(text):
    namespace, name, group, kind = text.split("_", 3)
    return namespace, name, group, kind


def for_kustomization(kube, namespace, name):
    """``(target namespace, inventory entries, prune)`` of a live Kustomization, or defaults."""
    obj = kube.get(KUSTOMIZATION, namespace, name)
    if obj is None:
        raise DiffError("%s not found" % KUSTOMIZATION.describe(namespace, name))
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return (spec.get("targetNamespace"), (status.get("inventory") or {}).get("entries") or [],
            bool(spec.get("prune")))


def diff_task(connect, path, kustomization=None, namespace="flux-system", kustomize=None, diff=False):
    """flux_diff's result: ``path`` rendered first, then ``connect()`` (a Kube) for the dry runs.

    ``kustomize`` is the task's command option (kustomize_command resolves it); with
    ``diff``, the live and would-be objects as the task's diff.
    """
    check_options(path, kustomization, namespace, kustomize)
    rendered = render(path, kustomize_command(kustomize))
    kube = connect()
    target_namespace, inventory, prune, labels = None, [], False, None
    if kustomization:
        target_namespace, inventory, prune = for_kustomization(kube, namespace, kustomization)
        labels = flux_labels(namespace, kustomization)
    changes, before, after = diff_path(kube, rendered, target_namespace, inventory, prune, labels)
    summary = {action: sum(1 for entry in changes if entry["action"] == action)
               for action in ("created", "configured", "unchanged", "deleted")}
    result = dict(changed=any(entry["action"] != "unchanged" for entry in changes), changes=changes, summary=summary)
    if diff:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    return result
