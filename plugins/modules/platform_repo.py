#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: platform_repo
short_description: Make files in the platform git repository hold the given content, in one commit
version_added: 0.1.0
description:
  - Brings a working copy to the remote branch, writes O(files) (and deletes O(remove)),
    and when anything differs commits it with O(commit_message) and pushes. Used by the
    C(gitops.progressive.flux) role to lay the platform repository out; usable for any
    file set a team keeps in git.
  - Idempotent. Files that already hold the content change nothing; no commit is made.
  - Every option is checked before git runs, each problem named in one failure. Paths are
    relative to the repository's top and may not climb out with C(..), enter C(.git) (git
    would run commands it finds there, such as C(core.fsmonitor)) or go through a symbolic
    link of the working copy; the keys of O(kustomizations) name kustomization files, and
    their entries are checked (image names, tags, digests, C($imagepolicy), no credentials
    in a remote resource's address, local resource, component and patch paths that stay in
    the repository's tree from the kustomization's directory). No list or mapping may hold
    more than 1000 entries.
  - A push that loses a race with another writer (another cluster laying the same
    repository out, a release) is redone on top of the new head, up to three times.
  - Credentials are sent as an HTTP header through the environment of the git process,
    never in a URL, an argument list or the output.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.repo
  - gitops.progressive.git
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: The working copy is updated and the change computed (and shown with C(--diff)); nothing is committed or pushed.
  diff_mode:
    support: full
    details: The C(git diff) of the change.
options:
  files:
    description: Content by path relative to the repository root.
    type: dict
    default: {}
  seed_files:
    description:
      - Content by path for files written only when they do not exist yet, and never
        changed afterwards (for example the files releases edit, which say which version runs where).
    type: dict
    default: {}
  remove:
    description: Paths to delete, files or whole directories (never the repository's root or C(.git)).
    type: list
    elements: str
    default: []
  kustomizations:
    description:
      - Entries to register in kustomization files, by path of the C(kustomization.yaml);
        each maps a list (C(resources), C(components), C(patches), C(images)) to the entries
        it must hold. Entries already there are left as they are (an image is matched by
        C(name), a patch by C(path)), so registering an app never resets the tag a release
        wrote. A missing file becomes a new kustomization.
      - This is how several roles share one overlay; each registers its own component
        directory or app and leaves the others' entries alone.
      - An C(images) entry may carry C($imagepolicy) (C(<namespace>:<ImagePolicy name>)) instead of a
        field; its C(newTag) line then gets Flux's image automation marker (a C($imagepolicy) comment
        naming the policy and C(tag)), so that image-automation-controller writes the tag the policy
        selects there. Tag changes by releases keep the marker.
    type: dict
    default: {}
  kustomizations_absent:
    description: Entries to take out of kustomization files, in the shape of O(kustomizations), matched the same way.
    type: dict
    default: {}
  commit_message:
    description: Commit message (no control or format characters but line breaks and tabs).
    type: str
    default: Update the platform repository (gitops.progressive)
"""

EXAMPLES = r"""
- name: Lay the platform repository out
  gitops.progressive.platform_repo:
    repo_url: http://127.0.0.1:18300/platform.git
    git_password: "{{ git_password }}"
    files:
      clusters/staging/apps.yaml: "{{ lookup('ansible.builtin.template', 'apps.yaml.j2') }}"
    commit_message: "Bootstrap staging"

- name: Add Flagger's release directory and register it in the releases layer
  gitops.progressive.platform_repo:
    repo_url: http://127.0.0.1:18300/platform.git
    git_password: "{{ git_password }}"
    files:
      infrastructure/base/releases/flagger/kustomization.yaml: "{{ lookup('ansible.builtin.template', 'kustomization.yaml.j2') }}"
      infrastructure/base/releases/flagger/release.yaml: "{{ lookup('ansible.builtin.template', 'release.yaml.j2') }}"
    kustomizations:
      infrastructure/base/releases/kustomization.yaml:
        resources: [flagger]
    commit_message: "Install Flagger through Flux"
"""

RETURN = r"""
commit:
  description: The branch's commit after the task (the new one when something changed).
  returned: success
  type: str
changed_files:
  description: Paths whose content changed.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import (
    check_tree_request,
    default_workdir,
    git_argument_spec,
    repo_from_params,
    update_tree,
)
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import mask_url_credentials


def main():
    spec = git_argument_spec()
    spec.update(
        files=dict(type="dict", default={}),
        seed_files=dict(type="dict", default={}),
        remove=dict(type="list", elements="str", default=[]),
        kustomizations=dict(type="dict", default={}),
        kustomizations_absent=dict(type="dict", default={}),
        commit_message=dict(type="str", default="Update the platform repository (gitops.progressive)"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    mask_url_credentials(module)
    params = module.params
    try:
        check_tree_request(params)
        repo = repo_from_params(params, default_workdir(params["repo_url"], params["branch"]))
        result = update_tree(repo, params["commit_message"], params["files"], params["remove"], params["seed_files"],
                             params["kustomizations"], params["kustomizations_absent"],
                             check_mode=module.check_mode, want_diff=module._diff)
    except CollectionError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
