# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background processes tracked by PID file, stopped by PID (never by name).

A PID file holds one line: the PID, then the process start time read from
``/proc/<pid>/stat``. Checking both means a PID the kernel reused for some other
program is never mistaken for ours, and so never signalled. A PID alone (a file without
a start time) proves nothing: such a process is never signalled here; callers that know
more about it (kwokctl's PID files, cluster/providers.py) establish its identity first.

Children get a minimal environment (``child_environment``), never the operator's: it
may hold K8S_AUTH_*, VAULT_TOKEN, GITHUB_TOKEN or AWS_* credentials, and the load tester
runs whatever command a Canary webhook sends it.

A readiness check proves that the port it probes is held by the process it started (or
one of its descendants): an answer from another platform's process on the same port is
not this process being ready (``foreign_holder_problem``).

A child may run as another local account (``start``'s ``user``, root only): its uid, its
primary group and no other group, umask 077, ``no_new_privs`` (no setuid program gives
it more), its own ``HOME``/``USER``/``LOGNAME`` and none of the operator's ``HOME`` or
``TMPDIR``. The load tester runs that way: a command a webhook sends it runs as an
unprivileged account, not as root. Its PID file, log and launch record stay the
caller's (root's): the child only writes to the log through the descriptor it is given.

Everything written here is owner-only: PID files, logs and command records 0600, the
directories created for them 0700. A log may hold whatever the process prints (tokens,
connection strings), and a PID file that others can rewrite would let them choose which
process we signal.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import pwd
import signal
import socket
import struct
import subprocess
import time

# What a child keeps of the operator's environment: where programs are, the home
# directory, the locale and time zone, the temporary directory. Nothing else: the rest
# may be credentials (K8S_AUTH_*, VAULT_TOKEN, GITHUB_TOKEN, AWS_*, SSH_AUTH_SOCK). A
# child that needs more is given it explicitly (sim_process's env, KUBECONFIG).
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")

# /proc/net/tcp{,6} state of a listening socket.
_TCP_LISTEN = "0A"


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
    """Alive (a zombie has ended) and, when given, started at ``start_time``.

    Without ``start_time`` the answer is only that *some* process has this PID now,
    possibly one that reused it: never a reason to signal it (``stop`` refuses).
    """
    if not pid or pid <= 0:
        return False
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    return start_time is None or fields[19] == start_time


def pidfile_running(path):
    """Whether the process a PID file names runs; a file without a start time proves nothing."""
    pid, start_time = read_pidfile(path)
    return start_time is not None and is_running(pid, start_time)


def parent_and_session(pid):
    """``(parent PID, session ID)`` of a live process, or None."""
    fields = _stat(pid)
    return (int(fields[1]), int(fields[3])) if fields else None


def command_line(pid):
    """The argument list of a live process (``/proc/<pid>/cmdline``), or None."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
            raw = cmdline.read()
    except OSError:
        return None
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0")[:-1]] if raw else None


def working_directory(pid):
    """The working directory of a live process, or None (gone, or another user's)."""
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None


def started_at(pid):
    """When a live process started, in seconds since the epoch by this machine's clock, or None.

    /proc gives the start in clock ticks since boot; boot is now minus the uptime.
    """
    start_ticks = _start_time(pid)
    if start_ticks is None:
        return None
    try:
        with open("/proc/uptime") as uptime:
            seconds_up = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - seconds_up + int(start_ticks) / float(os.sysconf("SC_CLK_TCK"))


def start_time_of(pid):
    """The start time /proc records for a live process (what PID files hold), or None."""
    return _start_time(pid)


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


def launch_record(argv, env=None, cwd=None, user=None):
    """What identifies a launch, to tell whether a running process was started the same way.

    Environment values may be credentials: only their names and a digest of the values
    are kept, so the record never holds a secret (and a changed value still shows).
    """
    env = {key: str(value) for key, value in (env or {}).items()}
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode("utf-8")).hexdigest()
    record = {"argv": list(argv), "chdir": cwd, "env_names": sorted(env), "env_sha256": digest}
    if user:
        # Only when given, so that records written before the option existed still match.
        record["user"] = user
    return json.dumps(record, sort_keys=True)


class UserError(ValueError):
    """A ``user`` a process cannot be started as."""


def run_as(user):
    """The passwd entry of the account ``user`` (a name) that a child runs as, or None when
    it is this process's own account (nothing to change). UserError when the account does
    not exist, or when changing to it needs root and this process is not root."""
    if not user:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UserError("no local account named %r" % user) from None
    if entry.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise UserError("running a process as %r needs root (this task runs as uid %d)" % (user, os.geteuid()))
    return entry


def child_environment(explicit=None, environ=None, account=None):
    """The environment of a child: ``INHERITED_VARIABLES`` from ``environ`` (the
    operator's, ``os.environ``), then the ``explicit`` variables, which win.

    For a child that runs as another ``account`` (a passwd entry), ``HOME``, ``USER`` and
    ``LOGNAME`` are that account's, and the operator's ``TMPDIR`` (a directory of theirs)
    is left out."""
    environ = os.environ if environ is None else environ
    env = {key: environ[key] for key in INHERITED_VARIABLES if key in environ}
    env.setdefault("PATH", os.defpath)
    if account is not None:
        env.pop("TMPDIR", None)
        env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    env.update({key: str(value) for key, value in (explicit or {}).items()})
    return env


_PR_SET_NO_NEW_PRIVS = 38


def _no_new_privs_setter():
    """A function that sets ``no_new_privs`` in the calling process (Linux), or None.

    Resolved in the parent: the child only calls it, between fork and exec."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


class CleanEnvironment(dict):
    """An environment that is the whole environment of a command (nothing inherited):
    a runner that can only add variables runs the command under ``env -i`` instead."""


def start(argv, pidfile, log_path, env=None, cwd=None, user=None):
    """Start ``argv`` detached in its own session; record its PID in ``pidfile``.

    ``env``: the variables the caller gives the process, added to a minimal environment
    (``child_environment``); nothing else of the caller's environment reaches it.
    ``user``: the local account it runs as (``run_as``): its uid and primary group, no
    supplementary group, umask 077, ``no_new_privs``, working directory ``/`` unless
    ``cwd`` says otherwise. UserError when it cannot.
    Returns the PID. The process outlives the caller (an Ansible module exits at once).
    """
    account = run_as(user)
    drop = {}
    if account is not None:
        drop = dict(user=account.pw_uid, group=account.pw_gid, extra_groups=[], umask=0o077,
                    preexec_fn=_no_new_privs_setter())
        cwd = cwd or "/"
    make_private_dir(os.path.dirname(log_path))
    with os.fdopen(_open_private(log_path, os.O_APPEND), "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
                                   env=child_environment(env, account=account), cwd=cwd, start_new_session=True,
                                   close_fds=True, **drop)
    write_pidfile(pidfile, process.pid)
    return process.pid


def stop(pid, start_time=None, timeout=10.0):
    """SIGTERM ``pid``, then SIGKILL after ``timeout`` seconds. True if it was running.

    Only the process that started at ``start_time``: without it, the PID may belong to
    any program by now, so nothing is signalled and the answer is False.
    """
    if start_time is None or not is_running(pid, start_time):
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
    """Stop the process a PID file names and remove the file. True if it was running.

    A file without a start time is stale for this purpose: removed, nothing signalled.
    """
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


def _address_answers_loopback(hex_address):
    """Whether a /proc/net/tcp{,6} local address (hex, in host byte order per 32-bit word)
    is one a loopback client reaches: a loopback or wildcard address."""
    words = [int(hex_address[index:index + 8], 16) for index in range(0, len(hex_address), 8)]
    packed = b"".join(struct.pack("=I", word) for word in words)
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _listening_inodes(port):
    """Inodes of the TCP sockets listening on ``port`` where 127.0.0.1 or ::1 reach them;
    None when no socket table can be read (not Linux)."""
    inodes, readable = set(), False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _TCP_LISTEN or fields[9] == "0":
                continue
            hex_address, _colon, hex_port = fields[1].rpartition(":")
            if int(hex_port, 16) == port and _address_answers_loopback(hex_address):
                inodes.add(fields[9])
    return inodes if readable else None


def _socket_holders(inodes):
    """``{inode: [pid, ...]}`` of the processes with these sockets open (those we may read)."""
    links = {"socket:[%s]" % inode: inode for inode in inodes}
    holders = {inode: [] for inode in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            descriptors = os.listdir("/proc/%s/fd" % entry)
        except OSError:
            # Gone, or another user's: it stays unknown.
            continue
        for descriptor in descriptors:
            try:
                inode = links.get(os.readlink("/proc/%s/fd/%s" % (entry, descriptor)))
            except OSError:
                continue
            if inode is not None and int(entry) not in holders[inode]:
                holders[inode].append(int(entry))
    return holders


def describe_process(pid):
    """``<pid> (<command line>)`` for messages, the command line cut short."""
    argv = command_line(pid) or ["?"]
    text = " ".join(argv)
    return "%d (%s)" % (pid, text if len(text) <= 120 else text[:117] + "...")


def port_holders(port):
    """``[(pid, command line), ...]`` of the processes listening on ``port`` where a
    loopback client reaches them; ``(None, None)`` for a socket whose process this user
    cannot see. Empty when nothing listens, or when the socket table cannot be read."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    pids, unseen = set(), set()
    for inode, holders in _socket_holders(inodes).items():
        pids.update(holders)
        if not holders:
            unseen.add(inode)
    found = [(pid, " ".join(command_line(pid) or ["?"])) for pid in sorted(pids)]
    # A socket closed between reading the table and the descriptors has no holder either:
    # only one that still listens is someone else's.
    if unseen & (_listening_inodes(port) or set()):
        found.append((None, None))
    return found


def _belongs_to(holder, pid):
    """Whether ``holder`` is ``pid`` or runs under it: a descendant, or a member of the
    session ``pid`` leads (``start`` makes each process a session leader, and a daemon
    that forks twice stays in its session)."""
    seen = set()
    while holder and holder not in seen:
        if holder == pid:
            return True
        seen.add(holder)
        family = parent_and_session(holder)
        if family is None:
            return False
        parent, session = family
        if session == pid:
            return True
        holder = parent
    return False


def foreign_holder_problem(port, pid=None):
    """Why ``port`` cannot be ``pid``'s (None: free, or held only by ``pid`` and its own).

    With ``pid`` None (nothing started yet) any holder is foreign.
    """
    for holder, _command in port_holders(port):
        if holder is None:
            return ("port %d is already held by a process this user cannot see (another user's): another "
                    "platform is running on these ports" % port)
        if pid is None or not _belongs_to(holder, pid):
            return "port %d is already held by pid %s: another platform is running on these ports" % (
                port, describe_process(holder))
    return None


def loopback_port(url):
    """The TCP port of ``url`` when its host is this machine's loopback (or a wildcard),
    else None: a remote address's port says nothing about local processes."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if host == "localhost":
        return port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return port if address.is_loopback or address.is_unspecified else None


def wait_http_ready(url, timeout, pid, start_time, log_path):
    """Wait until ``url`` answers 2xx from ``pid``; None when it did, else why not.

    Ready means the answer came from this process: when the URL's port is local, its
    listening socket must belong to ``pid`` or one of its descendants. A port held by
    another process fails at once, naming it (another platform on the same ports);
    so does a process that exits (waiting longer for it is pointless), with the log's tail.
    """
    from ansible.module_utils.urls import open_url

    port = loopback_port(url)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if port is not None:
            # Checked before the exit: a process that could not bind exits, and the
            # holder is the reason to report.
            problem = foreign_holder_problem(port, pid)
            if problem:
                return problem
        if not is_running(pid, start_time):
            return "exited before it was ready; last lines of %s:\n%s" % (log_path, tail(log_path))
        if port is not None and _listening_inodes(port) == set():
            last = "nothing listens on port %d yet" % port
            time.sleep(0.1)
            continue
        try:
            response = open_url(url, timeout=2, validate_certs=False)
            if 200 <= response.getcode() < 300:
                # The holder may have changed while the request was answered.
                return foreign_holder_problem(port, pid) if port is not None else None
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


def bindable(host, port, reuse=False):
    """Whether a TCP socket can bind ``host:port`` now (no other program holds it). With
    ``reuse``, as a listener with SO_REUSEADDR would (socat's ``reuseaddr``): connections of
    an earlier listener still in TIME_WAIT do not count."""
    with socket.socket() as probe:
        if reuse:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
