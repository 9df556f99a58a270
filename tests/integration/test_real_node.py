"""A real node beside the KWOK ones: its pods start, pass their probes and serve; it is
reached by nothing outside the machine; its teardown leaves nothing behind.

The cluster here is this module's own (one KWOK node, one real node), brought up through
the cluster role with ``cluster_real_nodes: 1`` and taken down through it at the end.
"""

import json
import os
import re
import subprocess
import time

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import node as node_utils
from conftest import assert_ok, cluster_vars, demo_app_deployment, free_port, real_node_turn, run_playbook

NAME = "it-realnode"
NODE = NAME + "-real"
NETNS = "gitops-" + NODE
NAMESPACE = "real-pods"


def host_iptables():
    """The machine's own iptables rules (counters left out)."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if not line.startswith("#") and not line.startswith(":"))


def in_node(*argv, check=True):
    return subprocess.run(["ip", "netns", "exec", NETNS] + list(argv), capture_output=True, text=True,
                          timeout=60, check=check)


def cgroup_dirs():
    """The node's cgroup in each hierarchy (v1 and v2) where it exists."""
    return [path for path in (os.path.join(root, "gitops-progressive", NODE) for root in node_utils.cgroup_hierarchies())
            if os.path.isdir(path)]


def kernel_tunables():
    values = {}
    for name in node_utils.KERNEL_TUNABLES:
        with open(os.path.join("/proc/sys", name)) as handle:
            values[name] = handle.read().strip()
    return values


def machine_state():
    """What the node may change on the machine: directories, kubelet's default certificate
    directory, kernel tunables, iptables rules."""
    return dict(dirs={path: os.path.isdir(path) for path in node_utils.PRIVATE_TMPFS + ("/var/lib/kubelet",)},
                tunables=kernel_tunables(), iptables=host_iptables())


def node_pids():
    pids = set()
    for root in cgroup_dirs()[:1]:
        for directory, _subdirs, files in os.walk(root):
            if "cgroup.procs" in files:
                pids.update(int(line) for line in open(os.path.join(directory, "cgroup.procs")) if line.strip())
    return pids


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory):
    assert os.geteuid() == 0, "a real node needs root (network and mount namespaces, cgroups); the suite runs as root"
    state_dir = tmp_path_factory.mktemp("real-node")
    variables = cluster_vars(state_dir, NAME, cluster_nodes=1, cluster_real_nodes=1, cluster_registry_port=free_port())
    with real_node_turn():
        yield from _real_cluster(state_dir, variables)


def _real_cluster(state_dir, variables):
    before = machine_state()
    try:
        first = assert_ok(run_playbook("cluster.yml", variables))
        node = first.results("Start the real node")[0]
        yield dict(vars=variables, state_dir=str(state_dir), first=first, node=node, machine_before=before,
                   kubeconfig=first.results("Bring the simulated cluster to the wanted state")[0]["kubeconfig"])
    finally:
        down = run_playbook("cluster.yml", dict(variables, cluster_state="absent"))
        assert_ok(down)


@pytest.fixture(scope="module")
def api(real_cluster):
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=real_cluster["kubeconfig"])
    core = kubernetes.client.CoreV1Api(client)
    apps = kubernetes.client.AppsV1Api(client)
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    return core, apps


def deployment(name, error_rate="0", version="1.0.0"):
    return demo_app_deployment(NAMESPACE, name, error_rate=error_rate, version=version)


def wait_ready_pod(core, app, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector="app=%s" % app).items
        for pod in pods:
            ready = [c for c in (pod.status.conditions or []) if c.type == "Ready" and c.status == "True"]
            if ready and pod.status.pod_ip:
                return pod
        time.sleep(1)
    events = core.list_namespaced_event(NAMESPACE).items
    raise AssertionError("no Ready pod of %s after %ds; events: %s" % (
        app, timeout, [(event.reason, event.message) for event in events][-10:]))


def get(url, check=True):
    """An HTTP GET from inside the node's network namespace: (status, body); with check=False, a
    connection that fails (refused, timed out) gives status 0 and curl's exit code as the body."""
    result = in_node("curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", url, check=check)
    if result.returncode:
        return 0, "curl exit %d" % result.returncode
    body, _newline, status = result.stdout.rpartition("\n")
    return int(status), body


