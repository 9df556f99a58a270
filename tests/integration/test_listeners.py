"""The /proc listener helper against real sockets: it must see what ss would see."""

import socket
import subprocess
import sys
import time

import pytest

from listeners import describe, is_loopback, listening_sockets, not_on_loopback

SERVER = """
import socket, sys, time
held = []
for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"),
                        (socket.AF_INET6, "::1")):
    server = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    server.bind((address, 0))
    server.listen()
    held.append(server)
    print(address, server.getsockname()[1], flush=True)
if len(sys.argv) > 1:
    # A child that listens too, on all interfaces.
    import subprocess
    subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 0)); "
                      "s.listen(); print('child', s.getsockname()[1], flush=True); time.sleep(60)"])
time.sleep(60)
"""


@pytest.fixture
def server():
    started = subprocess.Popen([sys.executable, "-c", SERVER, "child"], stdout=subprocess.PIPE, text=True)
    try:
        ports = {}
        for _line in range(5):
            address, port = started.stdout.readline().split()
            ports[address] = int(port)
        yield started.pid, ports
    finally:
        started.kill()
        started.wait()


def test_every_listening_socket_of_the_process_is_found_with_its_address(server):
    pid, ports = server
    found = {(listener.address, listener.port) for listener in listening_sockets([pid])}
    assert found == {("127.0.0.1", ports["127.0.0.1"]), ("0.0.0.0", ports["0.0.0.0"]),
                     ("::", ports["::"]), ("::1", ports["::1"])}


def test_non_loopback_listeners_are_the_wildcard_ones(server):
    pid, ports = server
    bad = not_on_loopback(listening_sockets([pid]))
    assert sorted((listener.address, listener.port) for listener in bad) == sorted(
        [("0.0.0.0", ports["0.0.0.0"]), ("::", ports["::"])])
    assert "listens on tcp 0.0.0.0:%d" % ports["0.0.0.0"] in describe(bad)


def test_children_are_followed_only_when_asked(server):
    pid, ports = server
    assert ("0.0.0.0", ports["child"]) not in {(item.address, item.port) for item in listening_sockets([pid])}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = {(item.address, item.port) for item in listening_sockets([pid], include_children=True)}
        if ("0.0.0.0", ports["child"]) in found:
            break
        time.sleep(0.05)
    assert ("0.0.0.0", ports["child"]) in found


def test_other_processes_sockets_are_not_counted(server):
    pid = server[0]
    with socket.socket() as own:
        own.bind(("0.0.0.0", 0))
        own.listen()
        port = own.getsockname()[1]
        assert ("0.0.0.0", port) not in {(item.address, item.port) for item in listening_sockets([pid])}


@pytest.mark.parametrize("address,loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
                                              ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False),
                                              ("10.0.0.5", False), ("::ffff:10.0.0.5", False)])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback
