# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real node beside the KWOK ones: containerd, kubelet and kube-proxy, whose pods run.

Everything the node holds lives in places this file makes and takes down again:

- **a network namespace of its own** (``ip netns add gitops-<node>``): the node's
  address on its loopback, the CNI bridge, the pods' host-side veths, kube-proxy's
  iptables rules, kubelet's and kube-proxy's ports. It has no default route, no NAT and
  no link to the machine's network, so nothing in it reaches past the machine. kubelet
  reaches kube-apiserver through a forwarder: ``socat`` inside the namespace listens on
  its 127.0.0.1 at the API's port and hands each connection through a 0600 Unix socket to
  a ``socat`` on the host, which connects to the API on the host's 127.0.0.1.
- **a mount namespace of its own**, private, shared by containerd, its shims and kubelet:
  every mount they make (overlay root filesystems, the pods' network namespace files,
  kubelet's token volumes, tmpfs over ``/run/containerd``, ``/run/netns``, ``/var/lib/cni``
  and ``/var/log/containers``) exists only there and goes with the last of them.
- **a cgroup of its own** (``/gitops-progressive/<node>`` in every hierarchy):
  ``runtime`` holds containerd, its shims, kubelet, kube-proxy and the forwarders;
  ``pods`` is kubelet's ``cgroupRoot``. Teardown stops the processes it started by their
  PID files, then every PID still in the cgroup (shims, containers), then removes the
  cgroups, the network namespace and the node's directory.
- **a directory of its own** (``<state_dir>/nodes/<node>``, 0700): containerd's root and
  state, the CNI configuration and the host-local addresses, kubelet's root and pod logs,
  the certificates (signed by the cluster's CA: ``system:node:<node>`` and
  ``system:kube-proxy``), kubeconfigs, PID files and logs.

containerd runs in the node's network namespace too, so a pod with ``hostNetwork`` gets the
node's network, not the machine's. It pulls through a forwarder to the loopback registry,
which it mirrors ``docker.io``, ``ghcr.io``, ``registry.k8s.io``, ``quay.io`` … to
(``hosts.toml`` whose ``server`` is the mirror, with ``override_path``: ``ghcr.io/x/y`` is
``<registry>/v2/ghcr.io/x/y``); with no route out of the namespace, a pull can reach nothing
else. A pod with ``hostPID`` or ``hostIPC`` still shares the machine's PID or IPC namespace
(the node has none of its own).

kubelet sets kernel tunables machine-wide (``vm.overcommit_memory``, ``kernel.panic``,
``kernel.panic_on_oops``, ``kernel.keys.*``): their values before the machine's first real
node started are kept in one record of the machine (``/run/gitops-progressive/kernel-tunables.json``,
with the nodes that hold it) and put back when the last of those nodes is taken down.

One state directory owns a node name on the machine: ``/run/gitops-progressive/nodes/<node>``
names it, and another state directory's ``local_node`` refuses that name instead of taking
down (or over) a node it does not own.

The node is labelled ``gitops.progressive/real-node`` (the cluster's own node count and
readiness leave it out) and, beside KWOK nodes, tainted so that only pods that ask for it
run on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import pki
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, redact_url
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import REAL_NODE_LABEL

REAL_NODE_TAINT = "gitops.progressive/real-node=true:NoSchedule"
DEFAULT_MIRRORED = ("docker.io", "ghcr.io", "registry.k8s.io", "quay.io", "gcr.io", "mcr.microsoft.com")
CGROUP_PARENT = "gitops-progressive"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The components, in the order they start (and stop in reverse): the forwarders (host side
# of the API and the registry, then the node side), containerd, kubelet, kube-proxy.
COMPONENTS = ("api-host", "registry-host", "api-node", "api-pods", "registry-node", "containerd", "kubelet",
              "kube-proxy")
# What kubelet sets machine-wide (pkg/kubelet/cm setupKernelTunables): put back on the way down.
KERNEL_TUNABLES = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                   "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")
OWNERS = "/run/gitops-progressive/nodes"
# The tunables' values before the first node of the machine started, and the nodes that hold them.
TUNABLES_RECORD = "/run/gitops-progressive/kernel-tunables.json"
# Unix sockets (containerd's, kubelet's, the forwarders') and kubelet's root live under a short
# directory of their own: a socket's path must fit in 108 bytes (containerd allows 104), and a
# state directory (a pytest temporary directory, a home) can be long.
RUNTIME_ROOT = "/run/gitops-progressive/n"
# Host directories containerd and kubelet would write to: a tmpfs over each, in the node's
# mount namespace only, keeps what they write there off the machine.
PRIVATE_TMPFS = ("/run/netns", "/run/containerd", "/var/lib/cni", "/var/log/containers")
BINARIES = ("kubelet", "kube-proxy", "bridge", "host-local", "loopback", "portmap")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_LOOPBACK_REGISTRY = re.compile(r"^http://127\.0\.0\.1:(\d{1,5})/?\Z")
_PUBLISHED_PORT = re.compile(r"^(\d{1,5}):(\d{1,5})\Z")
# kube-apiserver's default --service-node-port-range.
NODE_PORTS = (30000, 32767)


class NodeError(CollectionError):
    """The node could not be brought up or taken down; the message names what and where."""


def published_ports(values):
    """``[(host port, node port)]`` of ``HOST:NODEPORT`` strings; ValueError naming the entry."""
    ports = []
    for index, value in enumerate(values or []):
        match = _PUBLISHED_PORT.match(value) if isinstance(value, str) else None
        if not match or not 1 <= int(match.group(1)) <= 65535 or not (
                NODE_PORTS[0] <= int(match.group(2)) <= NODE_PORTS[1]):
            raise ValueError("published_ports[%d] must be HOSTPORT:NODEPORT, a port on the machine's 127.0.0.1 "
                             "and a Service's nodePort (%d-%d), like 18080:30080, got %r"
                             % ((index,) + NODE_PORTS + (value,)))
        ports.append((int(match.group(1)), int(match.group(2))))
    hosts = [host for host, _node in ports]
    if len(set(hosts)) != len(hosts):
        raise ValueError("published_ports: each machine port once, got %s" % ", ".join(values))
    return ports


