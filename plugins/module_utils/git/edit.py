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
means the repository already holds the release.

Every edit of an existing file is made on its text, at the places PyYAML's parser marks
for the nodes concerned: a value replaced on its own line(s), a key or a list entry added
or removed as whole lines. The rest of the file stays byte for byte: comments, quoting,
layout, and Flux's image automation markers (``# {"$imagepolicy": ...}``) of every other
image. A release commit therefore changes only its own lines, and ``git revert`` of it
still applies after later commits to the same file. The edited text is parsed again and
must hold exactly the intended data; when the file's layout does not allow that, the
edit is refused (:class:`EditError`) rather than made by rewriting the whole file.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import MOST_ENTRIES


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


# --- edits on the text, at the places PyYAML's nodes mark ------------------------------
# Every helper below returns splices, ``(start, end, replacement)`` on the text; nothing
# outside them changes. :func:`_checked` then parses the result and compares it with the
# data the edit meant, so a layout these helpers misjudge is refused, never written.

_STR_TAG = "tag:yaml.org,2002:str"
_NO_FOLDING = 2 ** 30


def _compose_all(text, where):
    import yaml

    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise EditError("%s is not valid YAML: %s" % (where, error))


def _first_document(text, where):
    """The first document's node; None for a text with no document."""
    nodes = _compose_all(text, where) if text and text.strip() else []
    return nodes[0] if nodes else None


def _is_mapping(node):
    import yaml

    return isinstance(node, yaml.MappingNode)


def _is_sequence(node):
    import yaml

    return isinstance(node, yaml.SequenceNode)


def _is_scalar(node):
    import yaml

    return isinstance(node, yaml.ScalarNode)


def _pair(mapping, key):
    """``(key node, value node)`` of ``key`` in a mapping node (the last one, as PyYAML
    reads duplicates); None when absent."""
    found = None
    for key_node, value_node in mapping.value if _is_mapping(mapping) else ():
        if _is_scalar(key_node) and key_node.value == key:
            found = (key_node, value_node)
    return found


def _value_node(mapping, key):
    found = _pair(mapping, key)
    return found[1] if found else None


def _end(text, node):
    """Where ``node``'s own text ends: after its last character, before the line break,
    blank lines and comments that PyYAML counts into the end of block nodes."""
    if _is_scalar(node):
        if node.style in ("|", ">"):
            start = node.start_mark.index
            return start + len(text[start:node.end_mark.index].rstrip())
        return node.end_mark.index
    if node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _end(text, last[1] if _is_mapping(node) else last)


def _line_start(text, index):
    return text.rfind("\n", 0, index) + 1


