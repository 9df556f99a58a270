import json
import os
import tomllib

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import node as node_utils
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.sim.images import parse_reference

# Any executable stands for the built binaries: the options only need them to be one.
BINARIES = {name: "/bin/true" for name in node_utils.BINARIES}


def params(**overrides):
    values = {key: spec.get("default") for key, spec in node_utils.node_argument_spec().items()}
    values.update(name="dev-real", cluster="dev", state_dir="/var/lib/gitops-test", kubeconfig="/x/dev.kubeconfig",
                  binaries=dict(BINARIES), registry_url="http://127.0.0.1:18306")
    values.update(overrides)
    return values


def test_good_options_pass():
    node_utils.check_options(params())


@pytest.mark.parametrize("overrides, message", [
    ({"name": "Bad_Name"}, "name must be a node name"),
    ({"name": "x" * 64}, "name must be a node name"),
    ({"binaries": dict(BINARIES, kubelet="kubelet")}, "binaries.kubelet must be the absolute path of an executable"),
    ({"binaries": dict(BINARIES, bridge="/nonexistent/bridge")}, "binaries.bridge must be the absolute path of an executable"),
    ({"registry_url": "https://registry.example.com"}, "registry_url must be the loopback registry"),
    ({"registry_url": "http://127.0.0.1:5000/v2/x"}, "registry_url must be the loopback registry"),
    ({"pod_cidr": "127.0.0.0/24"}, "pod_cidr must be a private IPv4 network"),
    ({"pod_cidr": "10.244.0.0/30"}, "not a private IPv4 network of at least 16 addresses"),
    ({"service_cidr": "10.96.0.0/16"}, "service_cidr 10.96.0.0/16 must hold 10.0.0.1"),
    ({"pod_cidr": "10.244.0.1/24"}, "pod_cidr must be a private IPv4 network"),
    ({"pod_cidr": "8.8.8.0/24"}, "pod_cidr must be a private IPv4 network"),
    ({"service_cidr": "10.244.0.0/16"}, "pod_cidr 10.244.0.0/24 overlaps service_cidr 10.244.0.0/16"),
    ({"node_ip": "10.244.0.9"}, "node_ip must be a private IPv4 address outside pod_cidr"),
    ({"node_ip": "127.0.0.1"}, "node_ip must be a private IPv4 address"),
    ({"cluster_dns": "10.1.0.10"}, "cluster_dns must be the cluster DNS Service's address, one in service_cidr"),
    ({"cluster_dns": "10.0.0.1"}, "other than 10.0.0.1 (the kubernetes Service's)"),
    ({"cluster_dns": "dns"}, "cluster_dns must be"),
    ({"published_ports": ["18080"]}, "published_ports[0] must be HOSTPORT:NODEPORT"),
    ({"published_ports": ["18080:30080", "18081:80"]}, "published_ports[1] must be HOSTPORT:NODEPORT"),
    ({"published_ports": ["0:30080"]}, "published_ports[0] must be"),
    ({"published_ports": ["18080:30080", "18080:30081"]}, "published_ports: each machine port once"),
    ({"host_ports": [0]}, "host_ports[0] must be a port of a service on the machine's 127.0.0.1"),
    ({"host_ports": [18300, 70000]}, "host_ports[1] must be a port"),
    ({"host_ports": [18300, 18300]}, "host_ports: each port once"),
    ({"binaries": {"kubelet": "/k"}}, "binaries must name kube-proxy, bridge, host-local, loopback, portmap"),
    ({"registry_url": "http://user:secret@127.0.0.1:5000"}, "registry_url"),
    ({"mirrored_registries": ["ghcr.io", "Bad Host"]}, "mirrored_registries[1] must be a registry host"),
    ({"state_dir": "/"}, "state_dir"),
    ({"wait_timeout": 0}, "wait_timeout"),
])
def test_bad_options_are_refused_naming_the_option(overrides, message):
    with pytest.raises(CollectionError) as raised:
        node_utils.check_options(params(**overrides))
    assert message in str(raised.value)
    assert "secret" not in str(raised.value)


