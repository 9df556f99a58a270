# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on Canary definitions, with no cluster (module_utils/flagger/lint.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.lint import (
    LintError,
    canary_problems,
    documents_of,
    is_canary,
)

DOCUMENTATION = r"""
name: canary_problems
short_description: What Flagger's CRD and the canary module's checks find wrong in Canary definitions
version_added: 0.1.0
description:
  - Checks each Canary in the input (one object, a list of objects, or a C(List)) against Flagger's pinned CRD schema
    (unknown fields are problems, as they would be silently pruned) and the semantics the
    M(gitops.progressive.canary) module checks before it writes (intervals, weights, providers, metrics, webhooks,
    names), with no cluster. Other objects are ignored.
  - Returns one string per problem, C(namespace/name field.path message); an empty list when every Canary is valid.
  - References to objects in the cluster (the target, MetricTemplates) are not checked; the
    M(gitops.progressive.canary_lint) module's O(gitops.progressive.canary_lint#module:check_references) checks them
    among the files it reads.
requirements:
  - jsonschema
options:
  _input:
    description: A Canary, or a list of Kubernetes objects (documents of a manifest file).
    type: raw
    required: true
  default_namespace:
    description: The namespace of a Canary that gives none (kustomize sets it).
    type: str
    default: default
author:
  - gitops.progressive contributors (@gitops-progressive)
"""

EXAMPLES = r"""
- name: Lint the canaries of a manifest file in a CI job
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ lookup('ansible.builtin.file', 'apps/podinfo/canary.yaml') | ansible.builtin.from_yaml_all
                  | gitops.progressive.canary_problems }}"
"""

RETURN = r"""
_value:
  description: One string per problem found, the Canary and the field's path first; empty when all are valid.
  type: list
  elements: str
"""


def _canary_problems(value, default_namespace="default"):
    found = []
    for document in documents_of(value if not isinstance(value, (str, bytes)) else []):
        if not is_canary(document):
            continue
        metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
        name = "%s/%s" % (metadata.get("namespace") or default_namespace, metadata.get("name") or "<no name>")
        try:
            found.extend("%s %s" % (name, problem) for problem in canary_problems(document, default_namespace))
        except LintError as error:
            raise AnsibleFilterError(str(error))
    if isinstance(value, (str, bytes)):
        raise AnsibleFilterError("canary_problems takes Kubernetes objects (from_yaml_all of the file), not text")
    return found


class FilterModule:
    def filters(self):
        return {"canary_problems": _canary_problems}
