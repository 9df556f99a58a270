# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canaries checked with no cluster, as a pull request's CI job lints manifests: every Canary in
the YAML files given (or in the documents given) against Flagger's pinned CRD schema and the
semantics the canary module checks before a write (:mod:`validate`), each problem named with
its file, document and field.

What needs a cluster is left out unless asked for: with ``check_references`` a Canary's target
(Deployment, DaemonSet) and its metrics' MetricTemplates must be among the documents linted
(as a repository that holds an app's whole manifests would have them). A Canary without
``metadata.namespace`` (kustomize sets it) is checked as if in ``default_namespace``.
"""

from __future__ import annotations

import copy
import os

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import validate

YAML_SUFFIXES = (".yaml", ".yml")
# Manifests are small: a file larger than this is a problem, not read (a pull request's files
# are untrusted input).
MOST_BYTES = 1024 * 1024
# A directory tree is walked to this many files at most: a path given by mistake (/, ~) ends
# with a clear error instead of reading the disk.
MOST_FILES = 10000


class LintError(CollectionError):
    """The lint could not run (a path that is not there, jsonschema missing); not a finding."""


def is_canary(document):
    return isinstance(document, dict) and document.get("kind") == "Canary" \
        and str(document.get("apiVersion", "")).startswith("flagger.app/")


def documents_of(value):
    """Kubernetes objects in ``value``: one object, a list of them, or a ``List`` kind's items."""
    if isinstance(value, list):
        found = []
        for item in value:
            found.extend(documents_of(item))
        return found
    if isinstance(value, dict) and value.get("kind") == "List" and isinstance(value.get("items"), list):
        return documents_of(value["items"])
    return [value] if isinstance(value, dict) else []


def canary_problems(canary, default_namespace="default", known=None):
    """Problems of one Canary (field path first), [] when Flagger and the API server would take it.
    ``known``: (kind, namespace, name) of the objects references must be found among, or None."""
    if validate.jsonschema is None:
        raise LintError("validating canaries without a cluster needs the jsonschema Python package "
                        "(the CRD schema is otherwise checked by the API server)")
    canary = copy.deepcopy(canary)
    metadata = canary.get("metadata")
    if isinstance(metadata, dict) and not metadata.get("namespace") and default_namespace:
        metadata["namespace"] = default_namespace
    target_exists = template_exists = None
    if known is not None:
        def target_exists(kind, namespace, name):
            return (kind, namespace, name) in known

        def template_exists(namespace, name):
            return ("MetricTemplate", namespace, name) in known
    try:
        validate.validate_canary(canary, metric_template_exists=template_exists, target_exists=target_exists)
    except validate.CanarySpecError as error:
        return list(error.errors)
    return []


def _identity(document, default_namespace):
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    return (document.get("kind"), metadata.get("namespace") or default_namespace, metadata.get("name"))


def lint_documents(sources, default_namespace="default", check_references=False):
    """``sources``: (where, index, document). A finding per Canary with problems:
    ``{"file", "document", "canary", "problems"}``; and the number of canaries checked."""
    known = {_identity(document, default_namespace) for _where, _index, document in sources} \
        if check_references else None
    findings, checked = [], 0
    for where, index, document in sources:
        if not is_canary(document):
            continue
        checked += 1
        problems = canary_problems(document, default_namespace, known)
        if problems:
            _kind, namespace, name = _identity(document, default_namespace)
            findings.append(dict(file=where, document=index, canary="%s/%s" % (namespace, name or "<no name>"),
                                 problems=problems))
    return findings, checked


def yaml_files(paths):
    """The YAML files of ``paths`` (files as given, directories walked, hidden ones skipped), sorted."""
    found = []
    for path in paths:
        full = os.path.expanduser(path)
        if os.path.isfile(full):
            found.append(full)
        elif os.path.isdir(full):
            for directory, dirs, files in os.walk(full):
                dirs[:] = sorted(name for name in dirs if not name.startswith("."))
                found.extend(os.path.join(directory, name) for name in sorted(files) if name.endswith(YAML_SUFFIXES))
                if len(found) > MOST_FILES:
                    raise LintError("paths: more than %d YAML files under %s; give the manifests' directory"
                                    % (MOST_FILES, path))
        else:
            raise LintError("paths: %s is neither a file nor a directory" % path)
    return sorted(set(found))


def _loader():
    """PyYAML's safe loader without aliases: Kubernetes manifests have no use for them, and an
    alias bomb in a pull request's file would make every walk over the documents exponential."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "aliases (*%s) are not taken in manifests"
                                                  % event.anchor, event.start_mark)
            return super().compose_node(parent, index)

    return NoAliasLoader


def read_sources(files):
    """(sources, unreadable): the documents of each file; files not read, with why (not a regular
    file of this tree, too large, not YAML, aliases, nested too deep)."""
    import yaml

    sources, unreadable = [], []
    for path in files:
        problem = None
        if os.path.islink(path):
            problem = "it is a symbolic link (to %s); not followed" % os.readlink(path)
        elif os.path.getsize(path) > MOST_BYTES:
            problem = "it is larger than %d bytes; not read" % MOST_BYTES
        if problem is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    loaded = list(yaml.load_all(handle, Loader=_loader()))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                problem = "YAML cannot read it: %s" % str(error).replace("\n", " ")
            except RecursionError:
                problem = "it is nested too deep to read"
        if problem is not None:
            unreadable.append(dict(file=path, problems=[problem]))
            continue
        for index, value in enumerate(loaded):
            sources.extend((path, index, document) for document in documents_of(value))
    return sources, unreadable