def test_taking_a_node_down_needs_no_binaries_or_registry():
    node_utils.check_options(params(state="absent", binaries={}, registry_url=""))


def test_containerd_configuration_keeps_everything_in_the_nodes_directory():
    node = node_utils.Node(params())
    config = tomllib.loads(node.containerd_config())
    base = "/var/lib/gitops-test/nodes/dev-real"
    assert config["version"] == 2
    assert config["root"] == base + "/containerd/root" and config["state"] == base + "/containerd/state"
    assert config["grpc"]["address"] == node.run_dir + "/containerd.sock"
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["stream_server_address"] == "127.0.0.1"
    assert cri["sandbox_image"] == "ghcr.io/gitops-progressive/pause:v1.0.0"
    assert cri["cni"]["bin_dir"] == base + "/cni/bin"
    assert cri["registry"]["config_path"] == base + "/containerd/certs.d"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert config["plugins"]["io.containerd.internal.v1.opt"]["path"] == base + "/containerd/opt"


def test_a_mirrored_registry_is_served_from_the_loopback_registry_and_nowhere_else():
    hosts = tomllib.loads(node_utils.Node(params()).hosts_toml("ghcr.io"))
    # The fallback server is the loopback registry, not https://ghcr.io: nothing upstream to fall back to.
    assert hosts == {"server": "http://127.0.0.1:18306", "host": {"http://127.0.0.1:18306/v2/ghcr.io": {
        "capabilities": ["pull", "resolve"], "override_path": True}}}


def test_the_pod_network_has_no_nat_and_keeps_its_addresses_in_the_nodes_directory():
    config = json.loads(node_utils.Node(params()).cni_config())
    bridge = config["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False and bridge["isGateway"] is True
    assert bridge["ipam"]["dataDir"] == "/var/lib/gitops-test/nodes/dev-real/cni/ipam"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]


def test_containerd_runs_in_the_nodes_network_namespace_and_a_mount_namespace_of_its_own():
    argv = node_utils.Node(params()).containerd_argv()
    assert argv[:7] == ["nsenter", "--net=/run/netns/gitops-dev-real", "--", "unshare", "--mount",
                        "--propagation", "slave"]
    assert argv[-3:] == ["containerd", "--config", "/var/lib/gitops-test/nodes/dev-real/containerd/config.toml"]
    for directory in node_utils.PRIVATE_TMPFS:
        assert directory in argv[10]


def test_kubelet_keeps_its_certificates_in_the_nodes_directory():
    argv = node_utils.Node(params()).kubelet_argv(4242)
    assert argv[:5] == ["nsenter", "--target", "4242", "--mount", "--net=/run/netns/gitops-dev-real"]
    node = node_utils.Node(params())
    assert argv[argv.index("--cert-dir") + 1] == node.run_dir + "/kubelet/pki"
    assert argv[argv.index("--root-dir") + 1] == node.run_dir + "/kubelet"


def test_sockets_fit_in_a_unix_socket_path_whatever_the_state_directory():
    # pytest-xdist's temporary directories made containerd refuse its socket (over 104 bytes).
    node = node_utils.Node(params(state_dir="/tmp/" + "a-long-directory/" * 12, name="n" * 63))
    for socket in (node.socket + ".ttrpc", node.runtime("registry.sock"), node.runtime("kubelet", "pod-resources",
                                                                                       "kubelet.sock")):
        assert len(socket) < 100, socket
    assert node.run_dir.startswith("/run/gitops-progressive/n/")
    # One runtime directory per node directory.
    assert node_utils.Node(params(state_dir="/tmp/other", name="n" * 63)).run_dir != node.run_dir


