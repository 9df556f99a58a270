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
import tempfile
import time

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process

ABSENT, STOPPED, RUNNING = "absent", "stopped", "running"

# The only address the simulated cluster's processes listen on (etcd has no auth).
LOOPBACK = "127.0.0.1"


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

    def kwokctl_configuration(self):
        """The KwokctlConfiguration given to ``kwokctl create cluster --config``."""
        return {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": {"bindAddress": LOOPBACK},
        }

    def write_configuration(self):
        # kwokctl keeps the cluster's private keys under the work directory.
        process.make_private_dir(self.workdir)
        process.make_private_dir(os.path.dirname(self.config_path))
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            # JSON is YAML; kwokctl reads either.
            json.dump(self.kwokctl_configuration(), handle, indent=2)
            handle.write("\n")

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
        self.write_configuration()
        with self.ports_lock():
            super().create()

    def start(self):
        self.remove_stale_pidfiles()
        with self.ports_lock():
            super().start()

    @contextlib.contextmanager
    def ports_lock(self):
        """One kwokctl create or start at a time on this machine.

        kwokctl picks each component's port by probing for a free one when it starts it;
        two clusters starting at once (two playbooks, two test workers) can pick the
        same ports and neither comes up. The lock is machine-wide (not per workdir) and
        its wait is bounded by wait_timeout.
        """
        import fcntl

        path = os.path.join(tempfile.gettempdir(), "gitops-progressive-kwokctl-%d.lock" % os.getuid())
        deadline = time.monotonic() + self.params["wait_timeout"]
        with open(path, "a") as handle:
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

    def saved_bind_address(self):
        """The bind address kwokctl saved with the cluster (it keeps it across restarts), or None."""
        import yaml

        try:
            with open(os.path.join(self.cluster_dir, "kwok.yaml")) as handle:
                documents = list(yaml.safe_load_all(handle))
        except (OSError, yaml.YAMLError):
            return None
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "KwokctlConfiguration":
                return (document.get("options") or {}).get("bindAddress")
        return None

    def warnings(self):
        found = ["kwok cluster %r: %s: treated as stale, not signalled" % (self.cluster, stale)
                 for _path, _pid, _start_time, stale in self.recorded() if stale]
        address = self.saved_bind_address()
        if address and address != LOOPBACK:
            found.append("kwok cluster %r listens on %s: it was created before the collection bound every component "
                         "to %s, and kwokctl keeps the address it was created with; delete it (state=absent) and "
                         "create it again" % (self.cluster, address, LOOPBACK))
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