def test_the_role_reports_the_node_and_its_processes(real_cluster):
    assert real_cluster["node"]["netns"] == NETNS
    node = assert_ok(run_playbook("cluster.yml", real_cluster["vars"])).results("Start the real node")[0]
    assert set(node["pids"]) == set(node_utils.COMPONENTS)
    for component, pid in node["pids"].items():
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
        expected = b"socat" if component.endswith(("-host", "-node", "-pods")) else component.encode()
        assert any(expected in part for part in argv), (component, argv)


@pytest.fixture(scope="module")
def serving(api):
    """The app and its Service, for the tests that read them (made once, whichever runs first)."""
    core, apps = api
    apps.create_namespaced_deployment(NAMESPACE, deployment("serving"))
    core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "serving"}, "spec": {
        "selector": {"app": "serving"}, "ports": [{"port": 80, "targetPort": 9898}]}})
    return "serving"


def test_a_real_pod_starts_passes_its_probes_and_serves_through_its_service(api, serving):
    core, apps = api
    pod = wait_ready_pod(core, serving)
    assert pod.spec.node_name == NODE
    assert pod.status.pod_ip.startswith("10.244.0.")
    status, body = get("http://%s:9898/" % pod.status.pod_ip)
    assert status == 200 and json.loads(body)["version"] == "1.0.0"
    assert json.loads(body)["hostname"] == pod.metadata.name
    # Through the Service's cluster address: kube-proxy's rules in the node's namespace.
    cluster_ip = core.read_namespaced_service("serving", NAMESPACE).spec.cluster_ip
    # kube-proxy writes the Service's rules a moment after the endpoint turns ready (longer on a
    # loaded machine): until then a connection is refused or times out, so those are retried.
    deadline = time.monotonic() + 60
    while True:
        status, body = get("http://%s/" % cluster_ip, check=False)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200, (cluster_ip, body)
    assert json.loads(body)["hostname"] == pod.metadata.name


def pod_pid(pod):
    """A PID of the pod's app container, from the node's cgroup (kubelet's cgroupRoot)."""
    root = os.path.join(cgroup_dirs()[0], "pods")
    for directory, _subdirs, files in os.walk(root):
        if "pod" + pod.metadata.uid in directory and "cgroup.procs" in files:
            for line in open(os.path.join(directory, "cgroup.procs")):
                pid = int(line)
                if open("/proc/%d/cmdline" % pid, "rb").read().startswith(b"/demo-app"):
                    return pid
    raise AssertionError("no demo-app process of %s in %s" % (pod.metadata.name, root))


def test_a_pod_reaches_the_api_through_the_kubernetes_service_as_its_service_account(api, serving):
    core, _apps = api
    pod = wait_ready_pod(core, serving)
    pid = pod_pid(pod)
    secrets = "/proc/%d/root/var/run/secrets/kubernetes.io/serviceaccount" % pid
    token = open(secrets + "/token").read().strip()
    # From the pod's own network namespace, to the address its KUBERNETES_SERVICE_HOST names,
    # verified against the CA the pod was given.
    environ = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
    assert b"KUBERNETES_SERVICE_HOST=10.0.0.1" in environ
    result = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % pid, "curl", "-s", "-m", "10", "--cacert",
                             secrets + "/ca.crt", "-H", "Authorization: Bearer " + token,
                             "https://10.0.0.1/api/v1/namespaces/%s/secrets" % NAMESPACE],
                            capture_output=True, text=True, timeout=30, check=True)
    answer = json.loads(result.stdout)
    # Authenticated as the pod's service account, which may not list Secrets.
    assert answer["code"] == 403, answer
    assert "system:serviceaccount:%s:default" % NAMESPACE in answer["message"]


# A DNS query for an A record, sent from a pod's network namespace by the machine's Python
# (the pod's image has no resolver tools): the answer's first address, or None.
_DNS_QUERY = r"""
import random, socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
ident = random.randrange(65536)
question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question, (server, 53))
reply = sock.recv(4096)
rcode, answers = reply[3] & 15, struct.unpack(">H", reply[6:8])[0]
at = 12 + len(question)
for _ in range(answers):
    at += 2 if reply[at] >= 192 else reply.index(b"\0", at) + 1 - at
    rtype, _cls, _ttl, length = struct.unpack(">HHIH", reply[at:at + 10])
    if rtype == 1:
        print(socket.inet_ntoa(reply[at + 10:at + 14]))
        break
    at += 10 + length
else:
    print("rcode=%d answers=%d" % (rcode, answers))
"""


