"""Flux's controllers as pods of the real node (the flux role's flux_controllers=pods): the
manifests of the flux CLI built here, images built here under their ghcr.io/fluxcd names,
the platform repository fetched from the loopback git server through the node's host ports,
and pushes reaching the Receiver pod through its published node port."""

import os
import subprocess
import time

import pytest
from conftest import assert_ok, cluster_vars, free_block, free_port, real_node_turn, run_playbook

NAME = "it-fluxpods"
CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")


@pytest.fixture(scope="module")
def fluxpods(tmp_path_factory):
    assert os.geteuid() == 0, "a real node needs root; the suite runs as root"
    state = tmp_path_factory.mktemp("fluxpods")
    git, charts, receiver = free_port(), free_port(), free_port()
    kubeconfig = str(state / (NAME + ".kubeconfig"))
    variables = cluster_vars(state, NAME, cluster_nodes=1, cluster_real_nodes=1, cluster_registry_port=free_port(),
                             cluster_real_node_host_ports=[git, charts], cluster_real_node_ports=["%d:30092" % receiver],
                             flux_controllers="pods", flux_git_port=git, flux_chart_port=charts,
                             flux_receiver_port=receiver, flux_events_port=free_port(), flux_storage_port=free_port(),
                             flux_controller_port_base=free_block(8), flux_state_dir=str(state / "flux"))
    with real_node_turn():
        try:
            up = assert_ok(run_playbook("flux_pods.yml", variables))
            yield dict(vars=variables, run=up, kubeconfig=kubeconfig, state=state, git=git)
        finally:
            flux_down = run_playbook("role_alone.yml", dict(variables, alone_role="flux", flux_state="absent",
                                                            cluster_kubeconfig=kubeconfig))
            left = deployments(kubeconfig) if os.path.exists(kubeconfig) else None
            cluster_down = run_playbook("cluster.yml", dict(variables, cluster_state="absent"))
            assert_ok(flux_down)
            assert_ok(cluster_down)
            assert left == [], "flux_state=absent left %s" % left


def deployments(kubeconfig):
    import kubernetes

    apps = kubernetes.client.AppsV1Api(kubernetes.config.new_client_from_config(config_file=kubeconfig))
    return sorted(item.metadata.name for item in apps.list_namespaced_deployment("flux-system").items)


@pytest.fixture(scope="module")
def api(fluxpods):
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=fluxpods["kubeconfig"])
    return kubernetes.client.CoreV1Api(client), kubernetes.client.CustomObjectsApi(client)


def flux_object(custom, group, plural, name):
    return custom.get_namespaced_custom_object(group, "v1", "flux-system", plural, name)


def ready(obj):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def test_the_controllers_run_as_pods_of_the_real_node_from_images_built_here(fluxpods, api):
    core, _custom = api
    pods = core.list_namespaced_pod("flux-system").items
    assert sorted(pod.metadata.labels["app"] for pod in pods) == sorted(CONTROLLERS)
    for pod in pods:
        assert pod.spec.node_name == NAME + "-real", pod.metadata.name
        assert pod.status.phase == "Running" and all(status.ready for status in pod.status.container_statuses)
        image = pod.spec.containers[0].image
        assert image.startswith("ghcr.io/fluxcd/%s:v" % pod.metadata.labels["app"]), image
    # The git server and the chart repository run here; no controller does.
    flux_state = fluxpods["state"] / "flux"
    assert (flux_state / "git-server.pid").exists()
    assert not [name for name in CONTROLLERS if (flux_state / ("%s.pid" % name)).exists()]