def _next_line(text, index):
    """The start of the line after the one ``index`` ends (the text's end if it is the last)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _insertion(text, position, lines):
    """Whole lines inserted at the start of a line (or at the end of the text)."""
    if position == len(text) and text and not text.endswith("\n"):
        lines = "\n" + lines
    return (position, position, lines)


def _splice(text, edits):
    """``text`` with the splices made; they must not overlap. Insertions at one place keep
    the order of ``edits``."""
    done, previous_start = text, len(text) + 1
    ordered = sorted(((start, end, order, replacement) for order, (start, end, replacement) in enumerate(edits)),
                     reverse=True)
    for start, end, _order, replacement in ordered:
        if end > previous_start:
            raise EditError("internal: overlapping edits at character %d" % start)
        done = done[:start] + replacement + done[end:]
        previous_start = start
    return done


def _scalar(value, style=None):
    """``value`` as YAML on one line. A string keeps ``style`` (``'"'``, ``"'"``); with no
    style it is plain when it reads back as the same string, else quoted."""
    import yaml

    if not isinstance(value, str):
        style = None  # a number, a boolean or null quoted would become a string
    elif "\n" in value or style in ("|", ">"):
        style = '"'  # one line: the line breaks as escapes
    dumped = yaml.safe_dump(value, default_style=style, default_flow_style=True, sort_keys=False, width=_NO_FOLDING,
                            allow_unicode=True)
    if dumped.endswith("\n...\n"):
        dumped = dumped[:-len("...\n")]
    return dumped.rstrip("\n")


def _block_entries(entries, dash, offset):
    """List entries as block-style lines, their dash at column ``dash`` and their content
    ``offset`` columns further."""
    import yaml

    lines = []
    for entry in entries:
        if isinstance(entry, (dict, list)) and entry:
            dumped = yaml.safe_dump(entry, default_flow_style=False, sort_keys=False, width=_NO_FOLDING,
                                    allow_unicode=True).splitlines()
        else:
            dumped = [_scalar(entry)]
        lines.append("%s-%s%s\n" % (" " * dash, " " * (offset - 1), dumped[0]))
        lines.extend("%s%s\n" % (" " * (dash + offset), line) for line in dumped[1:])
    return "".join(lines)


def _replace_node(text, node, value, plain_as=None):
    """The splice that puts ``value`` where ``node`` is. A scalar for a scalar keeps its
    line, quotes and trailing comment; anything else is written in flow style."""
    start, end = node.start_mark.index, _end(text, node)
    # "key:" with nothing after it: the value needs its space after the colon.
    space = " " if start == end and _is_scalar(node) else ""
    if _is_scalar(node) and not isinstance(value, (dict, list)):
        style = node.style if isinstance(value, str) and node.tag == _STR_TAG else None
        return (start, end, space + _scalar(value, style or plain_as))
    return (start, end, space + _scalar(value))


def _mapping_edits(text, node, old, new, where, what, plain_as=None):
    """Splices turning mapping ``node`` (which holds ``old``) into ``new``: changed values
    replaced, dropped keys' lines removed, new keys added as lines after the last key."""
    if not _is_mapping(node):
        raise EditError("%s: %s is not a mapping in the file" % (where, what))
    if node.flow_style:
        return [(node.start_mark.index, node.end_mark.index, _scalar(new))]
    edits = []
    pairs = list(node.value)
    for key in old:
        found = _pair(node, key)
        if found is None:
            raise EditError("%s: %s.%s cannot be found in the text to edit it in place" % (where, what, key))
        key_node, value_node = found
        if key not in new:
            edits.append(_drop_pair(text, pairs, key_node, value_node, where, "%s.%s" % (what, key)))
        elif old[key] != new[key]:
            edits.append(_replace_node(text, value_node, new[key], plain_as))
    added = [key for key in new if key not in old]
    if added:
        indent = pairs[0][0].start_mark.column
        lines = "".join("%s%s: %s\n" % (" " * indent, _scalar(key), _scalar(new[key], plain_as)) for key in added)
        edits.append(_insertion(text, _next_line(text, _end(text, node)), lines))
    return edits


def _drop_pair(text, pairs, key_node, value_node, where, what):
    """The splice removing one ``key: value`` of a block mapping, its trailing comment included."""
    start = key_node.start_mark.index
    line_start = _line_start(text, start)
    if not text[line_start:start].strip():
        return (line_start, _next_line(text, _end(text, value_node)), "")
    # The key shares its line with the list item's dash ("- digest: ..."): the next key moves up.
    position = [pair[0] for pair in pairs].index(key_node)
    if position + 1 >= len(pairs):
        raise EditError("%s: %s is the item's only key; it cannot be removed in place" % (where, what))
    return (start, pairs[position + 1][0].start_mark.index, "")


def _parses_to(text, wanted_docs):
    import yaml

    try:
        return list(yaml.safe_load_all(text)) == wanted_docs
    except yaml.YAMLError:
        return False


