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
  - C(k3d) and C(minikube) need a Docker engine (or another minikube driver). They are
    driven through their own CLIs.
  - Idempotent. A running cluster with the requested node count reports C(ok); a
    stopped one is started; a missing one is created.
  - The kubeconfig written for the cluster is made readable by its owner only (mode 0600).
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
    details: Reports what would be created, started, scaled or deleted; runs nothing that changes state.
  diff_mode:
    support: none
options:
  provider:
    description: Which kind of cluster to manage.
    type: str
    choices: [kwok, k3d, minikube]
    default: kwok
  name:
    description: Name of the cluster (k3d cluster name, minikube profile, kwokctl cluster).
    type: str
    default: gitops
  state:
    description: C(present) creates or starts the cluster; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  kubeconfig:
    description: Path of the kubeconfig file to write for the cluster.
    type: path
    required: true
  state_dir:
    description:
      - Directory for the provider's own state (kwokctl's work directory, PID files, logs).
    type: path
    required: true
  binaries:
    description:
      - Paths of the programs to use, by name. C(kwok) needs C(kwokctl), C(kwok), C(etcd),
        C(kube-apiserver), C(kube-controller-manager) and C(kube-scheduler) (as returned
        by M(gitops.progressive.sim_binaries)); C(k3d) and C(minikube) use C(k3d) or
        C(minikube) from E(PATH) unless given here.
    type: dict
    default: {}
  nodes:
    description:
      - Worker nodes. Simulated nodes for C(kwok), agents for C(k3d), nodes for C(minikube).
    type: int
    default: 1
  servers:
    description: Server (control-plane) nodes, C(k3d) only.
    type: int
    default: 1
  kube_version:
    description:
      - Kubernetes version, like C(v1.33.13). For C(kwok) it must be the version the
        binaries were built at.
    type: str
  api_port:
    description: Host port for the API server. Chosen freely when not set.
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
    description: CPUs for C(minikube).
    type: int
    default: 4
  memory:
    description: Memory for C(minikube), like C(8192) (MiB) or C(8g).
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
    description: More arguments for the provider's create command.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait for the API and the nodes.
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
  description: The provider commands that were run (or would run, in check mode).
  returned: always
  type: list
  elements: list
pids:
  description: PIDs of the cluster's processes (C(kwok) only).
  returned: when provider=kwok and state=present
  type: list
  elements: int
stopped_pids:
  description: PIDs that were still running after the provider's delete and were stopped by PID.
  returned: when state=absent
  type: list
  elements: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gitops.progressive.plugins.module_utils.cluster.providers import (
    ABSENT,
    RUNNING,
    ProviderError,
    provider_for,
)


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
        wait_timeout=dict(type="int", default=120),
    )


def validate(params):
    """Errors naming the field, found before anything runs."""
    errors = []
    if params["nodes"] < (1 if params["provider"] != "k3d" else 0):
        errors.append("nodes must be at least 1 for %s, got %d" % (params["provider"], params["nodes"]))
    if params["servers"] < 1:
        errors.append("servers must be at least 1, got %d" % params["servers"])
    if params["api_port"] is not None and not 0 < params["api_port"] < 65536:
        errors.append("api_port must be a TCP port (1-65535), got %d" % params["api_port"])
    if params["wait_timeout"] < 1:
        errors.append("wait_timeout must be positive, got %d" % params["wait_timeout"])
    return errors


class ClusterRunner:
    def __init__(self, module):
        self.module = module
        self.commands = []

    def __call__(self, argv, env):
        self.commands.append(list(argv))
        return self.module.run_command(argv, environ_update=_env_update(env))


def _env_update(env):
    if not env:
        return None
    return {key: value for key, value in env.items() if os.environ.get(key) != value}


class CheckModeRunner(ClusterRunner):
    """Runs read-only commands (status look-ups); records the rest without running them."""

    READ_ONLY = (("cluster", "list"), ("profile", "list"))

    def __call__(self, argv, env):
        if tuple(argv[1:3]) in self.READ_ONLY:
            return self.module.run_command(argv, environ_update=_env_update(env))
        self.commands.append(list(argv))
        return 0, "", ""


def count_nodes(kubeconfig):
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import client_for_kubeconfig

    client = client_for_kubeconfig(kubeconfig)
    return len(client.resource("Node", "v1").get().to_dict().get("items") or [])


def ensure_present(module, provider, result):
    status = result["status_before"]
    if status == RUNNING and provider.name == "kwok":
        if count_nodes(module.params["kubeconfig"]) != module.params["nodes"]:
            result["changed"] = True
            if module.check_mode:
                result["commands"] += [argv for argv, _what in provider.scale_commands()]
            else:
                provider.scale()
    elif status != RUNNING:
        result["changed"] = True
        if module.check_mode:
            commands = provider.create_commands() if status == ABSENT else provider.start_commands()
            result["commands"] += [argv for argv, _what in commands]
        elif status == ABSENT:
            provider.create()
        else:
            provider.start()
    result["status"] = RUNNING
    if module.check_mode:
        return
    if os.path.exists(module.params["kubeconfig"]):
        os.chmod(module.params["kubeconfig"], 0o600)
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import (
        client_for_kubeconfig,
        wait_nodes_ready,
    )
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import WaitTimeout

    try:
        verdict = wait_nodes_ready(client_for_kubeconfig(module.params["kubeconfig"]),
                                   module.params["nodes"], module.params["wait_timeout"])
    except WaitTimeout as error:
        last = error.last.message if error.last else "the API did not answer"
        raise ProviderError("%s cluster %r: nodes not Ready after %ds (%s)" % (
            provider.name, provider.cluster, module.params["wait_timeout"], last))
    result["nodes"] = verdict.data["ready"]
    if provider.name == "kwok":
        result["pids"] = provider.running_pids()


def ensure_absent(module, provider, result):
    result["status"] = ABSENT
    if result["status_before"] == ABSENT:
        return
    result["changed"] = True
    if module.check_mode:
        result["commands"] += [argv for argv, _what in provider.delete_commands()]
        return
    result["stopped_pids"] = provider.delete()
    if os.path.exists(module.params["kubeconfig"]) and provider.name != "minikube":
        os.unlink(module.params["kubeconfig"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    errors = validate(params)
    if errors:
        module.fail_json(msg="local_cluster %r: %s" % (params["name"], "; ".join(errors)))
    os.makedirs(params["state_dir"], exist_ok=True)
    os.makedirs(os.path.dirname(params["kubeconfig"]) or ".", exist_ok=True)
    runner = CheckModeRunner(module) if module.check_mode else ClusterRunner(module)
    result = dict(changed=False, kubeconfig=params["kubeconfig"], commands=runner.commands,
                  stopped_pids=[])
    try:
        provider = provider_for(params, runner)
        result["status_before"] = provider.status()
        if params["state"] == "present":
            ensure_present(module, provider, result)
        else:
            ensure_absent(module, provider, result)
    except ProviderError as error:
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
