# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster providers: kwok (simulated, real control plane), k3d, minikube.

Each provider is a small strategy with the same verbs: ``status`` (absent, stopped or
running), ``create``, ``start``, ``delete``, ``reconcile_nodes``, ``pids`` and the
kubeconfig entries it writes. Everything that differs between providers is here, so
the workflow (reconcile.py) never asks which provider it holds.

They only build command lines and read their output through ``run``, a callable
``run(argv, env, read_only=False) -> (rc, out, err)``: the module passes a runner on
Ansible's ``run_command`` (which in check mode runs only the ``read_only`` look-ups),
unit tests pass a recorder. So the k3d and minikube command lines are tested here
without pretending that a cluster ran (neither can run without a Docker engine).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import stat
import time

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import pki
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process

ABSENT, STOPPED, RUNNING = "absent", "stopped", "running"

# The only address the simulated cluster's processes listen on. Loopback is not a boundary
# against other accounts of the machine: etcd also asks every client for a certificate.
LOOPBACK = "127.0.0.1"
# Where kwokctl v0.8.0 starts looking for a free port, downwards (pkg/utils/net/unused_port.go):
# below the kernel's ephemeral range, so an outgoing connection never takes the port.
KWOKCTL_FIRST_PORT = 32766
# The annotation kwokctl puts on the nodes it creates: kwok manages those nodes only.
KWOK_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"


class ProviderError(CollectionError):
    """A provider command failed, or the provider cannot do what was asked; names the cluster."""


class Provider:
    name = ""

    def __init__(self, params, run):
        self.params = params
        self.run = run
        self.cluster = params["name"]

    def env(self):
        return None

    def _call(self, argv, what, read_only=False):
        rc, out, err = self.run(argv, self.env(), read_only=read_only)
        if rc != 0:
            raise ProviderError("%s cluster %r: %s failed (exit %d): %s" % (
                self.name, self.cluster, what, rc, (err or out).strip()[-2000:]))
        return out

    def status(self):
        raise NotImplementedError

    def create_commands(self):
        raise NotImplementedError

    def start_commands(self):
        return self.create_commands()

    def delete_commands(self):
        raise NotImplementedError

    def create(self):
        for argv, what in self.create_commands():
            self._call(argv, what)

    def start(self):
        for argv, what in self.start_commands():
            self._call(argv, what)

    def delete(self):
        """Delete the cluster; returns the PIDs that had to be stopped by PID afterwards."""
        for argv, what in self.delete_commands():
            self._call(argv, what)
        return []

    def reconcile_nodes(self, nodes, check_mode):
        """Bring a running cluster to the wanted node count.

        ``nodes`` answers ``count()`` (kube API). Returns the commands that were run (or
        would run, in check mode); empty when nothing had to change. k3d agents and
        minikube nodes are set when the cluster is created, so by default nothing is.
        """
        return []

    def pids(self):
        """PIDs of the processes this provider runs on this host, or None when it runs none."""
        return None

    def kubeconfig_entries(self):
        """The names this cluster writes into its kubeconfig, by section."""
        raise NotImplementedError

    def warnings(self):
        """Problems with an existing cluster worth telling the user (it still works)."""
        return []


# How far apart a kwok component's start and the write of its PID file may be. kwokctl
# writes the file right after the start (milliseconds); the margin covers the clock-tick
# resolution of /proc and a small step of the wall clock. A PID reused by a later process
# (after the component ended, or after a reboot) started long after the file was written.
PIDFILE_SLACK_SECONDS = 5.0


