"""What the testinfra verifiers of the role scenarios share: the inventory's variables,
a Kubernetes client on the shared cluster, the local processes a role started (from
their PID files) and the TCP sockets they listen on (``ss``, joined by PID)."""

import functools
import glob
import os
import re


def variables(host):
    return host.ansible.get_variables()


@functools.lru_cache(maxsize=None)
def _templated(host, name):
    return host.ansible("ansible.builtin.debug", "var=%s" % name, check=False)[name]


def variable(host, name):
    """An inventory variable as Ansible templates it (get_variables gives the raw text)."""
    return _templated(host, name)


def state_dir(host, part):
    """The state directory a role keeps its PID files in (<cluster_state_dir>/<cluster>/<part>)."""
    values = variables(host)
    base = (variable(host, "cluster_state_dir") if "cluster_state_dir" in values
            else os.path.expanduser("~/.local/state/gitops-progressive"))
    return os.path.join(base, variable(host, "cluster_name"), part)


def pids(host, part):
    """``{process name: pid}`` of the running processes a role recorded under its state directory."""
    found = {}
    for path in glob.glob(os.path.join(state_dir(host, part), "*.pid")):
        pid = int(host.file(path).content_string.split()[0])
        if host.file("/proc/%d" % pid).exists:
            found[os.path.basename(path)[: -len(".pid")]] = pid
    return found


def listening(host, wanted):
    """``[(address, port, pid)]`` of the TCP sockets the PIDs in ``wanted`` listen on."""
    sockets = []
    for line in host.check_output("ss -ltnpH").splitlines():
        fields = line.split()
        address, _colon, port = fields[3].rpartition(":")
        for pid in re.findall(r"pid=(\d+)", line):
            if int(pid) in wanted:
                sockets.append((address.strip("[]"), int(port), int(pid)))
    return sockets


def off_loopback(sockets):
    return [item for item in sockets if item[0] not in ("127.0.0.1", "::1")]


def kube(host):
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=variable(host, "cluster_kubeconfig"))


def custom(host, group, version, namespace, plural, name):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(kube(host)).get_namespaced_custom_object(
        group, version, namespace, plural, name)


def ready(obj):
    return any(condition["type"] == "Ready" and condition["status"] == "True"
               for condition in (obj.get("status") or {}).get("conditions") or [])