def _checked(text, wanted_docs, where, what):
    """``text`` when it parses to exactly ``wanted_docs``; an EditError otherwise."""
    if not _parses_to(text, wanted_docs):
        raise EditError("%s: %s cannot be edited in place in this file's layout (an unusual YAML style there); "
                        "rewriting the whole file would lose its comments and markers, so nothing was changed" % (
                            where, what))
    return text


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
    root = _compose_all(text, where)[0]
    images_node = _value_node(root, "images")
    edits = []
    for index, (old, new) in enumerate(zip(original, entries)):
        if not isinstance(old, dict) or old == new:
            continue
        # A tag, name or digest is written quoted (a tag like 1.10 is not a number).
        edits += _mapping_edits(text, images_node.value[index], old, new, where, "images.%s" % new.get("name"),
                                plain_as='"')
    return _checked(_splice(text, edits), docs, where, "images"), changes


def _item_line(lines, name):
    """Index of the line ``- name: <name>`` (or ``name: <name>`` inside a list item) in ``images``."""
    pattern = re.compile(r"^\s*(-\s+)?name:\s*[\"']?%s[\"']?\s*(#.*)?\Z" % re.escape(str(name)))
    in_images = False
    for index, line in enumerate(lines):
        if re.match(r"^images:\s*(#.*)?\Z", line.rstrip("\n")):
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
    pattern = re.compile(r"^(\s*(?:-\s+)?%s:\s*)([\"']?)([^\"'#\n]*?)\2(\s*(?:#.*)?)\Z" % re.escape(key))
    for position in range(index, len(lines)):
        line = lines[position].rstrip("\n")
        indent = len(line) - len(line.lstrip())
        if position > index and line.strip() and not line.lstrip().startswith("#") and indent <= item_indent:
            break
        match = pattern.match(line)
        if match:
            return position, match
    return None


IMAGE_POLICY = "$imagepolicy"
_POLICY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?\Z")


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
    """Set ``value`` at ``path`` in the document of ``kind`` (or the one the path fits).

    Only the value's own text changes (its line, its quotes and its comment stay), so the
    commit is a one-line change that ``git revert`` can undo after later commits to the file.
    """
    steps = parse_path(path)
    docs = _load_all(text, where)
    nodes = _compose_all(text, where)
    for doc, node in zip(docs, nodes):
        if not isinstance(doc, dict) or kind is not None and doc.get("kind") != kind:
            continue
        parent, last = _resolve(doc, steps)
        if parent is None:
            continue
        if isinstance(last, tuple):
            raise EditError("%s: path %s must end in a key or an index" % (where, path))
        if isinstance(parent, dict):
            if last not in parent:
                raise EditError("%s: path %s: there is no %r to set (a new key is likely a typo)" % (where, path, last))
        elif not (isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent)):
            continue
        old = parent[last]
        value = _like(old, value, where, path)
        if old == value:
            return text, []
        target = _node_at(node, doc, steps)  # found before the change: a selector may match the old value
        if target is None:
            raise EditError("%s: path %s cannot be found in the text to edit it in place (a merge key or "
                            "an alias?)" % (where, path))
        parent[last] = value
        edited = _splice(text, [_replace_node(text, target, value)])
        if isinstance(value, str) and not _parses_to(edited, docs):
            # A plain scalar that is fine in block context may not be in a flow one ("a,b" in [..]).
            edited = _splice(text, [_replace_node(text, target, value, plain_as='"')])
        return _checked(edited, docs, where, "path %s" % path), [(path, old, value)]
    raise EditError("%s: no %sdocument has the path %s" % (where, "%s " % kind if kind else "", path))


def _node_at(node, data, steps):
    """The node at ``steps`` in a document's node tree, walked along with its data (which
    resolves the ``[field=value]`` selectors); None when the tree and the data part ways."""
    for step in steps:
        if isinstance(step, str):
            if not _is_mapping(node) or not isinstance(data, dict):
                return None
            node, data = _value_node(node, step), data.get(step)
        else:
            if not _is_sequence(node) or not isinstance(data, list) or len(node.value) != len(data):
                return None
            if isinstance(step, tuple):
                field, wanted = step
                step = next((index for index, item in enumerate(data)
                             if isinstance(item, dict) and str(item.get(field)) == wanted), None)
                if step is None:
                    return None
            node, data = node.value[step], data[step]
        if node is None:
            return None
    return node


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