class KwokProvider(Provider):
    """kwokctl's binary runtime, pointed at binaries built from source.

    kwokctl keeps each cluster in ``<workdir>/clusters/<name>`` and records the PID of
    every component it starts in ``pids/<binary name>.pid``; teardown reads those files
    before asking kwokctl to delete, then makes sure each recorded process is gone.

    Those files hold a PID only (kwok v0.8.0, ``pkg/kwokctl/runtime/exec.go``), and a PID
    alone may name any program by now. A recorded process counts as this cluster's
    component only when /proc shows it is: its ``argv[0]`` is the binary the file is
    named after, it runs in the cluster's directory (kwokctl starts every component
    there) or names that directory in its arguments, and it started within
    ``PIDFILE_SLACK_SECONDS`` of the file's last write. Any other live PID is *stale*:
    never signalled, its file removed before kwokctl (which trusts any live PID) could
    signal it or skip starting the component, and reported in ``stale``/``warnings()``.

    Every component listens on 127.0.0.1 only. kwokctl v0.8.0 has no flag for that but
    a configuration option, ``KwokctlConfiguration.options.bindAddress`` (default
    ``0.0.0.0``), which its binary runtime passes to each component it starts: etcd's
    ``--listen-client-urls``/``--listen-peer-urls`` (its metrics are served on the
    client URL), kube-apiserver's ``--bind-address``, kube-controller-manager's and
    kube-scheduler's ``--bind-address``, kwok's ``--server-address``. The file is given
    with kwokctl's global ``--config`` at create time; kwokctl saves the resulting
    configuration with the cluster, so ``start`` keeps the address.

    Loopback is reachable by every account of the machine, so the cluster does not rely on
    it alone (module_utils/cluster/pki.py makes the keys and certificates before kwokctl
    runs, into the ``pki`` directory, which kwokctl then leaves alone):

    - etcd serves TLS only, client and peer, and asks every client for a certificate of
      its own CA (``--client-cert-auth``, ``--trusted-ca-file``); kube-apiserver is its one
      client (``--etcd-servers=https://...``, ``--etcd-cafile/--etcd-certfile/--etcd-keyfile``);
    - kube-apiserver and kwok serve with keys of their own, not the admin client's;
    - the work directory is owner-only: directories 0700, files without group or other
      bits (keys and kubeconfigs 0600; kwokctl writes keys 0644 and directories 0750),
      made so after every create and start.

    kwokctl v0.8.0 has no option for any of it: its binary runtime builds etcd's URLs as
    ``http://`` and gives kube-apiserver the admin certificate to serve with. The
    configuration's ``componentsPatches`` replace those arguments (``override``) and add
    the rest. A replaced URL must name the port, so the provider picks the ports kwokctl
    would (``pick_ports``: etcd's, kube-apiserver's, kwok's, the controller manager's and
    the scheduler's) the way kwokctl would, under the same lock, and kwokctl picks none.
    kwokctl's readiness check asks kube-apiserver's ``/healthz`` through its kubeconfig
    (which trusts ``ca.crt``), never etcd; ``kwokctl etcdctl`` and ``kwokctl snapshot``
    would need the etcd client certificate given by hand (the collection uses neither).
    """

    name = "kwok"

    BINARY_FLAGS = (
        ("etcd", "--etcd-binary"),
        ("kube-apiserver", "--kube-apiserver-binary"),
        ("kube-controller-manager", "--kube-controller-manager-binary"),
        ("kube-scheduler", "--kube-scheduler-binary"),
        ("kwok", "--kwok-controller-binary"),
    )

    def __init__(self, params, run):
        super().__init__(params, run)
        # What the last delete() or start() found stale: one line per PID file.
        self.stale = []

    @property
    def kwokctl(self):
        return self.params["binaries"].get("kwokctl") or "kwokctl"

    @property
    def workdir(self):
        return os.path.join(self.params["state_dir"], "kwok")

    @property
    def cluster_dir(self):
        return os.path.join(self.workdir, "clusters", self.cluster)

    @property
    def config_path(self):
        # Not <workdir>/kwok.yaml: kwokctl loads that one into every command by itself.
        return os.path.join(self.workdir, "configs", "%s.yaml" % self.cluster)

    def env(self):
        # kwokctl starts etcd, kube-apiserver and the rest with its own environment: they get
        # a minimal one, never the operator's tokens (K8S_AUTH_*, VAULT_TOKEN, cloud keys).
        explicit = {"KWOK_WORKDIR": self.workdir}
        if self.params.get("kube_version"):
            # kwokctl takes the version from its environment; it has no flag for it.
            explicit["KWOK_KUBE_VERSION"] = self.params["kube_version"]
        return process.CleanEnvironment(process.child_environment(explicit))

    @property
    def pki_dir(self):
        # kwokctl's own name for it: it generates nothing when the directory exists.
        return os.path.join(os.path.abspath(self.cluster_dir), "pki")

    def pki_path(self, relative):
        return os.path.join(self.pki_dir, relative)

    # The ports kwokctl v0.8.0's binary runtime picks when it creates a cluster, in its order
    # (runtime/binary/cluster_setup.go Install, then the controller manager's and scheduler's).
    PORT_OPTIONS = ("etcdPeerPort", "etcdPort", "kubeApiserverPort", "kwokControllerPort",
                    "kubeControllerManagerPort", "kubeSchedulerPort")

    def kwokctl_configuration(self, ports):
        """The KwokctlConfiguration given to ``kwokctl create cluster --config``.

        ``ports``: the components' ports by option name (pick_ports), etcd's among them.
        """
        path = self.pki_path
        client = "https://%s:%d" % (LOOPBACK, ports["etcdPort"])
        peer = "https://%s:%d" % (LOOPBACK, ports["etcdPeerPort"])

        def replace(key, value):
            # kwokctl swaps the argument it generated for this one (and only warns when it has none).
            return {"key": key, "value": value, "override": True}

        def add(key, value):
            return {"key": key, "value": value}

        return {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": dict(ports, bindAddress=LOOPBACK),
            "componentsPatches": [
                {"name": "etcd", "extraArgs": [
                    replace("listen-client-urls", client),
                    replace("advertise-client-urls", client),
                    replace("listen-peer-urls", peer),
                    replace("initial-advertise-peer-urls", peer),
                    replace("initial-cluster", "node0=" + peer),
                    add("cert-file", path(pki.ETCD_SERVER_CERT)),
                    add("key-file", path(pki.ETCD_SERVER_KEY)),
                    add("trusted-ca-file", path(pki.ETCD_CA_CERT)),
                    add("client-cert-auth", "true"),
                    add("peer-cert-file", path(pki.ETCD_SERVER_CERT)),
                    add("peer-key-file", path(pki.ETCD_SERVER_KEY)),
                    add("peer-trusted-ca-file", path(pki.ETCD_CA_CERT)),
                    add("peer-client-cert-auth", "true"),
                ]},
                {"name": "kube-apiserver", "extraArgs": [
                    replace("etcd-servers", client),
                    replace("tls-cert-file", path(pki.APISERVER_CERT)),
                    replace("tls-private-key-file", path(pki.APISERVER_KEY)),
                    add("etcd-cafile", path(pki.ETCD_CA_CERT)),
                    add("etcd-certfile", path(pki.ETCD_CLIENT_CERT)),
                    add("etcd-keyfile", path(pki.ETCD_CLIENT_KEY)),
                ]},
                {"name": "kwok-controller", "extraArgs": [
                    replace("tls-cert-file", path(pki.KWOK_CERT)),
                    replace("tls-private-key-file", path(pki.KWOK_KEY)),
                    # kwokctl's own nodes carry this annotation; a real node's kubelet
                    # (local_node) must be left to run its pods itself.
                    replace("manage-all-nodes", "false"),
                    add("manage-nodes-with-annotation-selector", KWOK_NODE_SELECTOR),
                ]},
            ],
        }

    def saved_ports(self):
        """Ports the other clusters of this work directory keep in their saved configuration."""
        used = set()
        for saved in glob.glob(os.path.join(self.workdir, "clusters", "*", "kwok.yaml")):
            if os.path.dirname(saved) == self.cluster_dir:
                continue
            options = (self._saved_configuration(saved) or {}).get("options") or {}
            used.update(value for key, value in options.items() if key.endswith("Port") and isinstance(value, int))
        return used

    def pick_ports(self):
        """Every port kwokctl would pick at create, picked the way kwokctl v0.8.0 picks them.

        etcd's URLs must name their ports in the configuration, and kwokctl, which only
        tries to bind a port before it takes it, would take them again for another
        component (nothing listens on them yet): so the provider picks them all, and
        kwokctl none. Downwards from 32766, each free on 127.0.0.1 and on every address,
        skipping ``api_port`` and the ports other clusters of the work directory saved
        (stopped ones get theirs back at start). Called under ports_lock.
        """
        wanted = [option for option in self.PORT_OPTIONS
                  if not (option == "kubeApiserverPort" and self.params.get("api_port"))]
        used, found = self.saved_ports() | {self.params.get("api_port")}, []
        for port in range(KWOKCTL_FIRST_PORT, 10000, -1):
            if port not in used and all(process.bindable(host, port) for host in (LOOPBACK, "")):
                found.append(port)
                if len(found) == len(wanted):
                    return dict(zip(wanted, found))
        raise ProviderError("kwok cluster %r: not %d free ports below %d" % (
            self.cluster, len(wanted), KWOKCTL_FIRST_PORT + 1))

    def write_pki(self):
        """The cluster's keys and certificates (pki.py), made fresh for a cluster kwokctl has not created."""
        try:
            files = pki.generate(self.cluster)
        except ImportError as error:
            raise ProviderError("kwok cluster %r: %s" % (self.cluster, error))
        # Left over from a create that failed before kwokctl saved the cluster: nothing uses it.
        shutil.rmtree(self.pki_dir, ignore_errors=True)
        pki.write(self.pki_dir, files)

    def write_configuration(self, ports):
        # kwokctl keeps the cluster's private keys under the work directory.
        self.make_workdir_private()
        process.make_private_dir(os.path.dirname(self.config_path))
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            # JSON is YAML; kwokctl reads either.
            json.dump(self.kwokctl_configuration(ports), handle, indent=2)
            handle.write("\n")

    def make_workdir_private(self):
        """The work directory exists, is this user's and 0700 (also when it existed wider)."""
        process.make_private_dir(self.workdir)
        info = os.stat(self.workdir)
        if info.st_uid != os.getuid():
            raise ProviderError("kwok cluster %r: %s belongs to uid %d, not to this user (uid %d); it holds the "
                                "cluster's keys" % (self.cluster, self.workdir, info.st_uid, os.getuid()))
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.workdir, 0o700)

    def restrict_files(self):
        """Owner-only everything under the work directory: directories 0700, files without
        group and other bits (keys, kubeconfigs, logs, the saved configuration: 0600).

        kwokctl writes directories 0750, files 0640 and its keys 0644. Links (kwokctl's
        ``bin/`` names the built binaries) are not followed: their targets are not the cluster's.
        """
        self.make_workdir_private()
        for directory, folders, files in os.walk(self.workdir):
            for path in [directory] + [os.path.join(directory, name) for name in folders + files]:
                try:
                    info = os.lstat(path)
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(info.st_mode):
                    continue
                wanted = 0o700 if stat.S_ISDIR(info.st_mode) else stat.S_IMODE(info.st_mode) & 0o700
                if stat.S_IMODE(info.st_mode) != wanted:
                    os.chmod(path, wanted)

    def pidfiles(self):
        return sorted(glob.glob(os.path.join(self.cluster_dir, "pids", "*.pid")))

    def component_problem(self, path, pid):
        """Why the live process ``pid`` is not the component PID file ``path`` names (None: it is)."""
        component = os.path.splitext(os.path.basename(path))[0]
        argv = process.command_line(pid) or []
        # kwokctl names the file after the binary without its extension (path.OnlyName).
        program = os.path.basename(argv[0]) if argv else ""
        if component not in (program, os.path.splitext(program)[0]):
            return "it runs %s, not %s" % (program or "an unknown program", component)
        directories = (os.path.realpath(self.cluster_dir), os.path.normpath(self.cluster_dir))
        # A path under the directory, not merely one starting with the same text (sim, sim2).
        under = re.compile("(%s)(/|$)" % "|".join(re.escape(directory) for directory in directories))
        in_cluster_dir = process.working_directory(pid) in directories or any(
            under.search(arg) for arg in argv[1:])
        if not in_cluster_dir:
            return "it is not run from %s" % self.cluster_dir
        try:
            written = os.stat(path).st_mtime
        except OSError as error:
            return "its PID file cannot be read: %s" % error.strerror
        started = process.started_at(pid)
        if started is None or abs(started - written) > PIDFILE_SLACK_SECONDS:
            return "it started %s, the PID file was written %s" % (
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "at an unknown time",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(written)))
        return None

    def recorded(self):
        """Each PID file as ``(path, pid, start_time, stale)``.

        ``start_time`` identifies the live component (None: nothing of it runs);
        ``stale`` says why a live PID is not the component (None: it is, or nothing runs).
        """
        found = []
        for path in self.pidfiles():
            pid, start_time = process.read_pidfile(path)
            if start_time is not None:
                # A file with a start time (written by this collection): that decides.
                found.append((path, pid, start_time if process.is_running(pid, start_time) else None, None))
                continue
            if not process.is_running(pid):
                found.append((path, pid, None, None))
                continue
            problem = self.component_problem(path, pid)
            if problem:
                found.append((path, pid, None, "%s names pid %d, which is not this cluster's %s: %s" % (
                    path, pid, os.path.splitext(os.path.basename(path))[0], problem)))
            else:
                found.append((path, pid, process.start_time_of(pid), None))
        return found

    def remove_stale_pidfiles(self):
        """Remove the PID files naming a live process that is not the component.

        kwokctl signals (delete) or takes for running (start) whatever PID a file holds.
        """
        self.stale = []
        for path, _pid, _start_time, stale in self.recorded():
            if stale:
                self.stale.append("%s: treated as stale, not signalled, file removed" % stale)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def pids(self):
        return [pid for _path, pid, start_time, _stale in self.recorded() if start_time is not None]

    def status(self):
        if not os.path.exists(os.path.join(self.cluster_dir, "kwok.yaml")):
            return ABSENT
        recorded = self.recorded()
        if recorded and all(start_time is not None for _path, _pid, start_time, _stale in recorded):
            return RUNNING
        return STOPPED

    def create_commands(self):
        params = self.params
        missing = [name for name, _flag in self.BINARY_FLAGS if not params["binaries"].get(name)]
        if missing:
            raise ProviderError("kwok cluster %r: binaries has no path for %s" % (
                self.cluster, ", ".join(missing)))
        argv = [self.kwokctl, "--config", self.config_path,
                "create", "cluster", "--name", self.cluster, "--runtime", "binary",
                "--kubeconfig", params["kubeconfig"], "--wait", "%ds" % params["wait_timeout"],
                "--quiet-pull"]
        for name, flag in self.BINARY_FLAGS:
            argv += [flag, params["binaries"][name]]
        if params.get("api_port"):
            argv += ["--kube-apiserver-port", str(params["api_port"])]
        for extra in params.get("extra_args") or []:
            argv.append(extra)
        return [(argv, "create")] + self.scale_commands()

    def create(self):
        self.make_workdir_private()
        self.write_pki()
        with self.ports_lock():
            self.write_configuration(self.pick_ports())
            try:
                super().create()
            finally:
                self.restrict_files()
        if self.saved_etcd_secured() is False:
            raise ProviderError("kwok cluster %r: kwokctl did not start etcd with TLS and client-certificate "
                                "authentication (its saved configuration %s lacks them); delete the cluster"
                                % (self.cluster, os.path.join(self.cluster_dir, "kwok.yaml")))

    def start(self):
        self.remove_stale_pidfiles()
        self.restrict_files()
        with self.ports_lock():
            try:
                super().start()
            finally:
                self.restrict_files()

    @contextlib.contextmanager
    def ports_lock(self):
        """One kwokctl create or start at a time on this machine.

        Each component's port is picked by probing for a free one before it is started
        (by pick_ports at create; kwokctl binds the saved ones at start); two clusters
        starting at once (two playbooks, two test workers) can pick the same ports and
        neither comes up. The lock is one per account on the machine (not per workdir), in the
        account's own cache (0700; never /tmp, where another account could plant a link or hold
        the lock), and its wait is bounded by wait_timeout.
        """
        import fcntl

        directory = os.path.expanduser("~/.cache/gitops-progressive/locks")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, "kwokctl.lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.params["wait_timeout"]
        with os.fdopen(descriptor, "a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ProviderError("kwok cluster %r: another kwok cluster on this machine has been starting "
                                            "for over %ds (lock %s)" % (self.cluster, self.params["wait_timeout"], path))
                    time.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def scale_commands(self):
        return [([self.kwokctl, "scale", "node", "--name", self.cluster,
                  "--replicas", str(self.params["nodes"])], "scale nodes")]

    def scale(self):
        for argv, what in self.scale_commands():
            self._call(argv, what)

    def reconcile_nodes(self, nodes, check_mode):
        if nodes.count() == self.params["nodes"]:
            return []
        commands = [argv for argv, _what in self.scale_commands()]
        if not check_mode:
            self.scale()
        return commands

    def start_commands(self):
        return [([self.kwokctl, "start", "cluster", "--name", self.cluster,
                  "--wait", "%ds" % self.params["wait_timeout"]], "start")]

    def delete_commands(self):
        return [([self.kwokctl, "delete", "cluster", "--name", self.cluster,
                  "--kubeconfig", self.params["kubeconfig"]], "delete")]

    def delete(self):
        identified = [(pid, start_time) for _path, pid, start_time, _stale in self.recorded() if start_time]
        self.remove_stale_pidfiles()
        super().delete()
        # kwokctl stops its components itself; anything it missed is stopped by the PID
        # it recorded, pinned to the start time read above, so no process outlives the
        # cluster and no other process is signalled.
        leftover = []
        for pid, start_time in identified:
            if process.stop(pid, start_time, timeout=5):
                leftover.append(pid)
        try:
            os.unlink(self.config_path)
        except FileNotFoundError:
            pass
        return leftover

    @staticmethod
    def _saved_configuration(path):
        import yaml

        try:
            with open(path) as handle:
                documents = list(yaml.safe_load_all(handle))
        except (OSError, yaml.YAMLError):
            return None
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "KwokctlConfiguration":
                return document
        return None

    def saved_configuration(self):
        """The KwokctlConfiguration kwokctl saved with the cluster (``start`` runs from it), or None."""
        return self._saved_configuration(os.path.join(self.cluster_dir, "kwok.yaml"))

    def saved_bind_address(self):
        """The bind address kwokctl saved with the cluster (it keeps it across restarts), or None."""
        return ((self.saved_configuration() or {}).get("options") or {}).get("bindAddress")

    def saved_etcd_secured(self):
        """Whether the etcd kwokctl saved serves TLS only, client and peer, and asks every client
        for a certificate; None without a saved configuration or etcd in it."""
        saved = self.saved_configuration()
        if saved is None:
            return None
        etcd = next((component for component in saved.get("components") or []
                     if isinstance(component, dict) and component.get("name") == "etcd"), None)
        if etcd is None:
            return None
        args = etcd.get("args") or []
        urls = [arg.split("=", 1)[1] for arg in args if arg.startswith(("--listen-client-urls=", "--listen-peer-urls="))]
        return ("--client-cert-auth=true" in args and "--peer-client-cert-auth=true" in args and len(urls) == 2
                and all(url.startswith("https://") for listed in urls for url in listed.split(",")))

    def warnings(self):
        found = ["kwok cluster %r: %s: treated as stale, not signalled" % (self.cluster, stale)
                 for _path, _pid, _start_time, stale in self.recorded() if stale]
        address = self.saved_bind_address()
        if address and address != LOOPBACK:
            found.append("kwok cluster %r listens on %s: it was created before the collection bound every component "
                         "to %s, and kwokctl keeps the address it was created with; delete it (state=absent) and "
                         "create it again" % (self.cluster, address, LOOPBACK))
        if self.saved_etcd_secured() is False:
            found.append("kwok cluster %r runs etcd without TLS and client certificates, readable by every account of "
                         "this machine: it was created before the collection secured etcd, and kwokctl keeps the "
                         "arguments a cluster was created with; delete it (state=absent) and create it again"
                         % self.cluster)
        return found

    def kubeconfig_entries(self):
        # kwokctl names cluster, context and user "kwok-<name>" (config.ClusterName).
        name = "kwok-%s" % self.cluster
        return {"clusters": [name], "contexts": [name], "users": [name]}


