# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edits a release makes to the platform repository, as pure functions on YAML text.

- :func:`set_images`: kustomize's ``images`` list of a ``kustomization.yaml``
  (``newTag`` / ``newName`` / ``digest`` per image name), the way ``kustomize edit set
  image`` and Flux's image automation change a version.
- :func:`ensure_kustomization_entries` / :func:`drop_kustomization_entries`: register a
  component, an app or an image in a kustomization's lists without touching the entries
  others own (an image's tag stays the releases').
- :func:`set_value`: a value at a YAML path in one document of a file, for what is not
  an image (an environment value, a replica count). Paths are dotted keys with list
  selectors: ``spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].value``
  or ``spec.ports[0].port``.

Each returns the new text and what it changed (``[(what, old, new)]``); nothing changed
means the repository already holds the release. A tag (or name, or digest) that changes
value is edited in place, so comments stay, Flux's image automation markers among them;
other edits go through PyYAML and do not keep comments.
"""

from __future__ import annotations

import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError


class EditError(CollectionError):
    """The file cannot take the edit; the message names the file and the path."""


def _load_all(text, where):
    import yaml

    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise EditError("%s is not valid YAML: %s" % (where, error))


def _dump_all(docs):
    import yaml

    return yaml.safe_dump_all(docs, default_flow_style=False, sort_keys=False)


def split_image(reference):
    """``(name, tag, digest)`` of ``registry/name:tag@sha256:…`` (tag or digest may be empty)."""
    name, _at, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def set_images(text, images, where="kustomization.yaml"):
    """Set ``images`` (``{name: tag or full reference}``) in a kustomization's ``images``."""
    docs = _load_all(text, where)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise EditError("%s must hold one kustomization document" % where)
    kustomization = docs[0]
    entries = kustomization.setdefault("images", [])
    if not isinstance(entries, list):
        raise EditError("%s: images must be a list" % where)
    changes, original = [], [dict(item) if isinstance(item, dict) else item for item in entries]
    for name, value in images.items():
        if not isinstance(value, str) or not value.strip():
            raise EditError("images.%s: expected a tag or an image reference, got %r" % (name, value))
        entry = next((item for item in entries if isinstance(item, dict) and item.get("name") == name), None)
        if entry is None:
            # A new entry would change no pod template: most likely a typo.
            raise EditError("images.%s: %s has no image of that name; it has %s" % (
                name, where, ", ".join(str(item.get("name")) for item in entries if isinstance(item, dict))
                or "no images"))
        before = _image_text(entry)
        if "/" in value or ":" in value or "@" in value:
            new_name, tag, digest = split_image(value)
            if new_name != name:
                entry["newName"] = new_name
            else:
                entry.pop("newName", None)
            _set_or_drop(entry, "newTag", tag)
            _set_or_drop(entry, "digest", digest)
        else:
            entry["newTag"] = value
            entry.pop("digest", None)
        after = _image_text(entry)
        if before != after:
            changes.append(("images.%s" % name, before, after))
    if not changes:
        return text, changes
    return _patch_in_place(text, original, entries, kustomization) or _dump_all(docs), changes


def _patch_in_place(text, before, after, wanted):
    """The edit made on the text itself, so that comments stay (Flux's image automation
    markers, ``# {"$imagepolicy": ...}``, ride on ``newTag`` lines): only values of keys
    that were there before change. None when that is not enough, or when the result does
    not parse to exactly ``wanted``."""
    import yaml

    lines = text.splitlines(True)
    for old, new in zip(before, after):
        if not isinstance(old, dict) or old == new:
            continue
        if set(old) != set(new):
            return None
        start = _item_line(lines, old.get("name"))
        if start is None:
            return None
        for key in old:
            if old[key] != new[key] and not _replace_value(lines, start, key, new[key]):
                return None
    patched = "".join(lines)
    try:
        return patched if yaml.safe_load(patched) == wanted else None
    except yaml.YAMLError:
        return None


def _item_line(lines, name):
    """Index of the line ``- name: <name>`` (or ``name: <name>`` inside a list item) in ``images``."""
    pattern = re.compile(r"^\s*(-\s+)?name:\s*[\"']?%s[\"']?\s*(#.*)?$" % re.escape(str(name)))
    in_images = False
    for index, line in enumerate(lines):
        if re.match(r"^images:\s*(#.*)?$", line):
            in_images = True
        elif re.match(r"^[^\s#-]", line):  # the next key (items may sit at the margin: "- name: ...")
            in_images = False
        elif in_images and pattern.match(line.rstrip("\n")):
            return index
    return None


def _key_line(lines, start, key):
    """``(index, match)`` of ``key``'s scalar line in the list item that holds line ``start``
    (groups: prefix, quote, value, trailing comment); None when the item has no such line."""
    index = start
    while index > 0 and not re.match(r"^\s*-\s", lines[index]):  # back to the item's dash
        index -= 1
    item_indent = len(re.match(r"^(\s*)", lines[index]).group(1))
    pattern = re.compile(r"^(\s*(?:-\s+)?%s:\s*)([\"']?)([^\"'#\n]*?)\2(\s*(?:#.*)?)$" % re.escape(key))
    for position in range(index, len(lines)):
        line = lines[position].rstrip("\n")
        indent = len(line) - len(line.lstrip())
        if position > index and line.strip() and not line.lstrip().startswith("#") and indent <= item_indent:
            break
        match = pattern.match(line)
        if match:
            return position, match
    return None


