#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sim_binaries
short_description: Build the simulated platform's binaries from their Go modules, cached by version
version_added: 0.1.0
description:
  - Builds the programs of the simulated platform from their Go modules at pinned
    versions, through the Go module proxy, into a cache outside any checkout.
  - C(kubernetes) gives C(kube-apiserver), C(kube-controller-manager) and C(kube-scheduler),
    with the version stamped in so that clients and controllers that check it accept it.
    C(etcd) gives C(etcd). C(kwok) gives C(kwok) and C(kwokctl), with kwokctl's default
    Kubernetes version set to O(kubernetes_version). C(flagger) gives C(flagger) and
    C(loadtester).
  - A component already in the cache is not built again (the task reports C(ok)).
    Components missing from the cache are built O(jobs) at a time.
  - C(kubectl) gives C(kubectl) (used by the benchmarks, not by the platform).
  - The first build on a new machine takes tens of minutes; later calls take a second.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.sim
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
requirements:
  - Go 1.24 or later on E(PATH) (or O(go)), and access to a Go module proxy on first build.
attributes:
  check_mode:
    support: full
    details: Reports which components would be built, and their paths, without building.
  diff_mode:
    support: none
options:
  components:
    description: What to build.
    type: list
    elements: str
    choices: [kubernetes, etcd, kwok, flagger, kubectl]
    default: []
  sources:
    description:
      - Go modules to fetch as source, each as C(module@version), for the files they carry
        (Flagger's CRDs in C(github.com/fluxcd/flagger), Istio's in C(istio.io/api)). Their
        directories in the Go module cache are returned in RV(source_dirs).
    type: list
    elements: str
    default: []
  kubernetes_version:
    description: Kubernetes release for the control plane (C(k8s.io/kubernetes) module version).
    type: str
    default: v1.33.13
  etcd_version:
    description: etcd release (C(go.etcd.io/etcd/server/v3) module version).
    type: str
    default: v3.5.24
  kwok_version:
    description: KWOK release (C(sigs.k8s.io/kwok) module version).
    type: str
    default: v0.8.0
  flagger_version:
    description: Flagger release (C(github.com/fluxcd/flagger) module version).
    type: str
    default: v1.41.0
  cache_dir:
    description:
      - Where binaries, build logs and wrapper modules are kept. Defaults to
        E(GITOPS_PROGRESSIVE_CACHE), else C(~/.cache/gitops-progressive).
    type: path
  jobs:
    description: Components built at the same time.
    type: int
    default: 2
  go:
    description: The C(go) command.
    type: path
    default: go
seealso:
  - module: gitops.progressive.local_cluster
"""

EXAMPLES = r"""
- name: Build the simulated control plane and KWOK
  gitops.progressive.sim_binaries:
    components: [kubernetes, etcd, kwok]
  register: sim

- name: Show where kube-apiserver is
  ansible.builtin.debug:
    msg: "{{ sim.binaries['kube-apiserver'] }}"

- name: Build Flagger and its load tester at a chosen release
  gitops.progressive.sim_binaries:
    components: [flagger]
    flagger_version: v1.41.0
"""

RETURN = r"""
binaries:
  description: Path of every program the components provide, by program name.
  returned: always
  type: dict
  sample: {"kube-apiserver": "/root/.cache/gitops-progressive/bin/kubernetes-v1.33.13/kube-apiserver"}
built:
  description: Components built by this task (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [kubernetes-v1.33.13]
seconds:
  description: Build time of each component built, in seconds.
  returned: always
  type: dict
source_dirs:
  description: Directory of each module of O(sources), by C(module@version).
  returned: always
  type: dict
  sample: {"istio.io/api@v1.26.0": "/root/go/pkg/mod/istio.io/api@v1.26.0"}
cache_dir:
  description: The cache directory used.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.gitops.progressive.plugins.module_utils.sim.gobuild import (
    BinaryCache,
    BuildError,
    download_module,
    recipes_for,
)

DEFAULT_CACHE = "~/.cache/gitops-progressive"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            components=dict(type="list", elements="str", default=[],
                            choices=["kubernetes", "etcd", "kwok", "flagger", "kubectl"]),
            sources=dict(type="list", elements="str", default=[]),
            kubernetes_version=dict(type="str", default="v1.33.13"),
            etcd_version=dict(type="str", default="v3.5.24"),
            kwok_version=dict(type="str", default="v0.8.0"),
            flagger_version=dict(type="str", default="v1.41.0"),
            cache_dir=dict(type="path", fallback=(env_fallback, ["GITOPS_PROGRESSIVE_CACHE"])),
            jobs=dict(type="int", default=2),
            go=dict(type="path", default="go"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    cache = BinaryCache(params["cache_dir"] or DEFAULT_CACHE, go=params["go"])
    if params["jobs"] < 1:
        module.fail_json(msg="sim_binaries: jobs must be at least 1, got %d" % params["jobs"])
    source_dirs = {}
    try:
        recipes = recipes_for(params["components"], params, go=params["go"])
        for source in params["sources"]:
            name, _at, version = source.partition("@")
            if not name or not version:
                raise ValueError("sources: %r is not module@version" % source)
            source_dirs[source] = download_module(name, version, params["go"])["Dir"]
    except (BuildError, ValueError) as error:
        module.fail_json(msg="sim_binaries: %s" % error)
    missing = [recipe for recipe in recipes if not cache.is_built(recipe)]
    binaries = {}
    for recipe in recipes:
        binaries.update(cache.paths(recipe))
    result = dict(changed=bool(missing), binaries=binaries, cache_dir=cache.root, source_dirs=source_dirs,
                  built=[recipe.key for recipe in missing], seconds={})
    if missing and not module.check_mode:
        try:
            result["seconds"] = {key: round(value, 1) for key, value in
                                 cache.build_all(missing, jobs=params["jobs"]).items()}
        except BuildError as error:
            module.fail_json(msg="sim_binaries: %s" % error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