class K3dProvider(Provider):
    """k3d: k3s in Docker, with agents and a load-balancer port mapping."""

    name = "k3d"

    @property
    def k3d(self):
        return self.params["binaries"].get("k3d") or "k3d"

    def status(self):
        out = self._call([self.k3d, "cluster", "list", "--output", "json"], "list", read_only=True)
        for cluster in json.loads(out or "[]"):
            if cluster.get("name") == self.cluster:
                running = cluster.get("serversRunning", 0) > 0
                return RUNNING if running else STOPPED
        return ABSENT

    def create_commands(self):
        params = self.params
        argv = [self.k3d, "cluster", "create", self.cluster,
                "--servers", str(params["servers"]), "--agents", str(params["nodes"]),
                "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false",
                "--wait", "--timeout", "%ds" % params["wait_timeout"]]
        if params.get("api_port"):
            argv += ["--api-port", "%s:%d" % (LOOPBACK, params["api_port"])]
        if params.get("image"):
            argv += ["--image", params["image"]]
        for mapping in params.get("port_mappings") or []:
            argv += ["--port", mapping]
        for component in params.get("k3s_disable") or []:
            argv += ["--k3s-arg", "--disable=%s@server:*" % component]
        argv += list(params.get("extra_args") or [])
        return [(argv, "create")] + self.kubeconfig_commands()

    def kubeconfig_commands(self):
        # Merged into the file (k3d's --update replaces only this cluster's entries), not
        # --overwrite, which would drop every other cluster the file holds.
        return [([self.k3d, "kubeconfig", "merge", self.cluster, "--output", self.params["kubeconfig"],
                  "--kubeconfig-merge-default=false", "--kubeconfig-switch-context=false"],
                 "write kubeconfig")]

    def start_commands(self):
        return [([self.k3d, "cluster", "start", self.cluster, "--wait",
                  "--timeout", "%ds" % self.params["wait_timeout"]], "start")] + self.kubeconfig_commands()

    def delete_commands(self):
        return [([self.k3d, "cluster", "delete", self.cluster], "delete")]

    def kubeconfig_entries(self):
        name = "k3d-%s" % self.cluster
        return {"clusters": [name], "contexts": [name], "users": ["admin@%s" % name]}


