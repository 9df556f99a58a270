# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background processes tracked by PID file, stopped by PID (never by name).

A PID file holds one line: the PID, then the process start time read from
``/proc/<pid>/stat``. Checking both means a PID the kernel reused for some other
program is never mistaken for ours, and so never signalled.
"""

from __future__ import annotations

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


def write_pidfile(path, pid):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as pidfile:
        pidfile.write("%d %s\n" % (pid, _start_time(pid) or ""))


def start(argv, pidfile, log_path, env=None, cwd=None):
    """Start ``argv`` detached in its own session; record its PID in ``pidfile``.

    Returns the PID. The process outlives the caller (an Ansible module exits at once).
    """
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
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