def published_components(host_port):
    """The two forwarders of a published port: machine side, node side."""
    return ("port-%d-host" % host_port, "port-%d-node" % host_port)


def host_ports(values):
    """The machine ports the node's pods reach, checked; ValueError naming the entry."""
    ports = []
    for index, value in enumerate(values or []):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ValueError("host_ports[%d] must be a port of a service on the machine's 127.0.0.1 (1-65535), got %r"
                             % (index, value))
        ports.append(value)
    if len(set(ports)) != len(ports):
        raise ValueError("host_ports: each port once, got %s" % ", ".join(str(port) for port in ports))
    return ports


def host_port_components(port):
    """The two forwarders that let pods reach the machine's 127.0.0.1:``port``: machine side, node side."""
    return ("hostport-%d-host" % port, "hostport-%d-node" % port)


def node_argument_spec():
    return dict(
        name=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        state_dir=dict(type="path", required=True),
        kubeconfig=dict(type="path", required=True),
        binaries=dict(type="dict", default={}),
        registry_url=dict(type="str", default=""),
        mirrored_registries=dict(type="list", elements="str", default=list(DEFAULT_MIRRORED)),
        sandbox_image=dict(type="str", default="ghcr.io/gitops-progressive/pause:v1.0.0"),
        pod_cidr=dict(type="str", default="10.244.0.0/24"),
        service_cidr=dict(type="str", default="10.0.0.0/24"),
        node_ip=dict(type="str", default="10.250.0.1"),
        cluster_dns=dict(type="str", default="10.0.0.10"),
        tainted=dict(type="bool", default=True),
        published_ports=dict(type="list", elements="str", default=[]),
        host_ports=dict(type="list", elements="int", default=[]),
        wait_timeout=dict(type="int", default=180),
    )


def check_options(params):
    """Every problem of the options, one error naming each, before anything is written."""
    inputs = Inputs("local_node %s" % params.get("name"))
    name = params.get("name")
    if not isinstance(name, str) or not _NODE_NAME.match(name):
        inputs.add(["name must be a node name of lower-case letters, digits and '-', at most 63 "
                    "characters (it names a network namespace and cgroups too), got %r" % (name,)])
    inputs.name("cluster", params.get("cluster"))
    inputs.state_dir("state_dir", params.get("state_dir"))
    inputs.number("wait_timeout", params.get("wait_timeout"), 1, 3600, "seconds")
    networks = {}
    for option in ("pod_cidr", "service_cidr"):
        try:
            networks[option] = ipaddress.ip_network(params.get(option) or "", strict=True)
            network = networks[option]
            if (network.version != 4 or not network.is_private or network.is_loopback or network.is_link_local
                    or network.prefixlen > 28):
                raise ValueError("not a private IPv4 network of at least 16 addresses")
        except ValueError as error:
            inputs.add(["%s must be a private IPv4 network like 10.244.0.0/24, got %r (%s)"
                        % (option, params.get(option), error)])
    try:
        node_ip = ipaddress.ip_address(params.get("node_ip") or "")
        if node_ip.version != 4 or not node_ip.is_private or node_ip.is_loopback:
            raise ValueError("not a private IPv4 address")
        if any(node_ip in network for network in networks.values()):
            raise ValueError("inside pod_cidr or service_cidr")
    except ValueError as error:
        inputs.add(["node_ip must be a private IPv4 address outside pod_cidr and service_cidr, got %r (%s)"
                    % (params.get("node_ip"), error)])
    if "service_cidr" in networks and ipaddress.ip_address(pki.KUBERNETES_SERVICE_IP) not in networks["service_cidr"]:
        inputs.add(["service_cidr %s must hold %s, the kubernetes Service's address that kube-apiserver's "
                    "certificate names" % (networks["service_cidr"], pki.KUBERNETES_SERVICE_IP)])
    try:
        cluster_dns = ipaddress.ip_address(params.get("cluster_dns") or "")
        if "service_cidr" in networks and cluster_dns not in networks["service_cidr"]:
            raise ValueError("outside service_cidr")
        if str(cluster_dns) == pki.KUBERNETES_SERVICE_IP:
            raise ValueError("the kubernetes Service's address")
    except ValueError as error:
        inputs.add(["cluster_dns must be the cluster DNS Service's address, one in service_cidr other than %s "
                    "(the kubernetes Service's), "
                    "got %r (%s)" % (pki.KUBERNETES_SERVICE_IP, params.get("cluster_dns"), error)])
    for check, option in ((published_ports, "published_ports"), (host_ports, "host_ports")):
        try:
            check(params.get(option))
        except ValueError as error:
            inputs.add([str(error)])
    if len(networks) == 2 and networks["pod_cidr"].overlaps(networks["service_cidr"]):
        inputs.add(["pod_cidr %s overlaps service_cidr %s" % (networks["pod_cidr"], networks["service_cidr"])])
    if params.get("state") == "present":
        binaries = params.get("binaries") or {}
        missing = [binary for binary in BINARIES if not binaries.get(binary)]
        if missing:
            inputs.add(["binaries must name %s (sim_binaries' kubernetes-node and cni components)"
                        % ", ".join(missing)])
        for binary in BINARIES:
            path = binaries.get(binary)
            if path and not (isinstance(path, str) and os.path.isabs(path) and os.path.isfile(path)
                             and os.access(path, os.X_OK)):
                inputs.add(["binaries.%s must be the absolute path of an executable file, got %r" % (binary, path)])
        inputs.url("registry_url", params.get("registry_url"))
        if not _LOOPBACK_REGISTRY.match(str(params.get("registry_url") or "")):
            inputs.add(["registry_url must be the loopback registry, http://127.0.0.1:<port> (the node pulls "
                        "through a forwarder to it and reaches nothing else), got %r"
                        % (redact_url(str(params.get("registry_url") or "")),)])
        for index, host in enumerate(params.get("mirrored_registries") or []):
            if not isinstance(host, str) or not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?\Z", host):
                inputs.add(["mirrored_registries[%d] must be a registry host like ghcr.io, got %r" % (index, host)])
        inputs.image("sandbox_image", params.get("sandbox_image"))
    inputs.done()