# The fields of an ``images`` entry kustomize reads, and the marker platform_repo turns into Flux's comment.
IMAGE_FIELDS = ("name", "newName", "newTag", "digest")
DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}\Z")
PATCH_FIELDS = ("path", "patch", "target", "options")


def _image_entry_problems(entry, where):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import REPOSITORY, TAG, quote

    problems = []
    unknown = sorted(set(entry) - set(IMAGE_FIELDS) - {IMAGE_POLICY})
    if unknown:
        problems.append("%s: unknown field %s (an image entry has %s and %s)" % (
            where, ", ".join(map(quote, unknown)), ", ".join(IMAGE_FIELDS), IMAGE_POLICY))
    for field in ("name", "newName"):
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 255 or not REPOSITORY.match(value)):
            problems.append("%s.%s must be an image repository in lower case (registry/path), got %s" % (
                where, field, quote(value)))
    if entry.get("newTag") is not None and not (isinstance(entry["newTag"], str) and TAG.match(entry["newTag"])):
        problems.append("%s.newTag must be an image tag (at most 128 letters, digits, '_', '.' and '-'; quote a "
                        "number), got %s" % (where, quote(entry["newTag"])))
    digest = entry.get("digest")
    if digest is not None and not (isinstance(digest, str) and DIGEST.match(digest)):
        problems.append("%s.digest must be algorithm:hex, such as sha256:..., got %s" % (where, quote(digest)))
    policy = entry.get(IMAGE_POLICY)
    if policy is not None and not (isinstance(policy, str) and _POLICY.match(policy)):
        problems.append("%s.%s must be <namespace>:<ImagePolicy name>, got %s" % (where, IMAGE_POLICY, quote(policy)))
    return problems


def _reference_problems(value, where, directory=None):
    """A resource, component or patch path: no credentials in a remote one, no control characters;
    with the kustomization's ``directory`` (relative to the repository's top), a local path that
    stays in the repository's tree (see :func:`_local_path_problems`)."""
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import quote, url_credentials

    if re.search(r"[\x00-\x1f\x7f]", value):
        return ["%s may not hold line breaks or control characters: %s" % (where, quote(value))]
    if url_credentials(value) or re.match(r"^[a-z+]+://[^/]*@", value):
        return ["%s may not carry credentials in its address (they would be committed to git): %s" % (
            where, quote(value))]
    if directory is not None:
        return _local_path_problems(value, where, directory)
    return []


# A remote resource kustomize fetches: an address with a scheme, or git's scp-like user@host:path.
_REMOTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.ASCII)


def _local_path_problems(value, where, directory):
    """A local resource, component or patch path, taken from the kustomization's ``directory``:
    relative, not through ``.git``, and not climbing above the repository's top. Such a path
    names a file outside the repository (``/etc/passwd``) or git's own (``../.git/config``) to
    whatever builds the commit; Flux only refuses it then, after it was pushed."""
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import quote

    if _REMOTE.match(value):
        return []
    if value.startswith(("/", "~")):
        return ["%s must be relative to the kustomization's directory, not absolute: %s" % (where, quote(value))]
    if any(part.lower() == ".git" for part in value.split("/")):
        return ["%s may not go through git's own directory .git: %s" % (where, quote(value))]
    inside = posixpath.normpath(posixpath.join(directory or ".", value))
    if inside == ".." or inside.startswith("../"):
        return ["%s climbs above the repository's top with '..' (from %s): %s" % (
            where, directory or "the top", quote(value))]
    return []


