#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sim_image_tag
short_description: Push image tags to an OCI registry without a container engine (the simulated platform's registry)
version_added: 0.1.0
description:
  - Pushes each of O(tags) of O(repository) to the registry at O(registry_url) over the
    distribution API, the way a CI pipeline's C(docker push) would. The image is minimal and
    real (an OCI config naming the tag, no layers); the simulated nodes never pull it, and
    Flux's image-reflector-controller only lists tags.
  - Idempotent. Tags the registry already lists are not pushed again.
  - Meant for the simulated platform's loopback registry (the C(gitops.progressive.flux) role's
    C(flux_image_automation)); any registry that accepts anonymous pushes works.
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
    details: Lists the tags that would be pushed without pushing.
  diff_mode:
    support: none
options:
  registry_url:
    description: The registry, C(http://host:port), without credentials (it takes anonymous pushes).
    type: str
    required: true
  repository:
    description: The image name in the registry, for example C(stefanprodan/podinfo) (no host, tag or digest).
    type: str
    required: true
  tags:
    description:
      - The tags that must be in the registry (at least one; each at most 128 letters, digits, C(_), C(.)
        and C(-), not starting with C(.) or C(-)).
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds for each request (1 to 3600).
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: A new podinfo version lands in the registry (image automation picks it up)
  gitops.progressive.sim_image_tag:
    registry_url: http://127.0.0.1:18305
    repository: stefanprodan/podinfo
    tags: ["6.8.0"]
"""

RETURN = r"""
pushed:
  description: The tags pushed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
digests:
  description: The manifest digest of each pushed tag.
  returned: when tags were pushed
  type: dict
"""


from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module
from ansible_collections.gitops.progressive.plugins.module_utils.sim.registry import check_options, list_tags, push_tag


def main():
    module = masked_module(
        argument_spec=dict(
            registry_url=dict(type="str", required=True),
            repository=dict(type="str", required=True),
            tags=dict(type="list", elements="str", required=True),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        check_options(params)
        present = set(list_tags(params["registry_url"], params["repository"], timeout=params["timeout"],
                                missing_ok=True))
        wanted = [tag for tag in dict.fromkeys(params["tags"]) if tag not in present]
        digests = {}
        if not module.check_mode:
            for tag in wanted:
                digests[tag] = push_tag(params["registry_url"], params["repository"], tag, timeout=params["timeout"])
    except CollectionError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=bool(wanted), pushed=wanted, **({"digests": digests} if digests else {}))


if __name__ == "__main__":
    main()