def run(argv, check=True, timeout=60):
    """Run a short command; NodeError with its output when it fails and ``check``."""
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                                env={"PATH": PATH}, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NodeError("%s: %s" % (" ".join(argv), error))
    output = result.stdout.decode("utf-8", "replace").strip()
    if check and result.returncode != 0:
        raise NodeError("%s: exit %d: %s" % (" ".join(argv), result.returncode, output[-2000:]))
    return result.returncode, output


def cgroup_hierarchies(mounts="/proc/self/mounts"):
    """Mount points of the cgroup hierarchies: every v1 hierarchy, then the v2 one (hybrid
    machines have both; runc makes a container's cgroup in each)."""
    found = []
    with open(mounts) as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 2 and fields[2] in ("cgroup", "cgroup2"):
                found.append((fields[2], fields[1]))
    return [path for kind, path in found if kind == "cgroup"] + [path for kind, path in found if kind == "cgroup2"][:1]


class Node:
    """One real node: its paths, configuration files, processes and teardown."""

    def __init__(self, params, runner=run):
        self.params = params
        self.name = params["name"]
        self.run = runner
        self.base = os.path.join(os.path.abspath(os.path.expanduser(params["state_dir"])), "nodes", self.name)
        self.netns = "gitops-%s" % self.name

    # Paths -------------------------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.base, *parts)

    @property
    def netns_path(self):
        return os.path.join("/run/netns", self.netns)

    @property
    def run_dir(self):
        """The node's short runtime directory: named by a digest of its directory, 0700."""
        return os.path.join(RUNTIME_ROOT, hashlib.sha256(self.base.encode()).hexdigest()[:12])

    def runtime(self, *parts):
        return os.path.join(self.run_dir, *parts)

    @property
    def socket(self):
        return self.runtime("containerd.sock")

    def pidfile(self, component):
        return self.path("run", "%s.pid" % component)

    def log(self, component):
        return self.path("logs", "%s.log" % component)

    @property
    def owner_file(self):
        return os.path.join(OWNERS, self.name)

    def owner(self):
        """The node directory that owns this node name on the machine, or None."""
        try:
            with open(self.owner_file) as handle:
                return handle.read().strip() or None
        except OSError:
            return None

    def check_owner(self):
        owner = self.owner()
        if owner and owner != self.base:
            raise NodeError("local_node %s: the node %s is the one of %s, not of this state directory (%s): a "
                            "node name is one node on the machine" % (self.name, self.netns, owner, self.base))

    def claim(self):
        process.make_private_dir(OWNERS)
        process.write_private(self.owner_file, self.base + "\n")

    def registry_port(self):
        return int(_LOOPBACK_REGISTRY.match(self.params["registry_url"]).group(1))

    def fingerprint(self):
        """What the running node was started from: the options, and each binary's identity."""
        options = {key: value for key, value in self.params.items() if key not in ("state", "wait_timeout")}
        binaries = {}
        for name, path in sorted((self.params.get("binaries") or {}).items()):
            try:
                info = os.stat(path)
                binaries[name] = [path, info.st_size, int(info.st_mtime)]
            except OSError:
                binaries[name] = [path]
        text = json.dumps([options, binaries, COMPONENTS], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def recorded_fingerprint(self):
        try:
            with open(self.path("run", "fingerprint")) as handle:
                return handle.read().strip()
        except OSError:
            return None

    def cgroups(self, leaf=""):
        return [os.path.join(hierarchy, CGROUP_PARENT, self.name, leaf).rstrip("/")
                for hierarchy in cgroup_hierarchies()]

    # State -------------------------------------------------------------------------------
    @property
    def components(self):
        """What this node runs: :data:`COMPONENTS` and the forwarders of its published and host ports."""
        extra = ()
        for host_port, _node_port in published_ports(self.params.get("published_ports")):
            extra += published_components(host_port)
        for port in host_ports(self.params.get("host_ports")):
            extra += host_port_components(port)
        return COMPONENTS[:5] + extra + COMPONENTS[5:]

    def recorded_components(self):
        """The components, and the published and host ports' forwarders an earlier run left PID files of."""
        try:
            names = sorted(name[:-4] for name in os.listdir(self.path("run"))
                           if re.match(r"^(host)?port-\d+-(host|node)\.pid\Z", name))
        except OSError:
            names = []
        return tuple(dict.fromkeys(self.components + tuple(names)))

    def running(self):
        """``{component: pid}`` of the components that run now (by PID file and start time)."""
        found = {}
        for component in self.recorded_components():
            pid, start_time = process.read_pidfile(self.pidfile(component))
            if pid and start_time and process.is_running(pid, start_time):
                found[component] = pid
        return found

    def exists(self):
        return os.path.exists(self.netns_path) or os.path.isdir(self.base) or os.path.isdir(self.run_dir) or any(
            os.path.isdir(path) for path in self.cgroups()) or self.owner() == self.base

    def preflight(self, running):
        """What bring-up needs that the options alone cannot show, before anything is written;
        ``running`` is :meth:`running`'s answer (a published port its own forwarder holds is not taken)."""
        self.check_owner()
        for name in (pki.CA_CERT, pki.CA_KEY):
            if not os.path.isfile(os.path.join(self.pki_dir(), name)):
                raise NodeError("local_node %s: cluster %r has no %s in %s (is it a kwok cluster of this state "
                                "directory?)" % (self.name, self.params["cluster"], name, self.pki_dir()))
        saved = os.path.join(os.path.dirname(self.pki_dir()), "kwok.yaml")
        try:
            with open(saved) as handle:
                manages_own_nodes = "manage-nodes-with-annotation-selector" in handle.read()
        except OSError:
            manages_own_nodes = False
        if not manages_own_nodes:
            raise NodeError("local_node %s: cluster %r was created before kwok managed only kwokctl's nodes "
                            "(%s): kwok would fake this node's status and pods; delete and create the cluster"
                            % (self.name, self.params["cluster"], saved))
        if not pki.HAS_CRYPTOGRAPHY:
            raise NodeError("local_node %s: the Python package cryptography is needed for the node's certificates"
                            % self.name)
        for host_port, node_port in published_ports(self.params["published_ports"]):
            if published_components(host_port)[0] not in running and not process.bindable("127.0.0.1", host_port, reuse=True):
                raise NodeError("local_node %s: published_ports %d:%d: 127.0.0.1:%d is taken by another program"
                                % (self.name, host_port, node_port, host_port))
        return self.api_port()

    def api_port(self):
        """kube-apiserver's port on 127.0.0.1, from the cluster's admin kubeconfig."""
        from ansible_collections.gitops.progressive.plugins.module_utils.cluster.kubeconfig import load

        config = load(self.params["kubeconfig"])
        for cluster in config.get("clusters") or []:
            server = (cluster.get("cluster") or {}).get("server") or ""
            match = re.match(r"^https://127\.0\.0\.1:(\d+)/?$", server)
            if match:
                return int(match.group(1))
        raise NodeError("local_node %s: %s names no API server on https://127.0.0.1:<port>" % (
            self.name, self.params["kubeconfig"]))

    def pki_dir(self):
        return os.path.join(os.path.abspath(os.path.expanduser(self.params["state_dir"])), "kwok", "clusters",
                            self.params["cluster"], "pki")

    # Configuration -----------------------------------------------------------------------
    def write(self, relative, text, mode=0o600):
        path = self.path(relative)
        process.make_private_dir(os.path.dirname(path))
        # Never through a link planted in the node's directory.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        return path

    def kubeconfig_text(self, port, user, cert, key):
        ca = os.path.join(self.pki_dir(), pki.CA_CERT)
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": user,
            "clusters": [{"name": self.params["cluster"], "cluster": {
                "server": "https://127.0.0.1:%d" % port, "certificate-authority": ca}}],
            "users": [{"name": user, "user": {"client-certificate": cert, "client-key": key}}],
            "contexts": [{"name": user, "context": {"cluster": self.params["cluster"], "user": user}}],
        }, indent=2) + "\n"

    def containerd_config(self):
        cri = {
            "sandbox_image": self.params["sandbox_image"],
            "stream_server_address": "127.0.0.1",
            "stream_server_port": "0",
            "enable_selinux": False,
            # Containers never get a lower OOM score than containerd's own: kubelet asks -998 for
            # sandboxes, which needs CAP_SYS_RESOURCE, which root lacks in some sandboxes (and CI).
            "restrict_oom_score_adj": True,
            "containerd": {
                "snapshotter": "overlayfs",
                "default_runtime_name": "runc",
                "runtimes": {"runc": {"runtime_type": "io.containerd.runc.v2",
                                      "options": {"SystemdCgroup": False}}},
            },
            "cni": {"bin_dir": self.path("cni", "bin"), "conf_dir": self.path("cni", "net.d"),
                    "max_conf_num": 1},
            "registry": {"config_path": self.path("containerd", "certs.d")},
        }
        return _toml({
            "version": 2,
            "root": self.path("containerd", "root"),
            "state": self.path("containerd", "state"),
            "grpc": {"address": self.socket},
            "ttrpc": {"address": self.socket + ".ttrpc"},
            "debug": {"address": ""},
            "metrics": {"address": ""},
            "plugins": {
                "io.containerd.grpc.v1.cri": cri,
                "io.containerd.internal.v1.opt": {"path": self.path("containerd", "opt")},
            },
        })

    def hosts_toml(self, host):
        """The mirror first; the fallback ``server`` is the loopback registry itself, never the
        upstream host (containerd 1.6 takes no path on ``server``, so the mirror is a ``host``)."""
        registry = "http://127.0.0.1:%d" % self.registry_port()
        return ('# Written by gitops.progressive local_node: %s comes from the loopback registry, only.\n'
                'server = "%s"\n\n[host."%s/v2/%s"]\n  capabilities = ["pull", "resolve"]\n'
                '  override_path = true\n' % (host, registry, registry, host))

    def cni_config(self):
        return json.dumps({
            "cniVersion": "1.0.0", "name": "gitops-progressive",
            "plugins": [
                {"type": "bridge", "bridge": "gitops0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": self.path("cni", "ipam"),
                          "ranges": [[{"subnet": self.params["pod_cidr"]}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=2) + "\n"

    def kubelet_config(self):
        return json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "port": 10250, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": os.path.join(self.pki_dir(), pki.CA_CERT)}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs", "cgroupRoot": "/%s/%s/pods" % (CGROUP_PARENT, self.name),
            "cgroupsPerQOS": True, "failSwapOn": False, "failCgroupV1": False,
            "containerRuntimeEndpoint": "unix://" + self.socket,
            "resolvConf": self.path("resolv.conf"),
            "clusterDomain": "cluster.local", "clusterDNS": [self.params["cluster_dns"]],
            "podLogsDir": self.path("pod-logs"),
            "volumePluginDir": self.path("volume-plugins"),
            "rotateCertificates": False, "serializeImagePulls": False, "maxPods": 30,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "localStorageCapacityIsolation": False,
            "registerWithTaints": ([_taint(REAL_NODE_TAINT)] if self.params["tainted"] else []),
        }, indent=2) + "\n"

    def kube_proxy_config(self):
        return json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clusterCIDR": self.params["pod_cidr"],
            "clientConnection": {"kubeconfig": self.path("kube-proxy.kubeconfig")},
            "bindAddress": "127.0.0.1", "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249", "hostnameOverride": self.name,
            # Per-namespace conntrack settings stay as the kernel has them.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }, indent=2) + "\n"

    def configure(self, port):
        """Every file the node's processes read, written afresh (owner-only)."""
        for directory in ("", "run", "logs", "pki", "containerd", "cni/bin", "cni/net.d", "cni/ipam",
                          "pod-logs", "volume-plugins"):
            process.make_private_dir(self.path(directory))
        binaries = self.params["binaries"]
        for user, common_name, organization in (("kubelet", "system:node:%s" % self.name, "system:nodes"),
                                                ("kube-proxy", "system:kube-proxy", None)):
            cert, key = pki.issue_client(self.pki_dir(), common_name, organization)
            cert_path = self.write("pki/%s.crt" % user, cert.decode())
            key_path = self.write("pki/%s.key" % user, key.decode())
            self.write("%s.kubeconfig" % user, self.kubeconfig_text(port, user, cert_path, key_path))
        self.write("containerd/config.toml", self.containerd_config())
        # Written before containerd starts (configure runs only then): never read half-written.
        shutil.rmtree(self.path("containerd", "certs.d"), ignore_errors=True)
        for host in self.params["mirrored_registries"]:
            self.write("containerd/certs.d/%s/hosts.toml" % host, self.hosts_toml(host))
        os.chmod(self.base, 0o700)
        self.write("cni/net.d/10-gitops-progressive.conflist", self.cni_config())
        for plugin in ("bridge", "host-local", "loopback", "portmap"):
            link = self.path("cni", "bin", plugin)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(binaries[plugin], link)
        self.write("resolv.conf", "# gitops.progressive local_node: no name server reaches past the machine.\n"
                                  "options ndots:5\n")
        self.write("kubelet.yaml", self.kubelet_config())
        self.write("kube-proxy.yaml", self.kube_proxy_config())

    # Bring-up ----------------------------------------------------------------------------
    def make_netns(self):
        if not os.path.exists(self.netns_path):
            self.run(["ip", "netns", "add", self.netns])
        inside = ["ip", "netns", "exec", self.netns]
        self.run(inside + ["ip", "link", "set", "lo", "up"])
        self.add_local_address(self.params["node_ip"])
        # Routed between the bridge and service addresses inside the namespace, nowhere else.
        self.run(inside + ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # The node's own connections to a service address (kubelet's, a test's) need a route
        # before kube-proxy's OUTPUT rules rewrite them to a pod's: there is no default route.
        _rc, routes = self.run(inside + ["ip", "-4", "route", "show", self.params["service_cidr"]])
        if not routes.strip():
            self.run(inside + ["ip", "route", "add", self.params["service_cidr"], "dev", "lo"])

    def advertised_api(self):
        """``(address, port)`` of the ``kubernetes`` Service's endpoint: where kube-proxy sends
        pods that ask for the API (kube-apiserver advertises the machine's address, though it
        listens on 127.0.0.1 only)."""
        from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Resource

        endpoints = Resource("v1", "Endpoints", "endpoints", namespaced=True)
        try:
            found = _kube(self.params).get(endpoints, "default", "kubernetes") or {}
        except CollectionError as error:
            raise NodeError("local_node %s: reading the kubernetes Endpoints: %s" % (self.name, error))
        for subset in found.get("subsets") or []:
            addresses = [entry.get("ip") for entry in subset.get("addresses") or []]
            ports = [entry.get("port") for entry in subset.get("ports") or [] if entry.get("name") == "https"]
            if addresses and ports:
                address = ipaddress.ip_address(addresses[0])
                if any(address in ipaddress.ip_network(self.params[option])
                       for option in ("pod_cidr", "service_cidr")) or str(address) == self.params["node_ip"]:
                    raise NodeError("local_node %s: kube-apiserver advertises %s, inside the node's own networks "
                                    "(pod_cidr, service_cidr, node_ip): choose others" % (self.name, address))
                return str(address), int(ports[0])
        raise NodeError("local_node %s: the kubernetes Endpoints name no address and https port" % self.name)

    def add_local_address(self, address):
        """``address`` on the node's loopback, once: the node's own address, and the API's
        advertised one, answered inside the node's namespace (by the forwarder), never routed
        anywhere."""
        inside = ["ip", "netns", "exec", self.netns]
        _rc, addresses = self.run(inside + ["ip", "-4", "-o", "addr", "show", "dev", "lo"])
        if " %s/32 " % address not in addresses:
            self.run(inside + ["ip", "addr", "add", "%s/32" % address, "dev", "lo"])

    def make_cgroups(self):
        for hierarchy in cgroup_hierarchies():
            for leaf in ("", "runtime", "pods"):
                path = os.path.join(hierarchy, CGROUP_PARENT, self.name, leaf).rstrip("/")
                _make_cgroup(hierarchy, path)

    def join_cgroup(self, pid):
        for path in self.cgroups("runtime"):
            try:
                with open(os.path.join(path, "cgroup.procs"), "w") as handle:
                    handle.write("%d\n" % pid)
            except OSError as error:
                raise NodeError("local_node %s: cannot move PID %d into %s: %s" % (self.name, pid, path, error))

    def start(self, component, argv):
        pid = process.start(argv, self.pidfile(component), self.log(component), env={"PATH": PATH})
        self.join_cgroup(pid)
        return pid

    def containerd_argv(self):
        """containerd in the node's network namespace and a mount namespace of its own (slave:
        the machine's later unmounts reach it, its mounts never reach the machine), in the
        node's ``runtime`` cgroup before it execs, with a tmpfs over the host directories it
        and kubelet would write to."""
        script = ("set -eu\n"
                  "for cgroup in $CGROUPS; do echo $$ > \"$cgroup/cgroup.procs\"; done\n"
                  "for dir in %s; do mount -t tmpfs -o mode=0700 tmpfs \"$dir\"; done\n"
                  "exec \"$@\"\n" % " ".join(PRIVATE_TMPFS))
        return ["nsenter", "--net=%s" % self.netns_path, "--", "unshare", "--mount", "--propagation", "slave", "--",
                "/bin/sh", "-c", script, "containerd-node", "containerd", "--config",
                self.path("containerd", "config.toml")]

    def make_mount_points(self):
        """The host directories the tmpfs mounts need; those made here are removed on the way down."""
        created = self._created_dirs()
        for directory in PRIVATE_TMPFS:
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o755)
                created.append(directory)
        self.write("run/created-dirs.json", json.dumps(sorted(set(created))))

    def _created_dirs(self):
        try:
            with open(self.path("run", "created-dirs.json")) as handle:
                return list(json.load(handle))
        except (OSError, ValueError):
            return []

    def forwarders(self, api_port, advertised):
        """The forwarders' command lines: machine side (a 0600 Unix socket to a TCP port on the
        machine's 127.0.0.1), node side (a TCP port in the node's namespace to that socket)."""
        registry_port = self.registry_port()
        api_sock, registry_sock = self.runtime("api.sock"), self.runtime("registry.sock")
        address, advertised_port = advertised
        return {
            "api-host": self.to_machine(api_sock, api_port),
            "registry-host": self.to_machine(registry_sock, registry_port),
            "api-node": self.in_node("127.0.0.1", api_port, api_sock),
            "api-pods": self.in_node(address, advertised_port, api_sock),
            "registry-node": self.in_node("127.0.0.1", registry_port, registry_sock),
        }

    @staticmethod
    def to_machine(sock, port):
        """Machine side of a forwarder: a 0600 Unix socket to the machine's 127.0.0.1:``port``."""
        return ["socat", "UNIX-LISTEN:%s,fork,mode=600,unlink-early" % sock, "TCP:127.0.0.1:%d" % port]

    def in_node(self, address, port, sock):
        """Node side of a forwarder: ``address:port`` in the node's namespace to the Unix socket."""
        return ["nsenter", "--net=%s" % self.netns_path, "--", "socat",
                "TCP-LISTEN:%d,bind=%s,fork,reuseaddr" % (port, address), "UNIX-CONNECT:%s" % sock]

    def port_forwarders(self):
        """Each published port: the machine's 127.0.0.1:HOSTPORT to a 0600 Unix socket, and from
        that socket, inside the node's namespace, to the node's address at the nodePort (where
        kube-proxy's NodePort rules take it to a pod)."""
        forwarders = {}
        for host_port, node_port in published_ports(self.params.get("published_ports")):
            sock = self.runtime("port-%d.sock" % host_port)
            host, node = published_components(host_port)
            forwarders[host] = ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr" % host_port,
                                "UNIX-CONNECT:%s" % sock]
            forwarders[node] = ["nsenter", "--net=%s" % self.netns_path, "--", "socat",
                                "UNIX-LISTEN:%s,fork,mode=600,unlink-early" % sock,
                                "TCP:%s:%d" % (self.params["node_ip"], node_port)]
        return forwarders

    def host_port_forwarders(self, address):
        """Each host port: the node's ``address`` (the API's advertised one, on its loopback) at
        that port, inside its namespace, to a 0600 Unix socket, and from it to the machine's
        127.0.0.1 at the same port. Pods reach it there (a Service without a selector whose
        endpoint is that address, as the ``kubernetes`` Service's is); nothing outside the node does."""
        forwarders = {}
        for port in host_ports(self.params.get("host_ports")):
            sock = self.runtime("hostport-%d.sock" % port)
            host, node = host_port_components(port)
            forwarders[host] = self.to_machine(sock, port)
            forwarders[node] = self.in_node(address, port, sock)
        return forwarders

    def kubelet_argv(self, containerd_pid):
        return ["nsenter", "--target", str(containerd_pid), "--mount", "--net=%s" % self.netns_path, "--",
                self.params["binaries"]["kubelet"], "--config", self.path("kubelet.yaml"),
                "--kubeconfig", self.path("kubelet.kubeconfig"), "--root-dir", self.runtime("kubelet"),
                "--cert-dir", self.runtime("kubelet", "pki"), "--hostname-override", self.name,
                "--node-ip", self.params["node_ip"], "--node-labels", "%s=true" % REAL_NODE_LABEL]

    def up(self, deadline):
        """Start what is not running; everything when containerd is not, or when the node was
        started from other options or binaries. Returns ``{component: pid}``."""
        running = self.running()
        port = self.preflight(running)
        advertised = self.advertised_api()
        if advertised[1] in host_ports(self.params.get("host_ports")):
            raise NodeError("local_node %s: host_ports %d is the port the API is advertised at (%s:%d) inside the node"
                            % (self.name, advertised[1], advertised[0], advertised[1]))
        fresh = "containerd" not in running or self.recorded_fingerprint() != self.fingerprint()
        if fresh:
            # A stopped or changed node's leftovers: kubelet would find containers containerd
            # no longer knows, and a changed node must not keep a process of the old one.
            self.stop_all(keep_netns=True)
            running = {}
            self.claim()
            process.make_private_dir(self.run_dir)
            os.chmod(self.run_dir, 0o700)
            self.make_netns()
            self.make_cgroups()
            self.make_mount_points()
            KernelTunables().hold(self.name, legacy=self.path("run", "kernel-tunables.json"))
            self.configure(port)
        self.add_local_address(advertised[0])
        forwarders = dict(self.forwarders(port, advertised), **self.port_forwarders())
        forwarders.update(self.host_port_forwarders(advertised[0]))
        for component, argv in forwarders.items():
            if component not in running:
                if component in ("api-host", "registry-host"):
                    _remove(self.runtime("%s.sock" % component.split("-", maxsplit=1)[0]))
                self.start(component, argv)
        if "containerd" not in running:
            # A killed containerd leaves its socket: kubelet must not take that for a live one.
            for stale in (self.socket, self.socket + ".ttrpc"):
                _remove(stale)
            pid = process.start(self.containerd_argv(), self.pidfile("containerd"), self.log("containerd"),
                                env={"PATH": PATH, "CGROUPS": " ".join(self.cgroups("runtime"))})
            self._wait(lambda: _answers(self.socket), "containerd's socket %s" % self.socket, pid, "containerd",
                       deadline)
        containerd = process.read_pidfile(self.pidfile("containerd"))[0]
        if "kubelet" not in running:
            self.start("kubelet", self.kubelet_argv(containerd))
        if "kube-proxy" not in running:
            self.start("kube-proxy", ["nsenter", "--net=%s" % self.netns_path, "--",
                                      self.params["binaries"]["kube-proxy"], "--config",
                                      self.path("kube-proxy.yaml")])
        kubelet = process.read_pidfile(self.pidfile("kubelet"))[0]
        self._wait(self.kubelet_healthy, "kubelet's /healthz", kubelet, "kubelet", deadline)
        process.write_private(self.path("run", "fingerprint"), self.fingerprint() + "\n")
        return self.running()

    def kubelet_healthy(self):
        rc, out = self.run(["ip", "netns", "exec", self.netns, "curl", "-s", "-m", "2",
                            "http://127.0.0.1:10248/healthz"], check=False)
        return rc == 0 and out.strip() == "ok"

    def _wait(self, done, what, pid, component, deadline):
        """Until ``done()``, the process ``pid`` exits, or ``deadline`` (time.monotonic)."""
        start_time = process.start_time_of(pid)
        while True:
            if done():
                return
            if not process.is_running(pid, start_time):
                raise NodeError("local_node %s: %s exited before %s; last lines of %s:\n%s" % (
                    self.name, component, what, self.log(component), process.tail(self.log(component))))
            if time.monotonic() > deadline:
                raise NodeError("local_node %s: no %s within wait_timeout (%ds); last lines of %s:\n%s" % (
                    self.name, what, self.params["wait_timeout"], self.log(component),
                    process.tail(self.log(component))))
            time.sleep(0.2)

    # Teardown ----------------------------------------------------------------------------
    def cgroup_pids(self):
        """Every PID in the node's cgroup (runtime and pods), in any hierarchy."""
        pids = set()
        for path in self.cgroups():
            for directory, _subdirs, files in os.walk(path):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(directory, "cgroup.procs")) as handle:
                            pids.update(int(line) for line in handle if line.strip())
                    except OSError:
                        continue
        return pids

    def freeze(self, frozen):
        """Freeze (or thaw) the node's whole cgroup: a frozen PID cannot exit, so the one
        signalled is the one read, and nothing in it forks faster than it is stopped."""
        for path in self.cgroups():
            for control, value in (("freezer.state", "FROZEN" if frozen else "THAWED"),
                                   ("cgroup.freeze", "1" if frozen else "0")):
                target = os.path.join(path, control)
                if os.path.exists(target):
                    try:
                        with open(target, "w") as handle:
                            handle.write(value)
                    except OSError:
                        pass

    def stop_all(self, keep_netns=False, timeout=20):
        """Stop everything; returns the PIDs signalled. Leaves no process, mount, cgroup or
        (unless ``keep_netns``) network namespace of the node."""
        stopped = []
        for component in reversed(self.recorded_components()):
            pid, _start_time = process.read_pidfile(self.pidfile(component))
            if process.stop_pidfile(self.pidfile(component), timeout=10):
                stopped.append(pid)
        # What the components leave: containerd's shims and the containers. Only PIDs in the
        # node's own cgroup, which nothing else of the machine joins.
        deadline = time.monotonic() + timeout
        while True:
            self.freeze(True)
            pids = self.cgroup_pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    stopped.append(pid)
                except ProcessLookupError:
                    pass
            self.freeze(False)
            if not pids:
                break
            if time.monotonic() > deadline:
                raise NodeError("local_node %s: PIDs %s still in %s after %ds" % (
                    self.name, sorted(pids), self.cgroups()[0], timeout))
            time.sleep(0.2)
        # The pods are gone without a CNI DEL: their addresses are free again.
        shutil.rmtree(self.path("cni", "ipam"), ignore_errors=True)
        for path in self.cgroups():
            _remove_cgroup(path, deadline)
            try:
                # The parent goes with the last node.
                os.rmdir(os.path.dirname(path))
            except OSError:
                pass
        if not keep_netns and os.path.exists(self.netns_path):
            self.run(["ip", "netns", "delete", self.netns])
        return sorted(set(stopped))

    def down(self):
        self.check_owner()
        stopped = self.stop_all()
        KernelTunables().release(self.name)
        leftover = [line.split()[4] for line in _mountinfo()
                    if line.split()[4].startswith((self.base + os.sep, self.run_dir + os.sep))]
        if leftover:
            raise NodeError("local_node %s: mounts left under %s: %s" % (self.name, self.base, ", ".join(leftover)))
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for path in (RUNTIME_ROOT,):
            try:
                os.rmdir(path)
            except OSError:
                pass
        for directory in self._created_dirs():
            try:
                os.rmdir(directory)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        for path in (self.owner_file, OWNERS, os.path.dirname(OWNERS)):
            try:
                # The owners' directories go with the last node.
                os.unlink(path) if path == self.owner_file else os.rmdir(path)
            except OSError:
                pass
        return stopped


class KernelTunables:
    """The machine's kernel tunables as they were before its first real node started.

    kubelet sets them machine-wide, so a record per node would be wrong the moment two nodes
    run: the second would record the first kubelet's values, and the first to go down would
    put the old values back under the other's running kubelet. One record of the machine
    names the nodes that hold it (a node whose claim is gone no longer does); the first
    holder records, the last to let go restores. Under an exclusive ``flock`` of the
    record's directory."""

    def __init__(self, record=TUNABLES_RECORD, proc_sys="/proc/sys", owners=OWNERS, names=KERNEL_TUNABLES):
        self.record, self.proc_sys, self.owners, self.names = record, proc_sys, owners, names

    def hold(self, node, legacy=None):
        """Hold the record for ``node``; the first holder records the values now, or those of
        ``legacy`` (the per-node record of an earlier release of this module, kept from before
        that node's kubelet first ran) when it has one."""
        with self._locked():
            data = self._read()
            if data is None:
                data = {"values": self._legacy(legacy) or self._current(), "holders": []}
            data["holders"] = sorted(set(self._live(data["holders"])) | {node})
            self._write(data)

    def release(self, node):
        """Let go of the record; the last holder puts the values back and removes it."""
        with self._locked():
            data = self._read()
            if data is None:
                return
            holders = sorted(set(self._live(data["holders"])) - {node})
            if holders:
                self._write(dict(data, holders=holders))
                return
            for name, value in sorted(data["values"].items()):
                try:
                    with open(os.path.join(self.proc_sys, name), "w") as handle:
                        handle.write(value)
                except OSError:
                    continue
            os.unlink(self.record)

    def _live(self, holders):
        """The holders that are still a node of the machine: a claim whose node directory is
        there (a state directory removed without taking its node down holds nothing)."""
        live = []
        for name in holders:
            try:
                with open(os.path.join(self.owners, name)) as handle:
                    directory = handle.read().strip()
            except OSError:
                continue
            if directory and os.path.isdir(directory):
                live.append(name)
        return live

    @staticmethod
    def _legacy(path):
        try:
            with open(path) as handle:
                values = json.load(handle)
        except (TypeError, OSError, ValueError):
            return None
        return values if isinstance(values, dict) and all(isinstance(v, str) for v in values.values()) else None

    def _current(self):
        values = {}
        for name in self.names:
            try:
                with open(os.path.join(self.proc_sys, name)) as handle:
                    values[name] = handle.read().strip()
            except OSError:
                continue
        return values

    def _read(self):
        try:
            with open(self.record) as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) and isinstance(data.get("values"), dict) else None
        except (OSError, ValueError):
            return None

    def _write(self, data):
        """A new file moved over the record: a task killed half way leaves the old record whole."""
        scratch = self.record + ".new"
        process.write_private(scratch, json.dumps(data, sort_keys=True))
        os.replace(scratch, self.record)

    @contextlib.contextmanager
    def _locked(self):
        import fcntl
        directory = os.path.dirname(self.record)
        process.make_private_dir(directory)
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def _mountinfo():
    with open("/proc/self/mountinfo") as handle:
        return [line for line in handle if len(line.split()) > 4]


