#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_node
short_description: A real node (containerd, kubelet, kube-proxy) that joins a kwok cluster on this machine
version_added: 0.1.0
description:
  - Starts a real node beside the simulated ones of a cluster made by M(gitops.progressive.local_cluster)
    (provider C(kwok)), with containerd and runc from the machine's packages, kubelet and kube-proxy built
    from the pinned Kubernetes module, the CNI bridge, host-local, loopback and portmap plugins. Its
    pods really run.
  - The node lives in a network namespace of its own (C(gitops-<name>)), where containerd, kubelet,
    kube-proxy and the pods' bridge run, with no route, NAT or link past the machine; a C(hostNetwork)
    pod gets that namespace. A private mount namespace is shared by containerd and kubelet, the cgroup
    C(/gitops-progressive/<name>) holds every process of the node, and the directory
    C(<state_dir>/nodes/<name>) (owner-only) what it writes, but for its Unix sockets and kubelet's
    root, in a short runtime directory under C(/run/gitops-progressive/n) (owner-only). kubelet reaches kube-apiserver, and
    containerd the registry, through forwarders (C(socat)) over 0600 Unix sockets; on the machine,
    nothing of the node listens on TCP or UDP.
  - A pod with C(hostPID) or C(hostIPC) still shares the machine's PID or IPC namespace.
  - containerd pulls through the loopback registry O(registry_url), which it mirrors each of
    O(mirrored_registries) to, never falling back to the upstream host, so manifests keep the image
    names a real cluster uses (push them with M(gitops.progressive.sim_image)).
  - The node carries the label C(gitops.progressive/real-node=true) and, with O(tainted), the taint
    C(gitops.progressive/real-node=true:NoSchedule), so that only pods that tolerate it run there.
  - A node started from other options or binaries than the task's is started again.
  - kubelet changes kernel tunables machine-wide (C(vm.overcommit_memory), C(kernel.panic),
    C(kernel.panic_on_oops), C(kernel.keys.*)); their values from before the machine's first real node
    started are kept in one record of the machine (with the nodes that hold it) and put back when the
    last of those nodes is taken down.
  - A node name is one node on the machine. The state directory that started it owns it, and another
    state directory's task refuses the name.
  - O(state=absent) stops every process of the node by PID (those it started by their PID files,
    then every PID in its frozen cgroup), removes its cgroups, network namespace and directory, and
    deletes the Node object when the cluster still answers. No process, mount, network namespace,
    bridge, cgroup or iptables rule is left behind.
  - Needs root, C(ip), C(nsenter), C(unshare), C(socat), C(iptables), C(curl), containerd and runc on the
    controller, and a cluster created by this collection version or later (kwok must manage only its
    own nodes).
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
    details: Reports whether the node would be started or taken down, without doing it.
  diff_mode:
    support: none