def _replace_value(lines, start, key, value):
    """Replace ``key``'s scalar in the list item that holds line ``start``, keeping its quotes
    and trailing comment. False when the item has no such line."""
    found = _key_line(lines, start, key)
    if found is None:
        return False
    position, match = found
    quote = match.group(2) or '"'
    lines[position] = "%s%s%s%s%s\n" % (match.group(1), quote, value, quote, match.group(4))
    return True


IMAGE_POLICY = "$imagepolicy"
_POLICY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


def mark_image_policies(text, policies, where="kustomization.yaml"):
    """Put Flux's image automation marker, ``# {"$imagepolicy": "<namespace>:<policy>:tag"}``,
    on the ``newTag`` line of each image of ``policies`` (``{image name: "<namespace>:<policy>"}``)
    so that image-automation-controller writes the tag its policy selects there. A line that
    carries a marker already keeps it. Returns ``(text, marked)``."""
    lines = text.splitlines(True)
    marked = []
    for name, policy in sorted(policies.items()):
        if not isinstance(policy, str) or not _POLICY.match(policy):
            raise EditError("%s: image %s: the image policy must be <namespace>:<name>, got %r" % (where, name, policy))
        start = _item_line(lines, name)
        found = _key_line(lines, start, "newTag") if start is not None else None
        if found is None:
            raise EditError("%s: image %s has no newTag line to put the policy %s on" % (where, name, policy))
        position, match = found
        if IMAGE_POLICY in (match.group(4) or ""):
            continue
        line = lines[position].rstrip("\n")
        body = line[:len(line) - len(match.group(4))] if match.group(4) else line
        lines[position] = '%s # {"%s": "%s:tag"}\n' % (body.rstrip(), IMAGE_POLICY, policy)
        marked.append(("images[%s]" % name, None, policy))
    return "".join(lines), marked


def _set_or_drop(entry, key, value):
    if value:
        entry[key] = value
    else:
        entry.pop(key, None)


def _image_text(entry):
    text = entry.get("newName") or entry.get("name")
    if entry.get("newTag"):
        text += ":" + str(entry["newTag"])
    if entry.get("digest"):
        text += "@" + entry["digest"]
    return text if (entry.get("newTag") or entry.get("digest") or entry.get("newName")) else ""


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^=\]]+)=([^\]]*)\]")


def parse_path(path):
    """``a.b[0].c[name=x]`` -> ``["a", "b", 0, "c", ("name", "x")]``."""
    steps, position = [], 0
    while position < len(path):
        if path[position] == ".":
            position += 1
            continue
        match = _STEP.match(path, position)
        if not match:
            raise EditError("path %r: cannot read it at %r" % (path, path[position:]))
        key, index, field, value = match.groups()
        steps.append(key if key is not None else int(index) if index is not None else (field, value))
        position = match.end()
    if not steps:
        raise EditError("path must not be empty")
    return steps


def _resolve(doc, steps):
    """The container holding the last step, and that step; None when the path is absent."""
    current = doc
    for step in steps[:-1]:
        current = _step(current, step)
        if current is None:
            return None, None
    return current, steps[-1]


def _step(current, step):
    if isinstance(step, str):
        return current.get(step) if isinstance(current, dict) else None
    if isinstance(step, int):
        return current[step] if isinstance(current, list) and -len(current) <= step < len(current) else None
    field, value = step
    if not isinstance(current, list):
        return None
    return next((item for item in current if isinstance(item, dict) and str(item.get(field)) == value), None)


def _like(old, value, where, path):
    """``value`` in the type of the value it replaces: a number for a string becomes its
    text (``20`` for ``"20"``); anything else that would change a string's type is refused."""
    if isinstance(old, str) and not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise EditError("%s: path %s holds a string; %r is not one (quote it)" % (where, path, value))
    return value


def set_value(text, path, value, kind=None, where="file"):
    """Set ``value`` at ``path`` in the document of ``kind`` (or the one the path fits)."""
    steps = parse_path(path)
    docs = _load_all(text, where)
    candidates = [doc for doc in docs if isinstance(doc, dict) and (kind is None or doc.get("kind") == kind)]
    for doc in candidates:
        parent, last = _resolve(doc, steps)
        if parent is None:
            continue
        if isinstance(last, tuple):
            raise EditError("%s: path %s must end in a key or an index" % (where, path))
        if isinstance(parent, dict):
            if last not in parent:
                raise EditError("%s: path %s: there is no %r to set (a new key is likely a typo)" % (where, path, last))
            old = parent[last]
            value = _like(old, value, where, path)
            if old == value:
                return text, []
            parent[last] = value
        elif isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent):
            old = parent[last]
            value = _like(old, value, where, path)
            if old == value:
                return text, []
            parent[last] = value
        else:
            continue
        return _dump_all(docs), [(path, old, value)]
    raise EditError("%s: no %sdocument has the path %s" % (where, "%s " % kind if kind else "", path))


