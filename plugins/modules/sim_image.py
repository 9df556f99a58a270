#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sim_image
short_description: Build a one-layer image from files and push it to the loopback registry under its real name
version_added: 0.1.0
description:
  - Makes an OCI image of O(files) (static binaries built by M(gitops.progressive.sim_binaries),
    configuration), one layer, every time stamp 0, owned by root, and pushes it to the registry
    at O(registry_url) over the distribution API, without a container engine.
  - The image keeps the name a real cluster uses, registry host included
    (C(ghcr.io/gitops-progressive/demo-app:v1.0.0)); it is stored in the registry as
    C(ghcr.io/gitops-progressive/demo-app), where a real node's containerd, which mirrors C(ghcr.io)
    to that registry (M(gitops.progressive.local_node)), finds it.
  - Idempotent. The same files and settings give the same manifest digest; when the registry
    already holds it under the tag, nothing is pushed.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.sim
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Builds the image in memory and tells whether it would be pushed, without pushing.
  diff_mode:
    support: none
options:
  registry_url:
    description: The registry, C(http://127.0.0.1:port), without credentials (it takes anonymous pushes).
    type: str
    required: true
  image:
    description: The image reference, with its registry host and a tag, for example C(ghcr.io/gitops-progressive/demo-app:v1.0.0).
    type: str
    required: true
  files:
    description: What the layer holds.
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: A file on the controller.
        type: path
        required: true
      dest:
        description: Its absolute path in the image.
        type: str
        required: true
      mode:
        description: Its mode in the image, as an octal string.
        type: str
        default: "0755"
      libraries:
        description:
          - Also put in the image the shared libraries the file loads (its loader and every
            library, at the paths C(ldd) resolves them to on the controller), for a program of
            the controller's own packages, such as Debian's C(wget) or C(curl).
          - C(ldd) may run the program's loader; use it for programs you trust.
          - A library the controller does not have fails the task, naming it.
        type: bool
        default: false
  entrypoint:
    description: The image's entry point.
    type: list
    elements: str
    default: []
  cmd:
    description: The image's default arguments.
    type: list
    elements: str
    default: []
  env:
    description: Environment variables of the image.
    type: dict
    default: {}
  user:
    description: The user (C(uid) or C(uid:gid)) the image runs as; empty for root.
    type: str
    default: ""
  labels:
    description: Labels of the image.
    type: dict
    default: {}
  timeout:
    description: Seconds for each request (1 to 3600).
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: The demo app's image, under the name its manifests use
  gitops.progressive.sim_image:
    registry_url: http://127.0.0.1:5000
    image: ghcr.io/gitops-progressive/demo-app:v1.0.0
    files:
      - src: "{{ binaries['demo-app'] }}"
        dest: /demo-app
    entrypoint: [/demo-app]
    user: "65534"
"""

RETURN = r"""
repository:
  description: Where the image is in the registry (its name with the registry host, without the tag).
  returned: always
  type: str
  sample: ghcr.io/gitops-progressive/demo-app
digest:
  description: The image's manifest digest.
  returned: always
  type: str
  sample: sha256:0f3c
"""

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module
from ansible_collections.gitops.progressive.plugins.module_utils.sim.images import ensure_image


def main():
    module = masked_module(
        argument_spec=dict(
            registry_url=dict(type="str", required=True),
            image=dict(type="str", required=True),
            files=dict(type="list", elements="dict", required=True, options=dict(
                src=dict(type="path", required=True),
                dest=dict(type="str", required=True),
                mode=dict(type="str", default="0755"),
                libraries=dict(type="bool", default=False),
            )),
            entrypoint=dict(type="list", elements="str", default=[]),
            cmd=dict(type="list", elements="str", default=[]),
            env=dict(type="dict", default={}),
            user=dict(type="str", default=""),
            labels=dict(type="dict", default={}),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    try:
        result = ensure_image(module.params, module.check_mode)
    except CollectionError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
