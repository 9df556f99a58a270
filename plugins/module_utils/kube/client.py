# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubernetes.core's connection options and client, and node readiness on top of them."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import NODE, Kube
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, wait_for


def client_for_kubeconfig(kubeconfig, context=None):
    """The collection's API access (kube/api.py Kube) for a kubeconfig file."""
    return Kube.from_kubeconfig(kubeconfig, context)


def node_is_ready(node):
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


# The label a real node of the rehearsal platform carries (cluster/node.py): its kubelet
# and local_node look after it; the cluster's own node count and readiness leave it out.
REAL_NODE_LABEL = "gitops.progressive/real-node"


def is_real_node(node):
    return REAL_NODE_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def nodes_ready_predicate(count):
    """Done once at least ``count`` nodes exist and every node is Ready (real nodes left out)."""

    def predicate(objects):
        nodes = [node for node in objects.values() if not is_real_node(node)]
        ready = sorted(node["metadata"]["name"] for node in nodes if node_is_ready(node))
        message = "%d of %d nodes Ready" % (len(ready), max(count, len(nodes)))
        done = len(ready) >= count and len(ready) == len(nodes)
        return Verdict(done=done, ok=done, message=message, data={"ready": ready})

    return predicate


def wait_nodes_ready(kube, count, timeout):
    """Wait until ``count`` nodes are Ready; ``kube`` is a Kube (kube/api.py)."""
    lister, watcher = kube.source(NODE)
    return wait_for(lister, watcher, nodes_ready_predicate(count), timeout)


def auth_argument_spec():
    """kubernetes.core's connection options, so every module takes the same ones."""
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

    return dict(AUTH_ARG_SPEC)


def client_from_args(args):
    """The collection's API access from task arguments (action plugins, on the controller)."""
    return Kube.from_args(args)
