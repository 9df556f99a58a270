"""The cluster role on the kwok provider, against a real kube-apiserver."""

import os
import stat

import yaml
from conftest import assert_ok, cluster_vars, run_playbook
from listeners import describe, listening_sockets, not_on_loopback

from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def test_the_cluster_is_up_with_ready_nodes_and_live_control_plane(cluster_now, kube):
    import kubernetes

    sim_cluster = cluster_now
    nodes = kubernetes.client.CoreV1Api(kube).list_node().items
    assert len(nodes) == 2
    assert sorted(sim_cluster["result"]["nodes"]) == sorted(node.metadata.name for node in nodes)
    version = kubernetes.client.VersionApi(kube).get_code()
    assert version.git_version == "v1.33.13"
    assert len(sim_cluster["pids"]) >= 5
    assert all(process.is_running(pid) for pid in sim_cluster["pids"])


def test_kubeconfig_is_readable_by_its_owner_only(sim_cluster):
    mode = stat.S_IMODE(os.stat(sim_cluster["kubeconfig"]).st_mode)
    assert mode == 0o600


def test_a_deployment_becomes_available_on_the_simulated_nodes(sim_cluster, kube):
    import kubernetes

    variables = dict(sim_cluster["vars"], deployment_name="web", cluster_kubeconfig=sim_cluster["kubeconfig"])
    run = assert_ok(run_playbook("deployment.yml", variables))
    assert run.stats["changed"] == 1
    deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("web", "default")
    assert deployment.status.available_replicas == 3
    pods = kubernetes.client.CoreV1Api(kube).list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 3
    node_names = {node.metadata.name for node in kubernetes.client.CoreV1Api(kube).list_node().items}
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name in node_names
        ready = [c for c in pod.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True"


def test_a_second_run_of_the_role_changes_nothing(sim_cluster):
    run = assert_ok(run_playbook("cluster.yml", sim_cluster["vars"]))
    assert run.stats["changed"] == 0, run.raw[-3000:]
    assert run.results("Bring the simulated cluster to the wanted state")[0]["status_before"] == "running"


def test_check_mode_on_the_running_cluster_reports_no_change(sim_cluster):
    run = assert_ok(run_playbook("cluster.yml", sim_cluster["vars"], check=True))
    assert run.stats["changed"] == 0, run.raw[-3000:]


def test_scaling_nodes_is_a_change_then_settles(sim_cluster, kube):
    import kubernetes

    scaled = dict(sim_cluster["vars"], cluster_nodes=3)
    first = assert_ok(run_playbook("cluster.yml", scaled))
    assert first.stats["changed"] == 1
    assert len(kubernetes.client.CoreV1Api(kube).list_node().items) == 3
    assert assert_ok(run_playbook("cluster.yml", scaled)).stats["changed"] == 0


def test_lifecycle_check_mode_create_delete_leaves_no_process(tmp_path):
    state_dir = tmp_path / "fresh"
    variables = cluster_vars(state_dir, "it-lifecycle", cluster_nodes=1)
    task = "Bring the simulated cluster to the wanted state"

    checked = assert_ok(run_playbook("cluster.yml", variables, check=True))
    assert checked.stats["changed"] >= 1
    assert checked.results(task)[0]["status"] == "running"
    # Check mode writes nothing: not the state directory, not the kubeconfig's directory.
    assert not os.path.exists(str(state_dir)), sorted(os.listdir(str(state_dir)))
    assert os.listdir(str(tmp_path)) == []

    created = assert_ok(run_playbook("cluster.yml", variables))
    result = created.results(task)[0]
    assert result["changed"] and result["status_before"] == "absent"
    pids = result["pids"]
    assert pids and all(process.is_running(pid) for pid in pids)
    assert stat.S_IMODE(os.stat(str(state_dir)).st_mode) == 0o700
    exposed = not_on_loopback(listening_sockets(pids, include_children=True))
    assert not exposed, describe(exposed)

    deleted = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert deleted.results(task)[0]["changed"]
    assert not any(process.is_running(pid) for pid in pids)
    # The kubeconfig held only this cluster: nothing is left, so the file goes.
    assert deleted.results(task)[0]["kubeconfig_deleted"]
    assert not os.path.exists(result["kubeconfig"])

    again = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert again.stats["changed"] == 0


OTHER_CLUSTERS = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "production", "cluster": {"server": "https://prod.example.com:6443"}}],
    "contexts": [{"name": "production", "context": {"cluster": "production", "user": "ops"}}],
    "users": [{"name": "ops", "user": {"token": "not-a-real-token"}}],
    "current-context": "production",
}


def test_deleting_keeps_a_kubeconfig_shared_with_other_clusters(tmp_path):
    kubeconfig = tmp_path / "shared" / "config"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text(yaml.safe_dump(OTHER_CLUSTERS))
    variables = cluster_vars(tmp_path / "state", "it-shared", cluster_nodes=1, cluster_kubeconfig=str(kubeconfig))
    task = "Bring the simulated cluster to the wanted state"

    assert_ok(run_playbook("cluster.yml", variables))
    config = yaml.safe_load(kubeconfig.read_text())
    assert {item["name"] for item in config["contexts"]} == {"production", "kwok-it-shared"}
    # kwokctl makes its cluster the current context; deleting it must not pick another.
    assert config["current-context"] == "kwok-it-shared"

    deleted = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    result = deleted.results(task)[0]
    assert result["changed"] and not result["kubeconfig_deleted"]
    left = yaml.safe_load(kubeconfig.read_text())
    for section in ("clusters", "contexts", "users"):
        assert left[section] == OTHER_CLUSTERS[section], section
    assert left.get("current-context") in ("", None)
    assert stat.S_IMODE(os.stat(str(kubeconfig)).st_mode) == 0o600

    again = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert again.stats["changed"] == 0
    assert yaml.safe_load(kubeconfig.read_text())["contexts"] == OTHER_CLUSTERS["contexts"]