def test_the_forwarders_listen_in_the_nodes_namespace_and_on_a_private_socket():
    forwarders = node_utils.Node(params()).forwarders(32764, ("192.0.2.2", 32764))
    run_dir = node_utils.Node(params()).run_dir
    assert forwarders["api-host"] == ["socat", "UNIX-LISTEN:%s/api.sock,fork,mode=600,unlink-early" % run_dir,
                                      "TCP:127.0.0.1:32764"]
    for name in ("api-node", "api-pods", "registry-node"):
        assert forwarders[name][:4] == ["nsenter", "--net=/run/netns/gitops-dev-real", "--", "socat"]
    assert forwarders["registry-node"][4] == "TCP-LISTEN:18306,bind=127.0.0.1,fork,reuseaddr"
    assert forwarders["api-pods"][4] == "TCP-LISTEN:32764,bind=192.0.2.2,fork,reuseaddr"


def test_a_published_port_goes_from_the_machines_loopback_to_the_node_port_on_the_nodes_address():
    node = node_utils.Node(params(published_ports=["18080:30080"]))
    forwarders = node.port_forwarders()
    sock = node.run_dir + "/port-18080.sock"
    assert forwarders["port-18080-host"] == ["socat", "TCP-LISTEN:18080,bind=127.0.0.1,fork,reuseaddr",
                                             "UNIX-CONNECT:%s" % sock]
    assert forwarders["port-18080-node"] == ["nsenter", "--net=/run/netns/gitops-dev-real", "--", "socat",
                                             "UNIX-LISTEN:%s,fork,mode=600,unlink-early" % sock,
                                             "TCP:10.250.0.1:30080"]
    assert node.components.index("port-18080-node") < node.components.index("containerd")
    assert set(node_utils.COMPONENTS) < set(node.components)


def test_a_host_port_is_answered_at_the_apis_advertised_address_and_taken_to_the_machines_loopback():
    node = node_utils.Node(params(host_ports=[18300]))
    forwarders = node.host_port_forwarders("192.0.2.2")
    sock = node.run_dir + "/hostport-18300.sock"
    assert forwarders["hostport-18300-host"] == ["socat", "UNIX-LISTEN:%s,fork,mode=600,unlink-early" % sock,
                                                 "TCP:127.0.0.1:18300"]
    assert forwarders["hostport-18300-node"] == ["nsenter", "--net=/run/netns/gitops-dev-real", "--", "socat",
                                                 "TCP-LISTEN:18300,bind=192.0.2.2,fork,reuseaddr",
                                                 "UNIX-CONNECT:%s" % sock]
    assert node.components.index("hostport-18300-node") < node.components.index("containerd")


def test_a_host_port_no_longer_asked_for_is_still_stopped(tmp_path):
    node = node_utils.Node(params(state_dir=str(tmp_path)))
    os.makedirs(node.path("run"))
    for name in ("hostport-18300-host.pid", "hostport-18300-node.pid"):
        (tmp_path / "nodes" / "dev-real" / "run" / name).write_text("1 1\n")
    assert {"hostport-18300-host", "hostport-18300-node"} <= set(node.recorded_components())
    assert "hostport-18300-host" not in node.components


def test_a_port_no_longer_published_is_still_stopped(tmp_path):
    node = node_utils.Node(params(state_dir=str(tmp_path)))
    os.makedirs(node.path("run"))
    for name in ("port-18080-host.pid", "port-18080-node.pid", "port-x.pid"):
        (tmp_path / "nodes" / "dev-real" / "run" / name).write_text("1 1\n")
    recorded = node.recorded_components()
    assert "port-18080-host" in recorded and "port-18080-node" in recorded and "port-x" not in recorded
    assert "port-18080-host" not in node.components


def test_a_published_port_taken_by_another_program_is_refused_before_anything_starts(tmp_path, monkeypatch):
    node = node_utils.Node(params(state_dir=str(tmp_path), published_ports=["18080:30080"]))
    monkeypatch.setattr(node, "check_owner", lambda: None)
    monkeypatch.setattr(node_utils.pki, "HAS_CRYPTOGRAPHY", True)
    pki_dir = node.pki_dir()
    os.makedirs(pki_dir)
    for name in (node_utils.pki.CA_CERT, node_utils.pki.CA_KEY):
        open(os.path.join(pki_dir, name), "w").close()
    with open(os.path.join(os.path.dirname(pki_dir), "kwok.yaml"), "w") as handle:
        handle.write("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake\n")
    asked = []
    monkeypatch.setattr(node_utils.process, "bindable",
                        lambda host, port, reuse=False: asked.append((host, port, reuse)) or port != 18080)
    with pytest.raises(CollectionError, match=r"published_ports 18080:30080: 127.0.0.1:18080 is taken"):
        node.preflight(node.running())
    # Asked as socat's reuseaddr listener binds: a port left in TIME_WAIT is not taken.
    assert asked == [("127.0.0.1", 18080, True)]
    assert not os.path.exists(node.path("run"))