def test_the_pods_fetch_the_platform_repository_from_the_loopback_git_server(fluxpods, api):
    _core, custom = api
    repo = flux_object(custom, "source.toolkit.fluxcd.io", "gitrepositories", "flux-system")
    assert repo["spec"]["url"] == "http://gitops-git.flux-system.svc.cluster.local:%d/platform.git" % fluxpods["git"]
    head = subprocess.run(["git", "-C", str(fluxpods["state"] / "flux" / "git" / "platform.git"), "rev-parse", "main"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert ready(repo) and repo["status"]["artifact"]["revision"] == "main@sha1:" + head
    for name in ("flux-system", "infra-releases", "infra-manifests", "apps"):
        kustomization = flux_object(custom, "kustomize.toolkit.fluxcd.io", "kustomizations", name)
        assert ready(kustomization) and kustomization["status"]["lastAppliedRevision"] == "main@sha1:" + head, name


def test_a_push_reaches_the_receiver_pod_and_is_applied_long_before_the_poll_interval(fluxpods, api, tmp_path):
    """The GitRepository polls every 10m: a change applied within a minute came through the
    git server's push hook, 127.0.0.1's published port and the Receiver pod."""
    core, custom = api
    assert flux_object(custom, "source.toolkit.fluxcd.io", "gitrepositories", "flux-system")["spec"]["interval"] == "10m"
    user, password = (fluxpods["state"] / "flux" / "git-credentials").read_text().strip().split(":", 1)
    url = "http://%s:%s@127.0.0.1:%d/platform.git" % (user, password, fluxpods["git"])
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", url, str(checkout)], check=True)
    (checkout / "apps" / "staging" / "pushed.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pushed, namespace: default}\ndata: {by: push}\n")
    kustomization = checkout / "apps" / "staging" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("resources: []", "resources:\n- pushed.yaml"))
    assert "pushed.yaml" in kustomization.read_text()
    git = ["git", "-C", str(checkout), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "a pushed ConfigMap"], check=True)
    try:
        pushed = time.monotonic()
        subprocess.run(git + ["push", "-q", "origin", "main"], check=True)
        deadline = pushed + 60
        while time.monotonic() < deadline:
            found = [item for item in core.list_namespaced_config_map("default").items if item.metadata.name == "pushed"]
            if found:
                break
            time.sleep(0.5)
        assert found and found[0].data == {"by": "push"}, "not applied within 60 s of the push"
    finally:
        subprocess.run(git + ["revert", "--no-edit", "HEAD"], check=True, capture_output=True)
        subprocess.run(git + ["push", "-q", "origin", "main"], check=True)


def test_a_second_run_changes_nothing(fluxpods):
    again = assert_ok(run_playbook("flux_pods.yml", fluxpods["vars"]))
    assert again.stats["changed"] == 0, again.changed_tasks()


def applied_from(custom, storage):
    """After the controllers moved: the repository's artifact is the new source-controller's
    (served at ``storage``), and every Kustomization is Ready at that artifact's revision (none
    left failing on a download from the old address until its interval)."""
    repo = flux_object(custom, "source.toolkit.fluxcd.io", "gitrepositories", "flux-system")
    artifact = repo["status"]["artifact"]
    assert artifact["url"].startswith(storage), (artifact["url"], storage)
    for name in ("flux-system", "infra-releases", "infra-manifests", "apps"):
        kustomization = flux_object(custom, "kustomize.toolkit.fluxcd.io", "kustomizations", name)
        assert ready(kustomization) and kustomization["status"]["lastAppliedRevision"] == artifact["revision"], (
            name, kustomization["status"].get("conditions"))


def test_check_mode_on_the_running_platform_reports_no_change(fluxpods):
    check = assert_ok(run_playbook("flux_pods.yml", fluxpods["vars"], check=True))
    assert check.stats["changed"] == 0, check.changed_tasks()


def test_back_to_processes_takes_the_pods_out_and_the_processes_take_over(fluxpods, api):
    """flux_controllers=processes after pods: the pods and the Services to this machine go,
    the controllers run here, Flux's objects stay and are Ready again; then pods again."""
    _core, custom = api
    flux_state = fluxpods["state"] / "flux"
    processes = dict(fluxpods["vars"], flux_controllers="processes")
    # The cluster publishes the Receiver pod's port; notification-controller here needs its own.
    refused = run_playbook("flux_pods.yml", processes)
    assert refused.returncode != 0 and "is published by the cluster role" in str(refused.failures()), refused.raw[-3000:]
    assert sorted(deployments(fluxpods["kubeconfig"])) == sorted(CONTROLLERS)
    try:
        back = assert_ok(run_playbook("flux_pods.yml", dict(processes, flux_receiver_port=free_port())))
        assert back.stats["changed"] > 0
        assert deployments(fluxpods["kubeconfig"]) == []
        assert all((flux_state / ("%s.pid" % name)).exists() for name in CONTROLLERS)
        repo = flux_object(custom, "source.toolkit.fluxcd.io", "gitrepositories", "flux-system")
        assert repo["spec"]["url"] == "http://127.0.0.1:%d/platform.git" % fluxpods["git"] and ready(repo)
        applied_from(custom, "http://127.0.0.1:%d/" % fluxpods["vars"]["flux_storage_port"])
    finally:
        again = assert_ok(run_playbook("flux_pods.yml", fluxpods["vars"]))
    assert sorted(deployments(fluxpods["kubeconfig"])) == sorted(CONTROLLERS)
    applied_from(custom, "http://source-controller.flux-system.svc.cluster.local.")
    assert not [name for name in CONTROLLERS if (flux_state / ("%s.pid" % name)).exists()]
    assert again.stats["changed"] > 0