def _make_cgroup(hierarchy, path):
    """Create ``path`` and its parents below ``hierarchy``; a v1 cpuset inherits its parent's CPUs and memory nodes."""
    relative = os.path.relpath(path, hierarchy).split(os.sep)
    current = hierarchy
    for part in relative:
        parent, current = current, os.path.join(current, part)
        if os.path.isdir(current):
            continue
        os.mkdir(current, 0o755)
        for name in ("cpuset.cpus", "cpuset.mems"):
            source = os.path.join(parent, name)
            if os.path.exists(source) and os.path.exists(os.path.join(current, name)):
                with open(source) as handle:
                    value = handle.read().strip()
                with open(os.path.join(current, name), "w") as handle:
                    handle.write(value)


def _remove_cgroup(path, deadline=None):
    """Remove an empty cgroup tree, deepest first (cgroup directories are removed with rmdir);
    a cgroup whose last task is still exiting (EBUSY) is tried again until ``deadline``."""
    if not os.path.isdir(path):
        return
    for directory, _subdirs, _files in sorted(os.walk(path), key=lambda entry: -entry[0].count(os.sep)):
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as error:
                if deadline is None or time.monotonic() > deadline:
                    raise NodeError("cannot remove cgroup %s: %s" % (directory, error))
                time.sleep(0.1)


