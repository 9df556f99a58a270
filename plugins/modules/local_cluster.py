#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_cluster
short_description: Create, start or delete a local Kubernetes cluster (kwok, k3d, minikube)
version_added: 0.1.0
description:
  - Manages one local cluster with one of three providers and waits until its API
    answers and every node is C(Ready).
  - C(kwok) is the simulated cluster. Real etcd, kube-apiserver, kube-controller-manager
    and kube-scheduler run as local processes started by C(kwokctl)'s binary runtime;
    nodes and pods are simulated by KWOK (pods become Running and Ready, nothing runs).
    Every process is recorded by PID and C(state=absent) leaves none behind.
  - C(kwok) binds every process it starts to C(127.0.0.1) and to nothing else, namely etcd
    (client, peer and metrics), kube-apiserver, kube-controller-manager, kube-scheduler
    and kwok. This is not an option. The module gives kwokctl a configuration file with
    C(options.bindAddress=127.0.0.1) (C(<state_dir>/kwok/configs/<name>.yaml)), and the
    kubeconfig points at C(https://127.0.0.1:<api_port>). kwokctl keeps the address a
    cluster was created with; a cluster created listening elsewhere is named in a
    warning (delete and create it again).
  - Loopback is reachable by every account of the machine, so C(kwok) does not rely on it
    alone. etcd serves TLS only (client and peer) and answers only clients with a
    certificate of its own CA, which only kube-apiserver has; kube-apiserver and kwok
    serve with keys of their own (not the admin client's), and the kubeconfig's
    certificate authority verifies kube-apiserver's. The module makes these keys and
    certificates (ECDSA P-256, valid ten years) before kwokctl runs, in
    C(<state_dir>/kwok/clusters/<name>/pki), and picks the components' ports itself, as
    kwokctl would (etcd's addresses must name them). A cluster created before etcd was
    secured is named in a warning (delete and create it again). C(kwokctl etcdctl)
    needs that CA and kube-apiserver's etcd client certificate given by hand.
  - Everything under C(<state_dir>/kwok) (keys, kubeconfigs, PID files, logs) is the
    owner's alone, made so after every create and start (directories 0700, files
    without group or other permissions, keys and kubeconfigs 0600).
  - C(k3d) and C(minikube) need a Docker engine (or another minikube driver). They are
    driven through their own CLIs.
  - Idempotent. A running cluster with the requested node count reports C(ok); a
    stopped one is started; a missing one is created.
  - The kubeconfig written for the cluster is made readable by its owner only (mode 0600).
    The file may hold other clusters; C(state=absent) removes only this cluster's
    cluster, context and user entries (C(kwok-<name>), C(k3d-<name>) and
    C(admin@k3d-<name>), or the minikube profile's name), empties C(current-context)
    when it named this cluster, and deletes the file only when nothing else is left in it.
  - Directories the module creates (O(state_dir), the kubeconfig's directory) are
    owner-only (mode 0700).
  - Arguments are checked before anything runs; every problem names its field.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.sim
  - gitops.progressive.wait.timeout
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be created, started, scaled or deleted, and the kubeconfig
        entries that would be removed. Runs only read-only look-ups (the provider's
        cluster list, the node count of a running cluster) and writes nothing to disk,
        not even O(state_dir).
  diff_mode:
    support: none
options:
  provider:
    description: Which kind of cluster to manage.
    type: str
    choices: [kwok, k3d, minikube]
    default: kwok
  name:
    description:
      - Name of the cluster (k3d cluster name, minikube profile, kwokctl cluster).
      - Lower-case letters, digits and C(-), starting and ending with a letter or digit,
        at most 40 characters.
    type: str
    default: gitops
  state:
    description: C(present) creates or starts the cluster; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  kubeconfig:
    description:
      - Path of the kubeconfig file to write the cluster's entries into. Other clusters
        in the same file are kept (see the description).
      - An absolute path (C(~) is expanded), not a directory; never the root, the home
        directory or a system directory such as C(/etc), nor under C(/proc), C(/sys), C(/dev)
        or in C(.git).
    type: path
    required: true
  state_dir:
    description:
      - Directory for the provider's own state (kwokctl's work directory, PID files, logs).
      - Created owner-only (0700) when missing; never created in check mode.
      - An absolute path (C(~) is expanded); never the root, the home directory itself, a
        system directory itself (C(/etc), C(/usr), C(/var), C(/root), ...), anything under
        C(/proc), C(/sys) or C(/dev), or in C(.git).
    type: path
    required: true
  binaries:
    description:
      - Paths of the programs to use, by name. C(kwok) needs C(kwokctl), C(kwok), C(etcd),
        C(kube-apiserver), C(kube-controller-manager) and C(kube-scheduler) (as returned
        by M(gitops.progressive.sim_binaries)); C(k3d) and C(minikube) use C(k3d) or
        C(minikube) from E(PATH) unless given here.
      - Each an absolute path, or for C(kwok) an C(https://) address kwokctl downloads from
        (without credentials).
    type: dict
    default: {}
  nodes:
    description:
      - Worker nodes. Simulated nodes for C(kwok), agents for C(k3d), nodes for C(minikube).
      - At most 1000.
    type: int
    default: 1
  servers:
    description: Server (control-plane) nodes, C(k3d) only (1 to 9).
    type: int
    default: 1
  kube_version:
    description:
      - Kubernetes version, like C(v1.33.13). For C(kwok) it must be the version the
        binaries were built at.
    type: str
  api_port:
    description:
      - Host port for the API server (1-65535). Chosen freely when not set.
      - C(kwok) and C(k3d) listen on it at C(127.0.0.1) only.
    type: int
  image:
    description: Node image, C(k3d) only (for example C(rancher/k3s:v1.33.5-k3s1)).
    type: str
  port_mappings:
    description:
      - C(k3d) port mappings, like C(8080:80@loadbalancer), so the ingress or mesh
        gateway answers on the host.
    type: list
    elements: str
    default: []
  k3s_disable:
    description: k3s components to disable, C(k3d) only (for example C(traefik)).
    type: list
    elements: str
    default: []
  cpus:
    description: CPUs for C(minikube) (1 to 1024).
    type: int
    default: 4
  memory:
    description: Memory for C(minikube), like C(8192) (MiB) or C(8g), or minikube's C(max) or C(no-limit).
    type: str
    default: "8192"
  driver:
    description: C(minikube) driver.
    type: str
    default: docker
  tunnel:
    description:
      - Run C(minikube tunnel) in the background (tracked by PID) so LoadBalancer
        services get an address. C(minikube) only.
    type: bool
    default: false
  extra_args:
    description:
      - More arguments for the provider's create command.
      - For C(kwok) they are added after the module's own; a C(--config) given here is
        read after the module's and can change the bind address.
    type: list
    elements: str
    default: []
  wait_timeout:
    description:
      - Seconds to wait for the API and the nodes, a hard limit.
      - Must be positive and at most 86400 (a day).
    type: int
    default: 120
notes:
  - The C(k3d) and C(minikube) providers cannot run on a machine without a container
    engine; the collection's tests cover their command lines only.
seealso:
  - module: gitops.progressive.sim_binaries
"""

EXAMPLES = r"""
- name: Build the simulated control plane from source (cached by version)
  gitops.progressive.sim_binaries:
    components: [kubernetes, etcd, kwok]
  register: sim

- name: Start a simulated cluster with three nodes
  gitops.progressive.local_cluster:
    provider: kwok
    name: rehearsal
    nodes: 3
    kube_version: v1.33.13
    binaries: "{{ sim.binaries }}"
    kubeconfig: ~/.kube/rehearsal.yaml
    state_dir: ~/.local/state/gitops-progressive

- name: A k3d staging cluster with two agents and the ingress on port 8080
  gitops.progressive.local_cluster:
    provider: k3d
    name: staging
    nodes: 2
    port_mappings: ["8080:80@loadbalancer"]
    k3s_disable: [traefik]
    kubeconfig: ~/.kube/staging.yaml
    state_dir: ~/.local/state/gitops-progressive

- name: Delete the simulated cluster and stop every process it started
  gitops.progressive.local_cluster:
    provider: kwok
    name: rehearsal
    state: absent
    binaries: "{{ sim.binaries }}"
    kubeconfig: ~/.kube/rehearsal.yaml
    state_dir: ~/.local/state/gitops-progressive
"""

RETURN = r"""
kubeconfig:
  description: Path of the cluster's kubeconfig.
  returned: always
  type: str
  sample: /root/.kube/rehearsal.yaml
status_before:
  description: What the cluster was before the task (C(absent), C(stopped), C(running)).
  returned: always
  type: str
  sample: absent
status:
  description: What the cluster is after the task (in check mode, what it would be).
  returned: always
  type: str
  sample: running
nodes:
  description: Names of the Ready nodes.
  returned: when state=present and not in check mode
  type: list
  elements: str
  sample: [kwok-node-0]
commands:
  description:
    - The provider commands that change the cluster, as run (or as they would run, in
      check mode). Status look-ups are not listed.
  returned: always
  type: list
  elements: list
pids:
  description:
    - PIDs of the processes the cluster runs on this host, each listening on 127.0.0.1
      only for C(kwok) (every component) and the tunnel for C(minikube).
  returned: when state=present, not in check mode, and the provider runs local processes
  type: list
  elements: int
kubeconfig_removed:
  description: This cluster's entries removed from the kubeconfig, by section (C(clusters), C(contexts), C(users)).
  returned: when state=absent
  type: dict
  sample: {"clusters": ["kwok-rehearsal"], "contexts": ["kwok-rehearsal"], "users": ["kwok-rehearsal"]}
kubeconfig_deleted:
  description: Whether the kubeconfig file was deleted because nothing else was left in it.
  returned: when state=absent
  type: bool
stopped_pids:
  description: PIDs that were still running after the provider's delete and were stopped by PID.
  returned: when state=absent
  type: list
  elements: int
"""


from ansible_collections.gitops.progressive.plugins.module_utils.args import wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.cluster.inputs import check_options
from ansible_collections.gitops.progressive.plugins.module_utils.cluster.reconcile import Runner, reconcile
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module


def argument_spec():
    return dict(
        provider=dict(type="str", choices=["kwok", "k3d", "minikube"], default="kwok"),
        name=dict(type="str", default="gitops"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        kubeconfig=dict(type="path", required=True),
        state_dir=dict(type="path", required=True),
        binaries=dict(type="dict", default={}),
        nodes=dict(type="int", default=1),
        servers=dict(type="int", default=1),
        kube_version=dict(type="str"),
        api_port=dict(type="int"),
        image=dict(type="str"),
        port_mappings=dict(type="list", elements="str", default=[]),
        k3s_disable=dict(type="list", elements="str", default=[]),
        cpus=dict(type="int", default=4),
        memory=dict(type="str", default="8192"),
        driver=dict(type="str", default="docker"),
        tunnel=dict(type="bool", default=False),
        extra_args=dict(type="list", elements="str", default=[]),
        **wait_argument_spec(wait=None, wait_timeout=120),
    )


def main():
    module = masked_module(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        check_options(module.params)
        result = reconcile(dict(module.params), Runner(module.run_command, module.check_mode), module.check_mode)
    except CollectionError as error:
        details = dict(error.details)
        for warning in details.pop("warnings", []):
            module.warn(warning)
        module.fail_json(msg=str(error), **details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
