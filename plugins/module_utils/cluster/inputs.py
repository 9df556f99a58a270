# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""local_cluster's options that reconcile.py ``validate`` does not judge, checked before it runs.

``validate`` owns the name, the provider, the lower bounds of the counts, the ports and
port mappings, ``wait_timeout`` and the kwok binaries' presence. Here: the upper bounds
(a typo of ``nodes: 10000`` would start ten thousand simulated nodes), the grammar of the
values handed to the providers' command lines (versions, memory, driver, image, k3s
components, binaries as absolute paths or addresses without credentials), and the paths
(absolute; never the file system's root, the home directory or a system directory itself,
nor git's own directory), so that nothing is started, written or deleted with a value that
cannot work.
"""

from __future__ import annotations

import os
import re

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, quote

NODES_MAX = 1000
SERVERS_MAX = 9
CPUS_MAX = 1024
# v1.33.13, 1.33.13, v1.34.0-rc.1, v1.33.5+k3s1
KUBE_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?\Z")
# minikube's --memory: MiB, a number with a unit (8g, 8192mb, 8GiB), or its words max and no-limit.
MEMORY = re.compile(r"^(?:[1-9][0-9]{0,9}(?:[kKmMgGtT][iI]?[bB]?|[bB])?|max|no-limit)\Z")
# A driver or k3s component name: docker, kvm2, qemu2, traefik, metrics-server.
WORD = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")


# Directories of the system itself: created, made owner-only (0700) or written into, they would break the host.
SYSTEM_DIRECTORIES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/proc", "/sys", "/dev", "/var",
                      "/run", "/root", "/home")
# The kernel's and devices' file systems: nothing of a cluster goes anywhere under them.
PSEUDO_FILE_SYSTEMS = ("/proc", "/sys", "/dev")


def _path_problems(option, value, directory=True):
    """Why ``value`` is no place for local_cluster's own files (state_dir, kubeconfig), or [].

    An absolute path after ``~`` is expanded (the relative ``state`` would land wherever
    the task happens to run), and, with links resolved, never the root, the home directory
    itself, a system directory itself (``/etc``, ``/var``, ...) or anything under ``/proc``,
    ``/sys`` or ``/dev``, nor in git's own directory: the module creates these owner-only
    and writes into them.
    """
    if not isinstance(value, str) or not value.strip():
        return ["%s may not be empty" % option]
    if "\x00" in value or "\n" in value:
        return ["%s may not hold NUL or line breaks: %s" % (option, quote(value))]
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        return ["%s must be an absolute path (or start with ~), got %s" % (option, quote(value))]
    if ".git" in expanded.split("/"):
        return ["%s may not be in git's own directory .git: %s" % (option, quote(value))]
    resolved = os.path.realpath(expanded)
    if resolved == "/":
        return ["%s may not be the file system's root /, got %s" % (option, quote(value))]
    if resolved == os.path.realpath(os.path.expanduser("~")):
        return ["%s may not be the home directory itself (%s): give a directory or file in it, got %s"
                % (option, resolved, quote(value))]
    # /bin, /lib and /sbin are links into /usr on most systems now: compared resolved as well.
    if resolved in SYSTEM_DIRECTORIES or resolved in [os.path.realpath(top) for top in SYSTEM_DIRECTORIES]:
        return ["%s may not be the system directory %s: give a directory of its own, got %s"
                % (option, resolved, quote(value))]
    pseudo = [top for top in PSEUDO_FILE_SYSTEMS if resolved.startswith(top + "/")]
    if pseudo:
        return ["%s may not be under %s, a file system of the kernel's (%s), got %s"
                % (option, pseudo[0], resolved, quote(value))]
    if not directory and os.path.isdir(resolved):
        return ["%s must be a file, not the directory %s" % (option, resolved)]
    return []


def check_options(params):
    """Refuse (InputError) local_cluster options the providers' commands cannot take, naming each."""
    inputs = Inputs("local_cluster %s" % quote(params["name"]))
    inputs.number("nodes", params["nodes"], maximum=NODES_MAX)
    inputs.number("servers", params["servers"], maximum=SERVERS_MAX)
    inputs.number("cpus", params["cpus"], maximum=CPUS_MAX)
    inputs.add(_path_problems("state_dir", params["state_dir"]))
    inputs.add(_path_problems("kubeconfig", params["kubeconfig"], directory=False))
    version = params.get("kube_version")
    if version is not None and (not isinstance(version, str) or not KUBE_VERSION.match(version)):
        inputs.add(["kube_version must be a Kubernetes version like v1.33.13, got %s" % quote(version)])
    if params.get("image") is not None:
        inputs.image("image", params["image"])
    memory = params.get("memory")
    if memory is not None and not MEMORY.match(str(memory)):
        inputs.add(["memory must be MiB (8192), a number with a unit (8g, 8192mb), max or no-limit, got %s"
                    % quote(memory)])
    driver = params.get("driver")
    if driver is not None and not WORD.match(driver):
        inputs.add(["driver must be a minikube driver name such as docker, podman or kvm2, got %s" % quote(driver)])
    for index, component in enumerate(params.get("k3s_disable") or []):
        if not WORD.match(component or ""):
            inputs.add(["k3s_disable[%d] must be a k3s component such as traefik or servicelb, got %s"
                        % (index, quote(component))])
    for program, path in (params.get("binaries") or {}).items():
        if not isinstance(program, str) or not WORD.match(program):
            inputs.add(["binaries: %s is not a program name" % quote(program)])
        elif isinstance(path, str) and re.match(r"^[a-z]+://", path):
            # kwokctl downloads a release binary itself from an address.
            inputs.url("binaries.%s" % program, path, schemes=("https", "http"))
        elif not isinstance(path, str) or not path.startswith("/"):
            inputs.add(["binaries.%s must be an absolute path (as sim_binaries returns) or an https:// address, "
                        "got %s" % (program, quote(path))])
        else:
            inputs.add(_path_problems("binaries.%s" % program, path, directory=False))
    for index, argument in enumerate(params.get("extra_args") or []):
        if not isinstance(argument, str) or not argument.strip() or "\x00" in argument or "\n" in argument:
            inputs.add(["extra_args[%d] must be a non-empty argument without NUL or line breaks, got %s"
                        % (index, quote(argument))])
    inputs.done()