def _answers(path):
    """True when something accepts connections on the Unix socket ``path``."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _quote(text):
    return "'%s'" % text.replace("'", "'\\''")


def _taint(text):
    key, _eq, rest = text.partition("=")
    value, _colon, effect = rest.partition(":")
    return {"key": key, "value": value, "effect": effect}


def _toml(data, prefix=""):
    """The small TOML subset containerd's configuration needs: tables, strings, numbers, booleans."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append("%s = %s" % (_toml_key(key), _toml_value(value)))
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = "%s.%s" % (prefix, _toml_key(key)) if prefix else _toml_key(key)
        text += "\n[%s]\n%s" % (name, _toml(value, name))
    return text


def _toml_key(key):
    return key if re.match(r"^[A-Za-z0-9_-]+\Z", key) else json.dumps(key)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(_toml_value(item) for item in value)
    return json.dumps(str(value))


def reconcile(params, check_mode=False):
    """The local_node task: the node up (and Ready) or gone; the task result."""
    check_options(params)
    node = Node(params)
    node.check_owner()
    result = dict(changed=False, netns=node.netns)
    if params["state"] == "absent":
        result["stopped_pids"] = []
        if not node.exists():
            return result
        result["changed"] = True
        if not check_mode:
            result["stopped_pids"] = node.down()
            _delete_node_object(params, node.name)
        return result
    if params.get("host_ports"):
        try:
            result["host_address"] = node.advertised_api()[0]
        except NodeError:
            # In check mode the cluster may not be built yet: nothing to name.
            if not check_mode:
                raise
    running = node.running()
    if (set(running) == set(node.components) and node.recorded_fingerprint() == node.fingerprint()
            and _node_ready(params, node.name)):
        result["pids"] = running
        return result
    result["changed"] = True
    if check_mode:
        return result
    if os.geteuid() != 0:
        raise NodeError("local_node %s: a real node needs root (network and mount namespaces, cgroups)" % node.name)
    # One limit for the whole bring-up: starting, kubelet's health and the Node's readiness.
    deadline = time.monotonic() + params["wait_timeout"]
    try:
        result["pids"] = node.up(deadline)
    except (OSError, ImportError) as error:
        raise NodeError("local_node %s: %s" % (node.name, error))
    _wait_ready(params, node, deadline)
    return result


