# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background processes tracked by PID file, stopped by PID (never by name).

A PID file holds one line: the PID, then the process start time read from
``/proc/<pid>/stat``. Checking both means a PID the kernel reused for some other
program is never mistaken for ours, and so never signalled.

Everything written here is owner-only: PID files, logs and command records 0600, the
directories created for them 0700. A log may hold whatever the process prints (tokens,
connection strings), and a PID file that others can rewrite would let them choose which
process we signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command name: state first, start time 20th."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            # The command name (field 2) may hold spaces; fields after its ")" are fixed.
            fields = stat.read().rsplit(")", 1)[1].split()
        return fields if len(fields) > 19 else None
    except (OSError, IndexError):
        return None


def _start_time(pid):
    fields = _stat(pid)
    return fields[19] if fields else None


def read_pidfile(path):
    """``(pid, start_time)`` from a PID file, or ``(None, None)``."""
    try:
        with open(path) as pidfile:
            fields = pidfile.read().split()
        return int(fields[0]), (fields[1] if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None, None


def is_running(pid, start_time=None):
    """Alive (a zombie has ended) and, when given, started at ``start_time``."""
    if not pid or pid <= 0:
        return False
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    return start_time is None or fields[19] == start_time


def pidfile_running(path):
    return is_running(*read_pidfile(path))


def make_private_dir(path):
    """Create ``path`` (and missing parents) mode 0700; an existing directory is left as it is."""
    if path and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def _open_private(path, flags):
    """Open for writing with mode 0600, also when the file existed with a wider mode."""
    descriptor = os.open(path, flags | os.O_WRONLY | os.O_CREAT, 0o600)
    os.fchmod(descriptor, 0o600)
    return descriptor


def write_private(path, text):
    """Write ``text`` to ``path``, owner-only (0600)."""
    make_private_dir(os.path.dirname(path))
    with os.fdopen(_open_private(path, os.O_TRUNC), "w") as handle:
        handle.write(text)


def write_pidfile(path, pid):
    write_private(path, "%d %s\n" % (pid, _start_time(pid) or ""))


def launch_record(argv, env=None, cwd=None):
    """What identifies a launch, to tell whether a running process was started the same way.

    Environment values may be credentials: only their names and a digest of the values
    are kept, so the record never holds a secret (and a changed value still shows).
    """
    env = {key: str(value) for key, value in (env or {}).items()}
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode("utf-8")).hexdigest()
    return json.dumps({"argv": list(argv), "chdir": cwd, "env_names": sorted(env), "env_sha256": digest},
                      sort_keys=True)


def start(argv, pidfile, log_path, env=None, cwd=None):
    """Start ``argv`` detached in its own session; record its PID in ``pidfile``.

    Returns the PID. The process outlives the caller (an Ansible module exits at once).
    """
    make_private_dir(os.path.dirname(log_path))
    with os.fdopen(_open_private(log_path, os.O_APPEND), "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, cwd=cwd, start_new_session=True, close_fds=True)
    write_pidfile(pidfile, process.pid)
    return process.pid


def stop(pid, start_time=None, timeout=10.0):
    """SIGTERM ``pid``, then SIGKILL after ``timeout`` seconds. True if it was running."""
    if not is_running(pid, start_time):
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid, start_time):
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while is_running(pid, start_time) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_pidfile(path, timeout=10.0):
    """Stop the process a PID file names and remove the file. True if it was running."""
    pid, start_time = read_pidfile(path)
    stopped = stop(pid, start_time, timeout) if pid else False
    try:
        os.unlink(path)
    except OSError:
        pass
    return stopped


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_http_ready(url, timeout, pid, start_time, log_path):
    """Wait until ``url`` answers 2xx; None when it did, else why not (with the log's tail).

    Stops at once when the process exits: waiting longer for a dead process is pointless.
    """
    from ansible.module_utils.urls import open_url

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not is_running(pid, start_time):
            return "exited before it was ready; last lines of %s:\n%s" % (log_path, tail(log_path))
        try:
            response = open_url(url, timeout=2, validate_certs=False)
            if 200 <= response.getcode() < 300:
                return None
            last = "HTTP %d" % response.getcode()
        except Exception as error:  # pylint: disable=broad-except
            # Connection refused, timeouts, HTTP errors: all mean "not yet" until the deadline.
            last = str(error)
        time.sleep(0.1)
    return "not ready at %s after %ds (%s)" % (url, timeout, last)


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""
