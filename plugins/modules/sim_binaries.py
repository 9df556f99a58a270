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
  - >-
    While it builds, the task prints a line per component on standard error when its
    build starts, every O(progress_interval) seconds while it runs, with the time spent so
    far (for example C(building kubernetes v1.33.13 ...: 2m10s)), and
    when it ends (C(built ... in 571 s)).
  - Runs on the controller (an action plugin), where the simulated platform's processes run.
  - Every version must look like a release (C(v1.33.13), C(v1.34.0-rc.1)); anything else
    fails naming the option before anything is written.
  - C(flagger) is built from a patched copy of the module, because upstream Flagger and its load
    tester listen on every interface; the patch adds a C(-listen-address) flag to both,
    default C(127.0.0.1).
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.sim
  - gitops.progressive.attributes.action_plugin
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - ansible.builtin.action_common_attributes.flow
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
    description:
      - What to build. C(flux) is source-, kustomize-, helm- and notification-controller,
        each from its own module at the version the Flux release O(flux_version) requires;
        C(flux-image) is image-reflector- and image-automation-controller; C(flux-cli) is the C(flux) CLI
        of O(flux_version), with the manifests it embeds (which its module lacks) made from the controllers'
        own modules, as its release does, so that C(flux install) works with no network; C(helm) is the
        C(helm) command at the Helm release helm-controller is built with; C(helm3) is the
        C(helm) command at the Helm 3 release O(helm3_version) (what C(kubernetes.core.helm)
        works with); C(registry) is the CNCF distribution registry at O(registry_version).
      - The real node's parts (M(gitops.progressive.local_node)). C(kubernetes-node) is C(kubelet) and
        C(kube-proxy) at O(kubernetes_version); C(cni) is the CNI plugins C(bridge), C(host-local),
        C(loopback) and C(portmap) at O(cni_version); C(demo-app) is this collection's demo app (it answers
        like podinfo and fails a set fraction of its answers when told to; not podinfo, whose module the
        Go proxy cannot serve); C(pause) is this collection's pod sandbox program.
      - The real node's data plane. C(traefik) is Traefik at O(traefik_version), built with the replaces and
        excludes of its own C(go.mod) (its CRDs are returned in RV(modules)); C(hey) is the HTTP load
        generator Flagger's load tester runs, at O(hey_version); C(coredns) is CoreDNS at O(coredns_version)
        with only the plugins a cluster DNS uses (C(kubernetes), C(cache), C(errors), C(log), C(health),
        C(ready), C(loadbalance)); C(prometheus) is the Prometheus server at O(prometheus_version) with the
        service discovery Flagger's chart configures (C(kubernetes)) besides C(file) and C(http), without the
        web UI's assets (its API is complete).
      - helm-controller pins Helm to a Flux fork that the Go module proxy does not serve;
        it is built against upstream Helm at the fork's base release.
    type: list
    elements: str
    choices: [kubernetes, etcd, kwok, flagger, kubectl, flux, flux-image, flux-cli, helm, helm3, registry, kubernetes-node,
              cni, demo-app, pause, traefik, hey, coredns, prometheus]
    default: []
  sources:
    description:
      - Go modules to fetch as source, each as C(module@version) (a release version, as
        for the C(*_version) options), for the files they carry
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
  flux_version:
    description:
      - Flux release (C(github.com/fluxcd/flux2/v2) module version). Its C(go.mod) names the
        controller versions (it requires each controller's API module).
      - v2.9.3 is the newest release whose controllers and their dependencies the Go
        module proxy serves in full (v2.9.4's source-controller needs a
        C(github.com/fluxcd/pkg/artifact) version it lacks).
    type: str
    default: v2.9.3
  registry_version:
    description: CNCF distribution registry release (C(github.com/distribution/distribution/v3) module version).
    type: str
    default: v3.1.2
  cni_version:
    description: Release of the CNI plugins (C(github.com/containernetworking/plugins) module version).
    type: str
    default: v1.10.0
  traefik_version:
    description:
      - Traefik release (C(github.com/traefik/traefik/v3) module version).
      - v3.6.12 is the newest release whose dependencies the Go module proxy serves in full (v3.7's
        need versions it refuses).
    type: str
    default: v3.6.12
  hey_version:
    description: hey release (C(github.com/rakyll/hey) module version).
    type: str
    default: v0.1.5
  coredns_version:
    description: CoreDNS release (C(github.com/coredns/coredns) module version).
    type: str
    default: v1.14.7
  prometheus_version:
    description:
      - Prometheus release of the C(prometheus) component (v2.41.0 is the one Flagger's v1.41.0 chart names); built
        from the C(github.com/prometheus/prometheus) module at its module version (2.x.y is v0.x.y).
    type: str
    default: v2.41.0
  helm3_version:
    description: Helm 3 release of the C(helm3) component (C(helm.sh/helm/v3) module version).
    type: str
    default: v3.22.0
  cache_dir:
    description:
      - Where binaries, build logs and wrapper modules are kept. Defaults to
        E(GITOPS_PROGRESSIVE_CACHE) (on the controller), else C(~/.cache/gitops-progressive).
    type: path
  jobs:
    description: Components built at the same time (1 to 64).
    type: int
    default: 2
  go:
    description: The C(go) command.
    type: path
    default: go
  progress_interval:
    description: Seconds between two progress lines of a build that is still running (1 to 3600).
    type: int
    default: 30
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
modules:
  description: Source directory of each module built whose files the platform reads (the Flux controllers' and Traefik's CRDs), by component.
  returned: always
  type: dict
  sample: {"source-controller": "/root/go/pkg/mod/github.com/fluxcd/source-controller@v1.9.3"}
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


from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module
from ansible_collections.gitops.progressive.plugins.module_utils.sim.binaries import (
    binaries_argument_spec,
    check_options,
)


def main():
    module = masked_module(argument_spec=binaries_argument_spec(), supports_check_mode=True)
    # Run as a module (the action plugin not found), it still names what is wrong with its options first.
    try:
        check_options(module.params)
    except ValueError as error:
        module.fail_json(msg="sim_binaries: %s" % error)
    module.fail_json(msg="gitops.progressive.sim_binaries runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