class MinikubeProvider(Provider):
    """minikube, with the LoadBalancer tunnel run in the background and tracked by PID."""

    name = "minikube"

    @property
    def minikube(self):
        return self.params["binaries"].get("minikube") or "minikube"

    @property
    def tunnel_pidfile(self):
        return os.path.join(self.params["state_dir"], "minikube-%s-tunnel.pid" % self.cluster)

    def env(self):
        env = dict(os.environ)
        # minikube writes the cluster's context into whatever KUBECONFIG names.
        env["KUBECONFIG"] = self.params["kubeconfig"]
        return env

    def status(self):
        rc, out, _err = self.run([self.minikube, "profile", "list", "--output", "json"], self.env(),
                                 read_only=True)
        try:
            profiles = json.loads(out or "{}")
        except ValueError:
            profiles = {}
        if rc not in (0, 85) and not profiles:
            raise ProviderError("minikube cluster %r: profile list failed (exit %d)" % (self.cluster, rc))
        for profile in (profiles.get("valid") or []) + (profiles.get("invalid") or []):
            if profile.get("Name") == self.cluster:
                return RUNNING if profile.get("Status") == "OK" or profile.get("Status") == "Running" else STOPPED
        return ABSENT

    def create_commands(self):
        params = self.params
        argv = [self.minikube, "start", "--profile", self.cluster,
                "--driver", params.get("driver") or "docker",
                "--nodes", str(params["nodes"]),
                "--cpus", str(params["cpus"]), "--memory", str(params["memory"]),
                "--wait", "all", "--wait-timeout", "%ds" % params["wait_timeout"]]
        if params.get("kube_version"):
            argv += ["--kubernetes-version", params["kube_version"]]
        if params.get("api_port"):
            argv += ["--apiserver-port", str(params["api_port"])]
        argv += list(params.get("extra_args") or [])
        return [(argv, "start")]

    def tunnel_command(self):
        return [self.minikube, "tunnel", "--profile", self.cluster, "--cleanup"]

    def create(self):
        super().create()
        if self.params.get("tunnel"):
            self.start_tunnel()

    def start(self):
        super().start()
        if self.params.get("tunnel"):
            self.start_tunnel()

    # What minikube itself reads from its environment to find the profile and the Docker
    # engine: configuration, not credentials, and the tunnel cannot work without it.
    TUNNEL_PASSED_VARIABLES = ("MINIKUBE_HOME", "MINIKUBE_IN_STYLE", "DOCKER_HOST", "DOCKER_CONTEXT",
                               "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")

    def tunnel_env(self):
        """The variables the background tunnel is given, on top of process.start's minimal environment."""
        env = {key: os.environ[key] for key in self.TUNNEL_PASSED_VARIABLES if key in os.environ}
        env["KUBECONFIG"] = self.params["kubeconfig"]
        return env

    def start_tunnel(self):
        if process.pidfile_running(self.tunnel_pidfile):
            return
        log = os.path.join(self.params["state_dir"], "minikube-%s-tunnel.log" % self.cluster)
        process.start(self.tunnel_command(), self.tunnel_pidfile, log, env=self.tunnel_env())

    def pids(self):
        pid, start_time = process.read_pidfile(self.tunnel_pidfile)
        return [pid] if process.is_running(pid, start_time) else None

    def delete_commands(self):
        return [([self.minikube, "delete", "--profile", self.cluster], "delete")]

    def delete(self):
        process.stop_pidfile(self.tunnel_pidfile)
        return super().delete()

    def kubeconfig_entries(self):
        return {"clusters": [self.cluster], "contexts": [self.cluster], "users": [self.cluster]}


PROVIDERS = {provider.name: provider for provider in (KwokProvider, K3dProvider, MinikubeProvider)}


def provider_for(params, run):
    try:
        return PROVIDERS[params["provider"]](params, run)
    except KeyError:
        raise ProviderError("provider must be one of %s, got %r" % (
            ", ".join(sorted(PROVIDERS)), params["provider"]))