def resolve_in_pod(pid, name, server):
    result = subprocess.run(["nsenter", "--target", str(pid), "--net", "python3", "-c", _DNS_QUERY, name, server],
                            capture_output=True, text=True, timeout=30, check=False)
    return (result.stdout or result.stderr).strip()


def test_pods_resolve_services_by_name_through_the_cluster_dns(api, serving):
    core, apps = api
    pod = wait_ready_pod(core, serving)
    with open("/proc/%d/root/etc/resolv.conf" % pod_pid(pod)) as handle:
        resolv = handle.read()
    assert "nameserver 10.0.0.10" in resolv and "search real-pods.svc.cluster.local svc.cluster.local" in resolv
    dns = core.read_namespaced_service("kube-dns", "kube-system")
    assert dns.spec.cluster_ip == "10.0.0.10"
    cluster_ip = core.read_namespaced_service("serving", NAMESPACE).spec.cluster_ip
    # Through kube-dns's address (kube-proxy's UDP rules) to CoreDNS, which reads the API.
    assert resolve_in_pod(pod_pid(pod), "serving.real-pods.svc.cluster.local", "10.0.0.10") == cluster_ip
    assert resolve_in_pod(pod_pid(pod), "kubernetes.default.svc.cluster.local", "10.0.0.10") == "10.0.0.1"
    # Nothing outside the cluster is answered (no forward plugin): the name does not exist.
    assert re.fullmatch(r"rcode=[1-9][0-9]* answers=0", resolve_in_pod(pod_pid(pod), "example.com", "10.0.0.10"))


def test_the_app_fails_exactly_the_fraction_it_is_told_to(api):
    core, apps = api
    apps.create_namespaced_deployment(NAMESPACE, deployment("failing", error_rate="0.25", version="2.0.0"))
    pod = wait_ready_pod(core, "failing")
    codes = [get("http://%s:9898/" % pod.status.pod_ip)[0] for _request in range(40)]
    assert codes.count(500) == 10 and codes.count(200) == 30
    # Probes are never failed on purpose: the pod stayed Ready throughout.
    assert wait_ready_pod(core, "failing", timeout=5).metadata.name == pod.metadata.name


def test_simulated_pods_stay_on_kwok_nodes(api):
    core, apps = api
    plain = deployment("simulated")
    del plain["spec"]["template"]["spec"]["nodeSelector"]
    del plain["spec"]["template"]["spec"]["tolerations"]
    plain["spec"]["replicas"] = 3
    apps.create_namespaced_deployment(NAMESPACE, plain)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector="app=simulated").items
        if len(pods) == 3 and all(pod.spec.node_name for pod in pods):
            break
        time.sleep(1)
    assert {pod.spec.node_name for pod in pods} and NODE not in {pod.spec.node_name for pod in pods}


def test_nothing_of_the_node_is_reachable_from_or_leads_past_the_machine(real_cluster, api, serving):
    core, _apps = api
    wait_ready_pod(core, serving)
    routes = in_node("ip", "-4", "route").stdout
    assert "default" not in routes
    links = in_node("ip", "-o", "link").stdout
    names = {re.split(r"[:@]", line.split(": ", 1)[1])[0] for line in links.splitlines()}
    assert names <= {"lo", "gitops0"} | {name for name in names if name.startswith("veth")}, names
    assert "MASQUERADE" not in "\n".join(line for line in in_node("iptables-save").stdout.splitlines()
                                         if "KUBE" not in line)
    # On the machine, no process of the node (forwarders, containerd, kubelet, kube-proxy,
    # shims, containers) listens on TCP or UDP at all: the machine side uses Unix sockets.
    pids = node_pids()
    assert len(pids) >= len(node_utils.COMPONENTS)
    listening = subprocess.run(["ss", "-ltunpH"], capture_output=True, text=True, check=True).stdout
    for line in listening.splitlines():
        assert not any("pid=%d," % pid in line for pid in pids), line
    assert not os.path.exists("/sys/class/net/gitops0"), "the bridge is in the node's namespace, not the machine's"


