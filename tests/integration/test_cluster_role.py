"""The cluster role on the kwok provider, against a real kube-apiserver."""

import os
import stat

from conftest import assert_ok, cluster_vars, run_playbook

from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def test_the_cluster_is_up_with_ready_nodes_and_live_control_plane(sim_cluster, kube):
    import kubernetes

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
    variables = cluster_vars(tmp_path, "it-lifecycle", cluster_nodes=1)
    task = "Bring the simulated cluster to the wanted state"

    checked = assert_ok(run_playbook("cluster.yml", variables, check=True))
    assert checked.stats["changed"] >= 1
    assert checked.results(task)[0]["status"] == "running"
    assert not os.path.exists(os.path.join(str(tmp_path), "kwok", "clusters", "it-lifecycle"))

    created = assert_ok(run_playbook("cluster.yml", variables))
    result = created.results(task)[0]
    assert result["changed"] and result["status_before"] == "absent"
    pids = result["pids"]
    assert pids and all(process.is_running(pid) for pid in pids)

    deleted = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert deleted.results(task)[0]["changed"]
    assert not any(process.is_running(pid) for pid in pids)
    assert not os.path.exists(result["kubeconfig"])

    again = assert_ok(run_playbook("cluster.yml", dict(variables, cluster_state="absent")))
    assert again.stats["changed"] == 0