def _kube(params):
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import client_for_kubeconfig

    return client_for_kubeconfig(params["kubeconfig"])


def _node_ready(params, name, since=None):
    """The Node is Ready; with ``since`` (seconds since the epoch), as reported after it: a
    Ready status from a kubelet that has since died is not this one's."""
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import NODE
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import node_is_ready

    try:
        items, _version = _kube(params).list(NODE, field_selector="metadata.name=%s" % name)
    except CollectionError:
        return False
    if not items or not node_is_ready(items[0]):
        return False
    if since is None:
        return True
    for condition in items[0]["status"]["conditions"]:
        if condition.get("type") == "Ready":
            return _epoch(condition.get("lastHeartbeatTime")) >= since - 1
    return False


def _epoch(stamp):
    import calendar

    try:
        return calendar.timegm(time.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0


def _wait_ready(params, node, deadline):
    pid, _start_time = process.read_pidfile(node.pidfile("kubelet"))
    since = process.started_at(pid) if pid else None
    while not _node_ready(params, node.name, since):
        missing = sorted(set(node.components) - set(node.running()))
        if missing:
            component = missing[0]
            raise NodeError("local_node %s: %s exited; last lines of %s:\n%s" % (
                node.name, component, node.log(component), process.tail(node.log(component))))
        if time.monotonic() > deadline:
            raise NodeError("local_node %s: not Ready after %ds; last lines of %s:\n%s" % (
                node.name, params["wait_timeout"], node.log("kubelet"), process.tail(node.log("kubelet"))))
        time.sleep(1)


def _delete_node_object(params, name):
    from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import NODE

    if not os.path.exists(params["kubeconfig"]):
        return
    try:
        _kube(params).delete(NODE, None, name)
    except CollectionError:
        # The cluster is gone or stopped: its Node objects went with it.
        pass