# What identifies an entry of each kustomization list: a resource or component by its
# text, a patch by its file (or its text when inline), an image by its name.
KUSTOMIZATION_LISTS = {
    "resources": lambda entry: entry,
    "components": lambda entry: entry,
    "patches": lambda entry: entry.get("path") or entry.get("patch") if isinstance(entry, dict) else entry,
    "images": lambda entry: entry.get("name") if isinstance(entry, dict) else entry,
}

_NEEDS = {"resources": "a path", "components": "a path", "patches": "a patch needs a path or an inline patch",
          "images": "an image needs a name"}

_KUSTOMIZATION_HEADER = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


def _kustomization(text, where):
    docs = _load_all(text, where) if text and text.strip() else [None]
    if len(docs) != 1 or not isinstance(docs[0] or {}, dict):
        raise EditError("%s must hold one kustomization document" % where)
    return docs[0] or dict(_KUSTOMIZATION_HEADER)


def check_kustomization_entries(entries, where):
    if not isinstance(entries, dict):
        raise EditError("%s: the entries must be a mapping of list name to entries" % where)
    unknown = sorted(set(entries) - set(KUSTOMIZATION_LISTS))
    if unknown:
        raise EditError("%s: %s cannot be edited; choose from %s" % (
            where, ", ".join(unknown), ", ".join(sorted(KUSTOMIZATION_LISTS))))
    for key, wanted in entries.items():
        if not isinstance(wanted, list):
            raise EditError("%s: %s must be a list" % (where, key))
        for entry in wanted:
            plain = key in ("resources", "components")
            if plain and not isinstance(entry, str) or not plain and not isinstance(entry, dict):
                raise EditError("%s: %s entry %r must be %s" % (
                    where, key, entry, "a path (text)" if plain else "a mapping (%s)" % _NEEDS[key]))
            ident = KUSTOMIZATION_LISTS[key](entry)
            if not isinstance(ident, str) or not ident.strip():
                raise EditError("%s: %s entry %r names nothing (%s)" % (where, key, entry, _NEEDS[key]))


def ensure_kustomization_entries(text, entries, where="kustomization.yaml"):
    """Add each entry of ``entries`` (``{list: [entry]}``) that the kustomization lacks.

    Entries already there are left as they are, whatever their other fields: an image's
    ``newTag`` belongs to the releases, so registering an app never resets its version.
    A missing or empty file becomes a new kustomization. Returns ``(text, added)`` with
    ``added`` as ``[(what, None, entry)]``.

    An image entry may carry ``$imagepolicy: <namespace>:<policy>``: its ``newTag`` line then
    gets Flux's image automation marker (:func:`mark_image_policies`), every time, since a
    rewrite by PyYAML (when entries are added) drops comments.
    """
    check_kustomization_entries(entries, where)
    policies = {}
    for image in entries.get("images") or []:
        if IMAGE_POLICY in image:
            policies[image["name"]] = image[IMAGE_POLICY]
    entries = dict(entries, images=[{key: value for key, value in image.items() if key != IMAGE_POLICY}
                                    for image in entries.get("images") or []])
    kustomization = _kustomization(text, where)
    added = []
    for key in KUSTOMIZATION_LISTS:
        ident = KUSTOMIZATION_LISTS[key]
        present = kustomization.get(key) or []
        if not isinstance(present, list):
            raise EditError("%s: %s is not a list" % (where, key))
        known = set(ident(entry) for entry in present)
        for entry in entries.get(key) or []:
            if ident(entry) not in known:
                present.append(entry)
                known.add(ident(entry))
                added.append(("%s[%s]" % (key, ident(entry)), None, entry))
        if present or key in kustomization:
            kustomization[key] = present
    if not added and text and text.strip():
        new = text
    else:
        kustomization.setdefault("resources", [])
        new = _dump_all([kustomization])
    if policies:
        new, marked = mark_image_policies(new, policies, where)
        added += marked
    return new, added


def drop_kustomization_entries(text, entries, where="kustomization.yaml"):
    """Remove the entries of ``entries`` (matched like :func:`ensure_kustomization_entries`).

    Returns ``(text, dropped)``; a missing file drops nothing.
    """
    check_kustomization_entries(entries, where)
    if not text or not text.strip():
        return text, []
    kustomization = _kustomization(text, where)
    dropped = []
    for key, wanted in entries.items():
        ident = KUSTOMIZATION_LISTS[key]
        gone = set(ident(entry) for entry in wanted)
        kept = []
        for entry in kustomization.get(key) or []:
            if ident(entry) in gone:
                dropped.append(("%s[%s]" % (key, ident(entry)), entry, None))
            else:
                kept.append(entry)
        if key in kustomization:
            kustomization[key] = kept
    return (_dump_all([kustomization]), dropped) if dropped else (text, [])
