"""Nothing the simulated cluster starts listens beyond loopback (which other local accounts reach too:
test_local_boundary_cluster.py shows what they get there)."""

import glob
import os
from urllib.parse import urlparse

import yaml

from listeners import describe, listening_sockets, not_on_loopback

from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def recorded_pids(state_dir, name):
    """The PIDs kwokctl recorded for the cluster's components, by component."""
    pids = {}
    for path in glob.glob(os.path.join(state_dir, "kwok", "clusters", name, "pids", "*.pid")):
        pid, start_time = process.read_pidfile(path)
        if process.is_running(pid, start_time):
            pids[os.path.basename(path)[:-len(".pid")]] = pid
    return pids


def test_every_component_listens_and_only_on_loopback(cluster_now):
    sim_cluster = cluster_now
    variables = sim_cluster["vars"]
    components = recorded_pids(variables["cluster_state_dir"], variables["cluster_name"])
    assert sorted(components) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                  "kwok-controller"]
    # What the module returned is what kwokctl recorded.
    assert sorted(components.values()) == sorted(sim_cluster["pids"])

    sockets = listening_sockets(sim_cluster["pids"], include_children=True)
    listening = {listener.pid for listener in sockets}
    # Not a vacuous pass: every component holds at least one listening socket.
    for component, pid in components.items():
        assert pid in listening, "%s (pid %d) holds no listening socket" % (component, pid)
    exposed = not_on_loopback(sockets)
    assert not exposed, "listening beyond loopback:\n" + describe(exposed)


def test_the_kubeconfig_points_at_the_loopback_listener(cluster_now):
    sim_cluster = cluster_now
    with open(sim_cluster["kubeconfig"]) as handle:
        config = yaml.safe_load(handle)
    name = "kwok-%s" % sim_cluster["vars"]["cluster_name"]
    server = urlparse(next(item["cluster"]["server"] for item in config["clusters"] if item["name"] == name))
    assert server.hostname == "127.0.0.1"
    apiserver = [listener for listener in listening_sockets(sim_cluster["pids"]) if listener.port == server.port]
    assert [(listener.command, listener.address) for listener in apiserver] == [("kube-apiserver", "127.0.0.1")]


def test_the_configuration_kwokctl_saved_keeps_the_address_for_restarts(sim_cluster):
    variables = sim_cluster["vars"]
    saved = os.path.join(variables["cluster_state_dir"], "kwok", "clusters", variables["cluster_name"], "kwok.yaml")
    with open(saved) as handle:
        documents = [document for document in yaml.safe_load_all(handle) if document]
    configuration = next(document for document in documents if document.get("kind") == "KwokctlConfiguration")
    assert configuration["options"]["bindAddress"] == "127.0.0.1"