options:
  name:
    description: The node's name (lower-case letters, digits and C(-), at most 63 characters).
    type: str
    required: true
  cluster:
    description: The kwok cluster it joins (its certificates are signed by that cluster's CA).
    type: str
    required: true
  state:
    description: Whether the node runs.
    type: str
    choices: [present, absent]
    default: present
  state_dir:
    description: The cluster's state directory (as given to M(gitops.progressive.local_cluster)).
    type: path
    required: true
  kubeconfig:
    description: The cluster's admin kubeconfig (its API server on C(https://127.0.0.1:<port>)).
    type: path
    required: true
  binaries:
    description:
      - Paths of C(kubelet), C(kube-proxy) (the C(kubernetes-node) component of M(gitops.progressive.sim_binaries)),
        C(bridge), C(host-local), C(loopback) and C(portmap) (its C(cni) component).
    type: dict
    default: {}
  registry_url:
    description: The loopback registry containerd pulls from, C(http://127.0.0.1:<port>) and nothing else. Required with O(state=present).
    type: str
    default: ""
  mirrored_registries:
    description: The registry hosts whose images come from O(registry_url).
    type: list
    elements: str
    default: [docker.io, ghcr.io, registry.k8s.io, quay.io, gcr.io, mcr.microsoft.com]
  sandbox_image:
    description: The pods' sandbox image (built here, see M(gitops.progressive.sim_image)).
    type: str
    default: ghcr.io/gitops-progressive/pause:v1.0.0
  pod_cidr:
    description: The pods' addresses (a private IPv4 network).
    type: str
    default: 10.244.0.0/24
  service_cidr:
    description: The cluster's service addresses (kube-apiserver's C(--service-cluster-ip-range)).
    type: str
    default: 10.0.0.0/24
  node_ip:
    description: The node's address, inside its network namespace only.
    type: str
    default: 10.250.0.1
  cluster_dns:
    description:
      - The cluster DNS Service's address in O(service_cidr), which kubelet gives pods as their name
        server (C(clusterDNS)); the cluster role runs CoreDNS behind it.
    type: str
    default: 10.0.0.10
  published_ports:
    description:
      - Ports of the node published on the machine's 127.0.0.1, each as C(HOSTPORT:NODEPORT), like k3d's
        port mappings. A connection to C(127.0.0.1:HOSTPORT) goes through a 0600 Unix socket into the node's
        network namespace, to the node's address at C(NODEPORT), where kube-proxy takes it to a pod of the
        Service with that C(nodePort) (30000-32767). Nothing listens on another address.
      - A machine port taken by another program is refused before anything starts. The ports are part of what
        the node was started from; changing them restarts the node (its pods are started again).
    type: list
    elements: str
    default: []
  host_ports:
    description:
      - Services of the machine (on its 127.0.0.1) that the node's pods reach, by port, like the loopback git
        server and chart repository for Flux's controllers run as pods. Each is answered inside the node's
        network namespace at RV(host_address) (the API's advertised address, on the node's loopback) and the
        same port, and taken through a 0600 Unix socket to the machine's 127.0.0.1 at that port; give pods a
        Service without a selector whose endpoint is that address. Nothing outside the node reaches it.
      - The ports are part of what the node was started from; changing them restarts the node.
    type: list
    elements: int
    default: []
  tainted:
    description: Taint the node so that only pods that tolerate C(gitops.progressive/real-node) run on it.
    type: bool
    default: true
  wait_timeout:
    description: Seconds for the whole bring-up, until the node is Ready (1 to 3600).
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: A real node in the simulated cluster
  gitops.progressive.local_node:
    name: gitops-real-0
    cluster: gitops
    state_dir: ~/.local/state/gitops-progressive
    kubeconfig: ~/.local/state/gitops-progressive/gitops.kubeconfig
    binaries: "{{ node_binaries }}"
    registry_url: http://127.0.0.1:5000

- name: Take it down
  gitops.progressive.local_node:
    name: gitops-real-0
    cluster: gitops
    state: absent
    state_dir: ~/.local/state/gitops-progressive
    kubeconfig: ~/.local/state/gitops-progressive/gitops.kubeconfig
"""

RETURN = r"""
pids:
  description: The PID of each of the node's processes (forwarders, containerd, kubelet, kube-proxy).
  returned: when state=present and not in check mode
  type: dict
  sample: {containerd: 4242, kubelet: 4250}
netns:
  description: The node's network namespace.
  returned: always
  type: str
  sample: gitops-gitops-real-0
host_address:
  description: Where the node's pods reach the machine's O(host_ports) (each at the same port).
  returned: when state=present and O(host_ports) is not empty
  type: str
  sample: 10.89.0.2
stopped_pids:
  description: The PIDs stopped (the node's processes, shims and containers).
  returned: when state=absent
  type: list
  elements: int
"""

from ansible_collections.gitops.progressive.plugins.module_utils.cluster.node import node_argument_spec, reconcile
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module


def main():
    module = masked_module(argument_spec=node_argument_spec(), supports_check_mode=True)
    try:
        result = reconcile(module.params, module.check_mode)
    except (CollectionError, ValueError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