def test_a_changed_option_or_binary_changes_the_fingerprint(tmp_path):
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"one")
    node = node_utils.Node(params(binaries=dict(BINARIES, kubelet=str(binary))))
    first = node.fingerprint()
    assert node_utils.Node(params(binaries=dict(BINARIES, kubelet=str(binary)))).fingerprint() == first
    assert node_utils.Node(params(binaries=dict(BINARIES, kubelet=str(binary)), tainted=False)).fingerprint() != first
    binary.write_bytes(b"a rebuilt kubelet")
    assert node.fingerprint() != first
    assert node_utils.Node(params(wait_timeout=5)).fingerprint() == node_utils.Node(params()).fingerprint()


def test_a_node_name_owned_by_another_state_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(node_utils, "OWNERS", str(tmp_path / "owners"))
    mine = node_utils.Node(params(state_dir=str(tmp_path / "one")))
    mine.claim()
    mine.check_owner()
    other = node_utils.Node(params(state_dir=str(tmp_path / "two")))
    with pytest.raises(CollectionError, match="is the one of .*/one/nodes/dev-real, not of this state directory"):
        other.check_owner()


def test_kubelet_listens_on_the_nodes_loopback_and_is_tainted_beside_simulated_nodes():
    config = json.loads(node_utils.Node(params()).kubelet_config())
    assert config["address"] == "127.0.0.1" and config["readOnlyPort"] == 0
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["cgroupRoot"] == "/gitops-progressive/dev-real/pods"
    assert config["registerWithTaints"] == [{"key": "gitops.progressive/real-node", "value": "true",
                                             "effect": "NoSchedule"}]
    assert json.loads(node_utils.Node(params(tainted=False)).kubelet_config())["registerWithTaints"] == []


def test_pods_are_given_the_cluster_dns_service_as_their_name_server():
    config = json.loads(node_utils.Node(params(cluster_dns="10.0.0.53")).kubelet_config())
    assert config["clusterDNS"] == ["10.0.0.53"] and config["clusterDomain"] == "cluster.local"


def test_cgroups_are_made_with_the_parents_cpus_and_removed_deepest_first(tmp_path):
    hierarchy = tmp_path / "cpuset"
    hierarchy.mkdir()
    (hierarchy / "cpuset.cpus").write_text("0-1\n")
    (hierarchy / "cpuset.mems").write_text("0\n")
    target = str(hierarchy / "gitops-progressive" / "dev-real" / "pods")
    # A real cpuset hierarchy makes these files itself; here they are made for it.
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        real_mkdir(path, mode)
        for name in ("cpuset.cpus", "cpuset.mems"):
            open(os.path.join(path, name), "w").close()

    node_utils.os.mkdir = mkdir
    try:
        node_utils._make_cgroup(str(hierarchy), target)
    finally:
        node_utils.os.mkdir = real_mkdir
    assert open(os.path.join(target, "cpuset.cpus")).read() == "0-1"
    assert open(os.path.join(target, "cpuset.mems")).read() == "0"
    for directory, _subdirs, files in os.walk(str(hierarchy / "gitops-progressive")):
        for name in files:
            os.unlink(os.path.join(directory, name))
    node_utils._remove_cgroup(str(hierarchy / "gitops-progressive"))
    assert not (hierarchy / "gitops-progressive").exists()


