#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: canary_lint
short_description: Validate the Canary definitions of manifest files, with no cluster (for CI)
version_added: 0.1.0
description:
  - Reads the YAML files given (directories are walked; hidden ones skipped) and checks every Flagger Canary in them
    against Flagger's pinned CRD schema (an unknown field is a problem, since the API server would prune it without
    a word) and the semantics the M(gitops.progressive.canary) module checks before it writes (Go durations and
    the 10 s floor of intervals, weights, providers, metrics and their thresholds, webhooks, names), as a pull
    request's CI job lints manifests. No cluster is needed or contacted.
  - Each problem is named with its file, the document's index in it and the field's path. Files YAML cannot read are
    problems too. Other objects are read only for O(check_references).
  - Kustomize overlays are not built; give the files kustomize reads, or the output of C(kustomize build) saved to a
    file.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only, in check mode as otherwise.
  diff_mode:
    support: none
requirements:
  - jsonschema
  - PyYAML
options:
  paths:
    description: YAML files, and directories whose C(.yaml) and C(.yml) files are read (at most 10000).
    type: list
    elements: path
    required: true
  default_namespace:
    description: The namespace of a Canary that gives none (kustomize sets it), for its checks and messages.
    type: str
    default: default
  check_references:
    description:
      - Also require each Canary's target (a Deployment or DaemonSet) and the MetricTemplates its metrics name to be
        among the documents read, as in a repository that holds an app's whole manifests.
    type: bool
    default: false
  fail_on_problems:
    description: Fail the task when any problem is found; with C(false), report them and succeed.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Lint the canaries of the platform repository in a pull request's CI job
  gitops.progressive.canary_lint:
    paths:
      - apps/
      - infrastructure/base/manifests/

- name: Report problems without failing, with references checked among the files
  gitops.progressive.canary_lint:
    paths: [apps/staging]
    default_namespace: demo
    check_references: true
    fail_on_problems: false
  register: lint

- name: Show them
  ansible.builtin.debug:
    msg: "{{ lint.problems }}"
"""

RETURN = r"""
files:
  description: How many YAML files were read.
  returned: always
  type: int
  sample: 12
canaries:
  description: How many Canaries were checked.
  returned: always
  type: int
  sample: 3
problems:
  description: One entry per Canary with problems, and per file YAML could not read.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The file.
      type: str
      sample: /work/platform/apps/staging/podinfo-canary.yaml
    document:
      description: Index of the document in the file (0 for the first); absent for a file YAML could not read.
      type: int
      sample: 0
    canary:
      description: namespace/name of the Canary; absent for a file YAML could not read.
      type: str
      sample: demo/podinfo
    problems:
      description: What is wrong, each starting with the field's path.
      type: list
      elements: str
      sample: ["spec.analysis.interval '5s' is below Flagger's minimum of 10s"]
  sample:
    - file: /work/platform/apps/staging/podinfo-canary.yaml
      document: 0
      canary: demo/podinfo
      problems: ["spec.analysis.threshold is required"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.progressive.plugins.module_utils.flagger.lint import (
    LintError,
    lint_documents,
    read_sources,
    yaml_files,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            default_namespace=dict(type="str", default="default"),
            check_references=dict(type="bool", default=False),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        files = yaml_files(params["paths"])
        sources, unreadable = read_sources(files)
        findings, checked = lint_documents(sources, params["default_namespace"], params["check_references"])
    except LintError as error:
        module.fail_json(msg=str(error))
    problems = unreadable + findings
    count = sum(len(item["problems"]) for item in problems)
    summary = "%d canaries in %d files: %s" % (checked, len(files), "%d problems" % count if count else "valid")
    result = dict(changed=False, files=len(files), canaries=checked, problems=problems)
    if problems and params["fail_on_problems"]:
        module.fail_json(msg="%s: %s" % (summary, "; ".join(
            "%s%s: %s" % (item["file"], " %s" % item["canary"] if "canary" in item else "",
                          "; ".join(item["problems"])) for item in problems)), **result)
    module.exit_json(msg=summary, **result)


if __name__ == "__main__":
    main()
