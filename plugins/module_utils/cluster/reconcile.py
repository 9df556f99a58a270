# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local_cluster workflow: validate, look, then create, start, scale or delete.

The module only builds a :class:`Runner` on Ansible's ``run_command`` and calls
:func:`reconcile`; everything a provider does differently is a provider method
(providers.py), and the Kubernetes API is reached through :class:`NodesApi`, so the
whole workflow runs in unit tests with a recorder and a fake API.

Check mode is honest: the provider's status look-ups run (``read_only``), nothing else
does, and nothing is written to disk, not even the state directory.
"""

from __future__ import annotations

import os
import re

from ansible_collections.gitops.progressive.plugins.module_utils.args import check_wait_timeout
from ansible_collections.gitops.progressive.plugins.module_utils.cluster import kubeconfig
from ansible_collections.gitops.progressive.plugins.module_utils.cluster.providers import (
    ABSENT,
    PROVIDERS,
    RUNNING,
    STOPPED,
    ProviderError,
    provider_for,
)
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process

# A DNS label, short enough for the names providers derive from it (k3d's
# "k3d-<name>-agent-12", kwok's "kwok-<name>"), and safe in a path.
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
NAME_MAX = 40
# What the kwok provider runs (sim_binaries returns each by this name).
KWOK_PROGRAMS = ("kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# k3d's port mapping: [HOST:][HOSTPORT:]CONTAINERPORT[/PROTOCOL][@NODEFILTER]
PROTOCOLS = ("tcp", "udp", "sctp")


class ClusterInputError(CollectionError):
    """Task arguments that cannot work; every problem names its field."""

    def __init__(self, cluster, problems):
        super().__init__("local_cluster %r: %s" % (cluster, "; ".join(problems)))
        self.problems = problems


def _port_problem(field, value):
    if not 0 < value < 65536:
        return "%s must be a TCP port (1-65535), got %d" % (field, value)
    return None


def _port_mapping_problems(field, mapping):
    ports = mapping.split("@", 1)[0]
    ports, _slash, protocol = ports.partition("/")
    parts = ports.rsplit(":", 2)
    numbers = parts[-2:] if len(parts) > 1 and parts[-2].isdigit() else parts[-1:]
    if (protocol and protocol not in PROTOCOLS) or not all(number.isdigit() for number in numbers):
        return ["%s must look like [HOST:][HOSTPORT:]PORT[/PROTOCOL][@NODEFILTER], got %r" % (field, mapping)]
    return [problem for problem in (_port_problem(field, int(number)) for number in numbers) if problem]


def validate(params):
    """Every problem with the arguments, each naming its field; found before anything runs."""
    problems = []
    provider, name = params["provider"], params["name"]
    if provider not in PROVIDERS:
        problems.append("provider must be one of %s, got %r" % (", ".join(sorted(PROVIDERS)), provider))
    if not NAME_PATTERN.match(name or "") or len(name) > NAME_MAX:
        problems.append("name must be lower-case letters, digits and '-', starting and ending with a letter "
                        "or digit, at most %d characters, got %r" % (NAME_MAX, name))
    minimum_nodes = 0 if provider == "k3d" else 1
    if params["nodes"] < minimum_nodes:
        problems.append("nodes must be at least %d for %s, got %d" % (minimum_nodes, provider, params["nodes"]))
    if params["servers"] < 1:
        problems.append("servers must be at least 1, got %d" % params["servers"])
    if params["cpus"] < 1:
        problems.append("cpus must be at least 1, got %d" % params["cpus"])
    if params.get("api_port") is not None:
        problems.append(_port_problem("api_port", params["api_port"]))
    for index, mapping in enumerate(params.get("port_mappings") or []):
        problems.extend(_port_mapping_problems("port_mappings[%d]" % index, mapping))
    problems.append(check_wait_timeout(params, "cluster %r" % name))
    if provider == "kwok" and params["state"] == "present":
        binaries = params.get("binaries") or {}
        missing = [component for component in KWOK_PROGRAMS if not binaries.get(component)]
        if missing:
            problems.append("binaries has no path for %s (sim_binaries returns them)" % ", ".join(missing))
    return [problem for problem in problems if problem]


def _env_update(env):
    if not env:
        return None
    return {key: value for key, value in env.items() if os.environ.get(key) != value}


class Runner:
    """``run(argv, env, read_only=False)`` for the providers, on Ansible's ``run_command``.

    In check mode only ``read_only`` commands (status look-ups) run; anything else is
    answered with success and not run. The workflow lists what would run itself, from
    the providers' ``*_commands``, so this is a second fence, not the bookkeeping.
    """

    def __init__(self, run_command, check_mode=False):
        self.run_command = run_command
        self.check_mode = check_mode

    def __call__(self, argv, env, read_only=False):
        if self.check_mode and not read_only:
            return 0, "", ""
        if isinstance(env, process.CleanEnvironment):
            # run_command can only add to the module's environment; env -i starts from nothing.
            assignments = ["%s=%s" % item for item in sorted(env.items())]
            return self.run_command(["env", "-i"] + assignments + list(argv))
        return self.run_command(list(argv), environ_update=_env_update(env))


class NodesApi:
    """The cluster's nodes, through the collection's Kubernetes API access."""

    def __init__(self, kubeconfig_path):
        self.kubeconfig = kubeconfig_path
        self._kube = None

    @property
    def kube(self):
        if self._kube is None:
            from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import client_for_kubeconfig

            self._kube = client_for_kubeconfig(self.kubeconfig)
        return self._kube

    def count(self):
        from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import NODE

        from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import is_real_node

        items, _version = self.kube.list(NODE)
        # A real node (local_node) is not one of the provider's: never scaled away.
        return len([item for item in items if not is_real_node(item)])

    def wait_ready(self, count, timeout):
        """Names of the Ready nodes once ``count`` exist and all are Ready; WaitTimeout otherwise."""
        from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import wait_nodes_ready

        return wait_nodes_ready(self.kube, count, timeout).data["ready"]


def _argvs(commands):
    return [list(argv) for argv, _what in commands]


def ensure_present(provider, params, check_mode, result, nodes):
    status = result["status_before"]
    if status != ABSENT:
        result["warnings"] += provider.warnings()
    if status == RUNNING:
        scaled = provider.reconcile_nodes(nodes, check_mode)
        if scaled:
            result["changed"] = True
            result["commands"] += scaled
    else:
        result["changed"] = True
        if status == ABSENT:
            result["commands"] += _argvs(provider.create_commands())
        else:
            result["commands"] += _argvs(provider.start_commands())
        if not check_mode:
            # Owner-only when created here: they hold the cluster's keys, PID files and credentials.
            process.make_private_dir(params["state_dir"])
            process.make_private_dir(os.path.dirname(params["kubeconfig"]))
            if status == ABSENT:
                provider.create()
            else:
                provider.start()
    result["status"] = RUNNING
    if check_mode:
        return
    if os.path.exists(params["kubeconfig"]):
        os.chmod(params["kubeconfig"], 0o600)

    from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import WaitTimeout

    try:
        result["nodes"] = nodes.wait_ready(params["nodes"], params["wait_timeout"])
    except WaitTimeout as error:
        last = error.last.message if error.last else "the API did not answer"
        raise ProviderError("%s cluster %r: nodes not Ready after %ds (%s)" % (
            provider.name, provider.cluster, params["wait_timeout"], last))
    pids = provider.pids()
    if pids is not None:
        result["pids"] = pids


def ensure_absent(provider, params, check_mode, result):
    result["status"] = ABSENT
    owned = result["status_before"] != ABSENT
    if owned:
        result["changed"] = True
        result["commands"] += _argvs(provider.delete_commands())
        if not check_mode:
            result["stopped_pids"] = provider.delete()
            # PID files whose process could not be proven to be the component (a reused PID): not signalled.
            result["warnings"] += list(getattr(provider, "stale", None) or [])
    try:
        removed, deleted = kubeconfig.remove_entries(params["kubeconfig"], provider.kubeconfig_entries(),
                                                     check_mode=check_mode, owned=owned)
    except kubeconfig.KubeconfigError as error:
        # The cluster is gone; a file we cannot read may hold other clusters, so it stays.
        result["warnings"].append(str(error))
        return
    result["kubeconfig_removed"] = removed
    result["kubeconfig_deleted"] = deleted
    if removed or deleted:
        result["changed"] = True


def reconcile(params, run, check_mode=False, nodes_api=NodesApi):
    """Bring the cluster to ``params["state"]``; returns the module's result.

    Raises a CollectionError (ClusterInputError, ProviderError, an API error) whose
    ``details`` hold the result so far (what ran, the status before).
    """
    problems = validate(params)
    if problems:
        raise ClusterInputError(params["name"], problems)
    result = dict(changed=False, kubeconfig=params["kubeconfig"], commands=[], stopped_pids=[], warnings=[])
    try:
        provider = provider_for(params, run)
        result["status_before"] = provider.status()
        if params["state"] == "present":
            ensure_present(provider, params, check_mode, result, nodes_api(params["kubeconfig"]))
        else:
            ensure_absent(provider, params, check_mode, result)
    except CollectionError as error:
        error.details.update(result)
        raise
    return result


__all__ = ["ABSENT", "RUNNING", "STOPPED", "ClusterInputError", "NodesApi", "Runner", "reconcile", "validate"]