def test_cgroup_hierarchies_are_every_v1_hierarchy_and_the_v2_one(tmp_path):
    v1 = tmp_path / "v1"
    v1.write_text("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup /sys/fs/cgroup/pids cgroup rw 0 0\n"
                  "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n")
    assert node_utils.cgroup_hierarchies(str(v1)) == ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/pids",
                                                      "/sys/fs/cgroup/unified"]
    v2 = tmp_path / "v2"
    v2.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    assert node_utils.cgroup_hierarchies(str(v2)) == ["/sys/fs/cgroup"]


@pytest.mark.parametrize("image, expected", [
    ("ghcr.io/gitops-progressive/demo-app:v1.0.0", ("ghcr.io/gitops-progressive/demo-app", "v1.0.0")),
    ("registry.k8s.io/pause:3.10", ("registry.k8s.io/pause", "3.10")),
    ("127.0.0.1:5000/x/y:1", ("127.0.0.1:5000/x/y", "1")),
])
def test_an_image_reference_names_its_place_in_the_registry(image, expected):
    assert parse_reference(image) == expected


@pytest.mark.parametrize("image", ["demo-app:v1", "ghcr.io/x/y", "ghcr.io/../y:1", "GHCR.io/x:1", "ghcr.io//x:1", None])
def test_an_image_reference_without_host_or_tag_is_refused(image):
    with pytest.raises(ValueError, match="image must name a registry host, a path and a tag"):
        parse_reference(image)


def image_params(tmp_path, **overrides):
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF")
    values = dict(registry_url="http://127.0.0.1:1", image="ghcr.io/gitops-progressive/demo-app:v1.0.0",
                  files=[{"src": str(binary), "dest": "/app", "mode": "0755"}], entrypoint=["/app"], cmd=[],
                  env={}, user="65534", labels={}, timeout=1)
    values.update(overrides)
    return values