def kustomization_entry_problems(entries, where, directory=None):
    """Every problem with ``entries`` (``{list: [entry]}``, as :func:`ensure_kustomization_entries`
    takes them), each naming ``where`` and the entry (``where.images[0].newTag``).

    With ``directory``, the kustomization's directory relative to the repository's top, local
    paths (resources, components, patches) must stay in the repository's tree; without it
    (entries being taken out) they are not judged."""
    if not isinstance(entries, dict):
        return ["%s: the entries must be a mapping of list name to entries" % where]
    unknown = sorted(set(entries) - set(KUSTOMIZATION_LISTS), key=str)
    if unknown:
        return ["%s: %s cannot be edited; choose from %s" % (
            where, ", ".join(map(str, unknown)), ", ".join(sorted(KUSTOMIZATION_LISTS)))]
    problems = []
    for key, wanted in entries.items():
        if not isinstance(wanted, list):
            problems.append("%s: %s must be a list" % (where, key))
            continue
        if len(wanted) > MOST_ENTRIES:
            problems.append("%s: %s has %d entries; at most %d are taken" % (where, key, len(wanted), MOST_ENTRIES))
            continue
        for index, entry in enumerate(wanted):
            at = "%s.%s[%d]" % (where, key, index)
            plain = key in ("resources", "components")
            if plain and not isinstance(entry, str) or not plain and not isinstance(entry, dict):
                problems.append("%s: %s entry %r must be %s" % (
                    where, key, entry, "a path (text)" if plain else "a mapping (%s)" % _NEEDS[key]))
                continue
            ident = KUSTOMIZATION_LISTS[key](entry)
            if not isinstance(ident, str) or not ident.strip():
                problems.append("%s: %s entry %r names nothing (%s)" % (where, key, entry, _NEEDS[key]))
            elif key == "images":
                problems += _image_entry_problems(entry, at)
            elif key == "patches":
                unknown_fields = sorted(set(entry) - set(PATCH_FIELDS), key=str)
                if unknown_fields:
                    problems.append("%s: unknown field %s (a patch has %s)" % (
                        at, ", ".join(map(str, unknown_fields)), ", ".join(PATCH_FIELDS)))
                if entry.get("path") is not None:
                    problems += _reference_problems(str(entry["path"]), at + ".path", directory)
            else:
                problems += _reference_problems(entry, at, directory)
    return problems


def check_kustomization_entries(entries, where, directory=None):
    problems = kustomization_entry_problems(entries, where, directory)
    if problems:
        raise EditError("; ".join(problems))


def ensure_kustomization_entries(text, entries, where="kustomization.yaml", directory=None):
    """Add each entry of ``entries`` (``{list: [entry]}``) that the kustomization lacks.

    Entries already there are left as they are, whatever their other fields: an image's
    ``newTag`` belongs to the releases, so registering an app never resets its version.
    A missing or empty file becomes a new kustomization. Returns ``(text, added)`` with
    ``added`` as ``[(what, None, entry)]``.

    New entries are added as lines after a list's last entry (a list in flow style, or an
    empty one, is written out in block style), so every comment of the file stays, the
    image automation markers of other apps' images among them.

    An image entry may carry ``$imagepolicy: <namespace>:<policy>``: its ``newTag`` line then
    gets Flux's image automation marker (:func:`mark_image_policies`) unless it has one.
    With ``directory`` (the file's, relative to the repository's top), local paths must stay in
    the repository's tree (:func:`kustomization_entry_problems`).
    """
    check_kustomization_entries(entries, where, directory)
    policies = {}
    for image in entries.get("images") or []:
        if IMAGE_POLICY in image:
            policies[image["name"]] = image[IMAGE_POLICY]
    entries = dict(entries, images=[{key: value for key, value in image.items() if key != IMAGE_POLICY}
                                    for image in entries.get("images") or []])
    kustomization = _kustomization(text, where)
    added, additions = [], {}
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
                additions.setdefault(key, []).append(entry)
                added.append(("%s[%s]" % (key, ident(entry)), None, entry))
        if present or key in kustomization:
            kustomization[key] = present
    document = _first_document(text, where)
    if document is None:
        kustomization.setdefault("resources", [])  # a new file: there is nothing to keep
        new = _dump_all([kustomization])
    elif added:
        new = _checked(_splice(text, _entry_additions(text, document, additions, kustomization, where)),
                       [kustomization], where, ", ".join(sorted(additions)))
    else:
        new = text
    if policies:
        new, marked = mark_image_policies(new, policies, where)
        added += marked
    return new, added