def test_a_host_network_pod_gets_the_nodes_network_not_the_machines(api):
    core, apps = api
    host = deployment("host-network")
    host["spec"]["template"]["spec"]["hostNetwork"] = True
    host["spec"]["template"]["spec"]["containers"][0]["args"] = ["--port", "19898"]
    for probe in ("readinessProbe", "livenessProbe"):
        host["spec"]["template"]["spec"]["containers"][0][probe]["httpGet"]["port"] = 19898
    apps.create_namespaced_deployment(NAMESPACE, host)
    pod = wait_ready_pod(core, "host-network")
    assert pod.status.pod_ip == "10.250.0.1"
    assert get("http://127.0.0.1:19898/")[0] == 200
    machine = subprocess.run(["ss", "-ltnH", "sport = :19898"], capture_output=True, text=True, check=True).stdout
    assert machine.strip() == "", machine


def test_a_killed_runtime_is_recovered_and_its_orphans_stopped(real_cluster, api, serving):
    core, _apps = api
    before = wait_ready_pod(core, serving)
    old_app = pod_pid(before)
    pids = assert_ok(run_playbook("cluster.yml", real_cluster["vars"])).results("Start the real node")[0]["pids"]
    os.kill(pids["containerd"], 9)
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/%d" % pids["containerd"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    # The containers and their shims outlive containerd: the node's cgroup still holds them.
    assert os.path.exists("/proc/%d" % old_app)
    again = assert_ok(run_playbook("cluster.yml", real_cluster["vars"]))
    restarted = again.results("Start the real node")[0]
    assert restarted["changed"] is True and restarted["pids"]["containerd"] != pids["containerd"]
    assert not os.path.exists("/proc/%d" % old_app), "the old container was left running beside the new runtime"
    # The new kubelet starts the pod again (a new sandbox, maybe a new address); until it
    # reports so, the API may still show the old one.
    deadline = time.monotonic() + 90
    while True:
        pod = wait_ready_pod(core, serving)
        answer = in_node("curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                         "http://%s:9898/" % pod.status.pod_ip, check=False).stdout
        if answer == "200" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer == "200"
    assert pod_pid(pod) != old_app
    real_cluster["node"] = restarted


def test_check_mode_reports_without_touching_the_node(real_cluster):
    pids = assert_ok(run_playbook("cluster.yml", real_cluster["vars"])).results("Start the real node")[0]["pids"]
    checked = assert_ok(run_playbook("cluster.yml", dict(real_cluster["vars"], cluster_state="absent"), check=True))
    assert checked.results("Take the real node down (before the cluster it belongs to)")[0]["changed"] is True
    assert all(os.path.exists("/proc/%d" % pid) for pid in pids.values())
    assert os.path.exists("/run/netns/" + NETNS)


def test_a_second_run_changes_nothing(real_cluster):
    again = assert_ok(run_playbook("cluster.yml", real_cluster["vars"]))
    assert again.results("Start the real node")[0]["changed"] is False
    assert all(result["changed"] is False for result in again.results("Push the pause, CoreDNS and demo app images under their names"))


def test_teardown_leaves_no_process_mount_namespace_cgroup_or_rule(real_cluster, api):
    node = assert_ok(run_playbook("cluster.yml", real_cluster["vars"])).results("Start the real node")[0]
    base = os.path.join(real_cluster["state_dir"], "nodes", NODE)
    # There is something to take down: containers, their mounts and cgroups; kubelet's tunables.
    assert cgroup_dirs()
    assert any(base in line for line in open("/proc/%d/mountinfo" % node["pids"]["containerd"]))
    assert os.path.exists("/run/gitops-progressive/nodes/" + NODE)
    down = assert_ok(run_playbook("cluster.yml", dict(real_cluster["vars"], cluster_state="absent")))
    stopped = down.results("Take the real node down (before the cluster it belongs to)")[0]
    assert set(node["pids"].values()) <= set(stopped["stopped_pids"])
    for pid in stopped["stopped_pids"]:
        assert not os.path.exists("/proc/%d" % pid) or "zombie" in open("/proc/%d/status" % pid).read().lower()
    assert not os.path.exists("/run/netns/" + NETNS)
    assert not os.path.exists(base)
    assert not os.path.exists("/run/gitops-progressive/nodes/" + NODE)
    mounts = open("/proc/self/mountinfo").read()
    assert base not in mounts and "/cni-" not in mounts
    assert cgroup_dirs() == []
    # The machine as it was: the same directories, kernel tunables and iptables rules.
    assert machine_state() == real_cluster["machine_before"]
    # Up again, for the module's teardown to take down once more (and find nothing left).
    real_cluster["node"] = assert_ok(run_playbook("cluster.yml", real_cluster["vars"])).results("Start the real node")[0]