def test_check_mode_before_the_first_run_says_the_image_would_be_pushed(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    # Nothing listens on port 1; the binary is not built yet in the second case.
    assert images.ensure_image(image_params(tmp_path), check_mode=True)["changed"] is True
    missing = image_params(tmp_path, files=[{"src": str(tmp_path / "not-built"), "dest": "/app", "mode": "0755"}])
    assert images.ensure_image(missing, check_mode=True) == dict(
        changed=True, repository="ghcr.io/gitops-progressive/demo-app", digest="")
    with pytest.raises(CollectionError, match="files\\[0\\].src"):
        images.ensure_image(missing)


@pytest.mark.parametrize("overrides, message", [
    ({"image": "demo-app:v1"}, "image must name a registry host"),
    ({"files": []}, "files must name at least one file"),
    ({"files": [{"src": "/x", "dest": "relative", "mode": "0755"}]}, "files[0].dest must be an absolute path"),
    ({"files": [{"src": "/x", "dest": "/a/../b", "mode": "0755"}]}, "files[0].dest must be an absolute path"),
    ({"files": [{"src": "/x", "dest": "/a", "mode": "rwx"}]}, "files[0].mode must be an octal mode"),
    ({"registry_url": "http://u:pw@127.0.0.1:5000"}, "registry_url"),
])
def test_bad_image_options_are_refused_before_anything_is_read(tmp_path, overrides, message):
    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    with pytest.raises(CollectionError) as raised:
        images.check_options(image_params(tmp_path, **overrides))
    assert message in str(raised.value) and "pw@" not in str(raised.value)


def test_a_port_in_time_wait_is_bindable_for_a_reuseaddr_listener():
    import socket

    from ansible_collections.gitops.progressive.plugins.module_utils.host import process

    with socket.socket() as listener:
        # As socat's TCP-LISTEN with reuseaddr: its connections' TIME_WAIT entries inherit it.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        server, _address = listener.accept()
        server.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    assert process.bindable("127.0.0.1", port, reuse=True)
    # The plain probe (kwok's port picking) takes the port for a used one.
    assert not process.bindable("127.0.0.1", port)


def tunables(tmp_path):
    """A machine of its own: a /proc/sys, a claims directory and the record's place."""
    proc_sys, owners = tmp_path / "sys", tmp_path / "owners"
    (proc_sys / "vm").mkdir(parents=True)
    (proc_sys / "kernel").mkdir()
    owners.mkdir()
    (proc_sys / "vm" / "overcommit_memory").write_text("0\n")
    (proc_sys / "kernel" / "panic").write_text("0\n")
    record = node_utils.KernelTunables(record=str(tmp_path / "run" / "kernel-tunables.json"), proc_sys=str(proc_sys),
                                       owners=str(owners), names=("vm/overcommit_memory", "kernel/panic"))
    return record, proc_sys, owners


def claim(owners, name, tmp_path):
    """A node's claim, naming its directory (which exists)."""
    directory = tmp_path / "state" / name
    directory.mkdir(parents=True, exist_ok=True)
    (owners / name).write_text(str(directory) + "\n")
    return directory


def kubelet_sets(proc_sys):
    (proc_sys / "vm" / "overcommit_memory").write_text("1\n")
    (proc_sys / "kernel" / "panic").write_text("10\n")


def values(proc_sys):
    return [(proc_sys / name).read_text().strip() for name in ("vm/overcommit_memory", "kernel/panic")]


def test_two_nodes_keep_the_tunables_of_before_the_first_and_the_last_to_go_puts_them_back(tmp_path):
    record, proc_sys, owners = tunables(tmp_path)
    claim(owners, "node-a", tmp_path)
    record.hold("node-a")
    kubelet_sets(proc_sys)
    claim(owners, "node-b", tmp_path)
    record.hold("node-b")          # the machine has node-a's kubelet's values now: not to be recorded
    record.release("node-a")
    assert values(proc_sys) == ["1", "10"]  # node-b's kubelet still runs with them
    record.release("node-b")
    assert values(proc_sys) == ["0", "0"]
    assert not os.path.exists(record.record)


def test_a_holder_whose_claim_is_gone_does_not_keep_the_tunables_from_coming_back(tmp_path):
    record, proc_sys, owners = tunables(tmp_path)
    claim(owners, "crashed", tmp_path)
    record.hold("crashed")
    kubelet_sets(proc_sys)
    (owners / "crashed").unlink()   # its state directory was removed without taking it down
    claim(owners, "node-b", tmp_path)
    record.hold("node-b")
    assert json.loads(open(record.record).read())["holders"] == ["node-b"]
    record.release("node-b")
    assert values(proc_sys) == ["0", "0"]


def test_holding_again_keeps_the_first_values_and_release_without_a_record_writes_nothing(tmp_path):
    record, proc_sys, owners = tunables(tmp_path)
    claim(owners, "node-a", tmp_path)
    record.hold("node-a")
    kubelet_sets(proc_sys)
    record.hold("node-a")           # a restart of the same node
    record.release("node-a")
    assert values(proc_sys) == ["0", "0"]
    kubelet_sets(proc_sys)
    record.release("node-a")
    assert values(proc_sys) == ["1", "10"]


def test_a_holder_whose_state_directory_was_removed_without_taking_it_down_holds_nothing(tmp_path):
    record, proc_sys, owners = tunables(tmp_path)
    gone = claim(owners, "removed", tmp_path)
    record.hold("removed")
    kubelet_sets(proc_sys)
    gone.rmdir()                    # its claim is still there, its node is not
    claim(owners, "node-b", tmp_path)
    record.hold("node-b")
    record.release("node-b")
    assert values(proc_sys) == ["0", "0"]


def test_the_first_holder_adopts_the_per_node_record_of_an_earlier_release(tmp_path):
    """A node started by the earlier release recorded the values from before its kubelet; its
    restart under this one must not take its own kubelet's values for the machine's."""
    record, proc_sys, owners = tunables(tmp_path)
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"vm/overcommit_memory": "0", "kernel/panic": "0"}))
    kubelet_sets(proc_sys)          # that node's kubelet ran
    claim(owners, "node-a", tmp_path)
    record.hold("node-a", legacy=str(legacy))
    record.release("node-a")
    assert values(proc_sys) == ["0", "0"]
    assert not os.path.exists(record.record + ".new")


