# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's Kubernetes client: kubernetes.core's, plus node readiness."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import (
    Verdict,
    dynamic_source,
    wait_for,
)


def client_for_kubeconfig(kubeconfig, context=None):
    """A kubernetes.core K8SClient for a kubeconfig file (no module arguments needed)."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    return get_api_client(kubeconfig=kubeconfig, context=context)


def node_is_ready(node):
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def nodes_ready_predicate(count):
    """Done once at least ``count`` nodes exist and every node is Ready."""

    def predicate(objects):
        ready = sorted(node["metadata"]["name"] for node in objects.values() if node_is_ready(node))
        message = "%d of %d nodes Ready" % (len(ready), max(count, len(objects)))
        done = len(ready) >= count and len(ready) == len(objects)
        return Verdict(done=done, ok=done, message=message, data={"ready": ready})

    return predicate


def wait_nodes_ready(client, count, timeout):
    nodes = client.resource("Node", "v1")
    lister, watcher = dynamic_source(nodes)
    return wait_for(lister, watcher, nodes_ready_predicate(count), timeout)


def auth_argument_spec():
    """kubernetes.core's connection options, so every module takes the same ones."""
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    return dict(AUTH_ARG_SPEC)


def module_client(module):
    """kubernetes.core's client for an AnsibleK8SModule's connection options."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    return get_api_client(module=module)


def client_from_args(args):
    """kubernetes.core's client from task arguments (action plugins, on the controller)."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    names = auth_argument_spec()
    return get_api_client(**{key: value for key, value in args.items() if key in names and value is not None})
