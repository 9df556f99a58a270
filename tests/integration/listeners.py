"""Which TCP sockets a set of processes listens on, read from /proc (Linux).

Reusable by any test that must show that the processes it started listen on loopback
only (the simulated cluster, Flagger and its load tester, Prometheus):

    from listeners import listening_sockets, not_on_loopback

    sockets = listening_sockets(pids)              # every LISTEN socket those PIDs hold
    assert not not_on_loopback(sockets), describe(not_on_loopback(sockets))

How: ``/proc/net/tcp`` and ``/proc/net/tcp6`` list every TCP socket of this network
namespace with its state (``0A`` is LISTEN), local address and inode; each process's
``/proc/<pid>/fd/*`` links to ``socket:[<inode>]`` for the sockets it holds. Joining the
two gives the listening sockets of exactly the given processes, with no tool (``ss``,
``lsof``) and no name matching.
"""

import ipaddress
import os
import socket
from collections import namedtuple

LISTEN = "0A"

Listener = namedtuple("Listener", "pid command family address port inode")


def _ipv4(hex_address):
    # One 32-bit word in host byte order (little-endian on the machines here).
    return socket.inet_ntop(socket.AF_INET, int(hex_address, 16).to_bytes(4, "little"))


def _ipv6(hex_address):
    # Four 32-bit words, each in host byte order.
    raw = b"".join(int(hex_address[index:index + 8], 16).to_bytes(4, "little") for index in range(0, 32, 8))
    return socket.inet_ntop(socket.AF_INET6, raw)


def _table(path, family, parse):
    """``{inode: (family, address, port)}`` of the LISTEN sockets in one /proc/net table."""
    sockets = {}
    try:
        with open(path) as table:
            next(table)  # the header
            for line in table:
                fields = line.split()
                if len(fields) < 10 or fields[3] != LISTEN:
                    continue
                address, port = fields[1].split(":")
                sockets[int(fields[9])] = (family, parse(address), int(port, 16))
    except FileNotFoundError:
        # No IPv6 in this kernel: nothing listens on it.
        pass
    return sockets


def listening_table():
    """Every LISTEN TCP socket of this network namespace, by inode."""
    sockets = _table("/proc/net/tcp", "tcp", _ipv4)
    sockets.update(_table("/proc/net/tcp6", "tcp6", _ipv6))
    return sockets


def socket_inodes(pid):
    """Inodes of the sockets ``pid`` holds open (empty if it is gone)."""
    inodes = set()
    directory = "/proc/%d/fd" % pid
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return inodes
    for name in names:
        try:
            target = os.readlink(os.path.join(directory, name))
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def command_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def descendants(pids):
    """``pids`` and every process started below them (children, grandchildren...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                # Fields after the command name (which may hold spaces): state, ppid, ...
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def listening_sockets(pids, include_children=False):
    """The LISTEN TCP sockets held by ``pids`` (and their descendants if asked), as Listeners."""
    pids = descendants(pids) if include_children else sorted(set(pids))
    table = listening_table()
    found = []
    for pid in pids:
        for inode in sorted(socket_inodes(pid)):
            if inode in table:
                family, address, port = table[inode]
                found.append(Listener(pid, command_name(pid), family, address, port, inode))
    return found


def is_loopback(address):
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def not_on_loopback(listeners):
    """The listeners bound to anything but loopback (``0.0.0.0`` and ``::`` included)."""
    return [listener for listener in listeners if not is_loopback(listener.address)]


def describe(listeners):
    return "\n".join("%s (pid %d) listens on %s %s:%d" % (
        listener.command, listener.pid, listener.family, listener.address, listener.port) for listener in listeners)