LDD = """\tlinux-vdso.so.1 (0x00007ffd8a1f2000)
\tlibpcre2-8.so.0 => /lib/x86_64-linux-gnu/libpcre2-8.so.0 (0x00007f0b1c0a0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b1be00000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b1c2c4000)
"""


def test_ldds_answer_gives_the_libraries_and_the_loader_not_the_vdso():
    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    assert images.parse_ldd(LDD, "wget") == ["/lib/x86_64-linux-gnu/libpcre2-8.so.0",
                                             "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
    assert images.parse_ldd("\tnot a dynamic executable\n", "hey") == []
    with pytest.raises(CollectionError, match="wget needs libidn2.so.0, which this machine does not have"):
        images.parse_ldd(LDD + "\tlibidn2.so.0 => not found\n", "wget")


def test_a_program_with_its_libraries_runs_from_the_image_alone(tmp_path):
    """The layer of a dynamic program with ``libraries`` holds everything it loads: unpacked
    into an empty directory and run there with that directory as its root's loader path."""
    import gzip
    import io
    import subprocess
    import tarfile

    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    program = "/bin/true"
    if not images.shared_libraries(program, "test"):
        pytest.skip("/bin/true is static here: nothing to check")
    params = image_params(tmp_path, files=[{"src": program, "dest": "/bin/true", "mode": "0755", "libraries": True},
                                           {"src": program, "dest": "/bin/again", "mode": "0755"}])
    _config, layers = images.build(params)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layers[0]))) as archive:
        names = set(archive.getnames())
        archive.extractall(tmp_path / "root")
    loader = [name for name in names if "ld-linux" in name or name.startswith("lib64/ld")]
    assert "bin/true" in names and "bin/again" in names and loader, names
    # Everything ldd names is in the layer, at the path it names.
    assert all(path.lstrip("/") in names for path in images.shared_libraries(program, "test")), names
    libdirs = sorted(set(os.path.dirname(str(tmp_path / "root" / name)) for name in names if ".so" in name))
    run = subprocess.run([str(tmp_path / "root" / loader[0]), "--library-path", ":".join(libdirs),
                          str(tmp_path / "root" / "bin/true")], check=False)
    assert run.returncode == 0


def test_ldd_resolves_without_the_callers_ld_variables_and_refuses_other_directories(tmp_path, monkeypatch):
    """The image's loader has no LD_LIBRARY_PATH and no ld.so.cache: a library found only
    through them would be copied where nothing looks for it."""
    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    seen = {}

    class Answer:
        returncode, stdout = 0, LDD + "\tlibssl.so.3 => /opt/openssl/lib/libssl.so.3 (0x00007f0b1c000000)\n"

    def run(argv, **kwargs):
        seen.update(argv=argv, env=kwargs["env"])
        return Answer()

    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/openssl/lib")
    monkeypatch.setenv("LD_PRELOAD", "/opt/evil.so")
    monkeypatch.setattr(images.subprocess, "run", run)
    with pytest.raises(CollectionError, match="loads /opt/openssl/lib/libssl.so.3 from outside the loader's default"):
        images.shared_libraries("/usr/bin/wget", "sim_image x")
    assert seen["argv"] == ["ldd", "--", "/usr/bin/wget"]
    assert not [key for key in seen["env"] if key.startswith("LD_")] and seen["env"]["LC_ALL"] == "C"


def test_a_library_the_machine_lacks_is_named(tmp_path, monkeypatch):
    from ansible_collections.gitops.progressive.plugins.module_utils.sim import images

    class Answer:
        returncode, stdout = 0, LDD + "\tlibgone.so.1 => not found\n"

    monkeypatch.setattr(images.subprocess, "run", lambda *args, **kwargs: Answer())
    params = image_params(tmp_path, files=[{"src": "/bin/true", "dest": "/bin/true", "mode": "0755", "libraries": True}])
    with pytest.raises(CollectionError, match=r"files\[0\].src: /bin/true needs libgone.so.1"):
        images.build(params)