def _entry_additions(text, document, additions, kustomization, where):
    """Splices adding ``additions`` (``{list: [entry]}``) to the kustomization's lists."""
    if not _is_mapping(document) or document.flow_style:
        raise EditError("%s: the kustomization must be a block-style mapping to add entries in place" % where)
    edits, new_lists = [], ""
    indent = document.value[0][0].start_mark.column if document.value else 0
    for key, entries in additions.items():
        found = _pair(document, key)
        if found is None:
            new_lists += "%s%s:\n%s" % (" " * indent, key, _block_entries(entries, indent + 2, 2))
            continue
        key_node, entries_node = found
        if _is_sequence(entries_node) and not entries_node.flow_style and entries_node.value:
            first = entries_node.value[0]
            dash = entries_node.start_mark.column
            offset = first.start_mark.column - dash if first.start_mark.line == entries_node.start_mark.line else 2
            edits.append(_insertion(text, _next_line(text, _end(text, entries_node)),
                                    _block_entries(entries, dash, max(offset, 2))))
        else:
            # "[a, b]", "[]" or nothing: the whole list, in block style, in its place.
            edits.append((key_node.end_mark.index, _end(text, entries_node), ":\n" + _block_entries(
                kustomization[key], key_node.start_mark.column + 2, 2).rstrip("\n")))
    if new_lists:
        edits.append(_insertion(text, _next_line(text, _end(text, document)), new_lists))
    return edits


def drop_kustomization_entries(text, entries, where="kustomization.yaml"):
    """Remove the entries of ``entries`` (matched like :func:`ensure_kustomization_entries`).

    Each dropped entry's lines are removed; the rest of the file stays as it is (a list left
    empty becomes ``[]``). Returns ``(text, dropped)``; a missing file drops nothing.
    """
    check_kustomization_entries(entries, where)
    if not text or not text.strip():
        return text, []
    kustomization = _kustomization(text, where)
    document = _first_document(text, where)
    dropped, edits = [], []
    for key, wanted in entries.items():
        ident = KUSTOMIZATION_LISTS[key]
        gone = set(ident(entry) for entry in wanted)
        kept, gone_positions = [], []
        for position, entry in enumerate(kustomization.get(key) or []):
            if ident(entry) in gone:
                dropped.append(("%s[%s]" % (key, ident(entry)), entry, None))
                gone_positions.append(position)
            else:
                kept.append(entry)
        if not gone_positions:
            continue
        kustomization[key] = kept
        key_node, entries_node = _pair(document, key)
        if not _is_sequence(entries_node):
            raise EditError("%s: %s is not a list in the file" % (where, key))
        if entries_node.flow_style:
            edits.append((entries_node.start_mark.index, entries_node.end_mark.index, _scalar(kept)))
        elif not kept:
            edits.append((key_node.end_mark.index, _end(text, entries_node), ": []"))
        else:
            for position in gone_positions:
                entry_node = entries_node.value[position]
                edits.append((_line_start(text, entry_node.start_mark.index),
                              _next_line(text, _end(text, entry_node)), ""))
    if not dropped:
        return text, []
    return _checked(_splice(text, edits), [kustomization], where, ", ".join(sorted(entries))), dropped
