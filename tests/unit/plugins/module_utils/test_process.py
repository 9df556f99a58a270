import json
import os
import socket
import stat
import subprocess
import signal
import sys
import time

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.host import process


def test_start_records_the_pid_and_stop_ends_it(tmp_path):
    pidfile = str(tmp_path / "sleeper.pid")
    pid = process.start([sys.executable, "-c", "import time; time.sleep(60)"], pidfile,
                        str(tmp_path / "sleeper.log"))
    assert process.read_pidfile(pidfile)[0] == pid
    assert process.pidfile_running(pidfile)
    started = time.monotonic()
    assert process.stop_pidfile(pidfile, timeout=5)
    assert time.monotonic() - started < 5
    assert not process.is_running(pid)
    assert not os.path.exists(pidfile)


def test_a_reused_pid_is_not_taken_for_ours(tmp_path):
    pidfile = tmp_path / "other.pid"
    # Our own PID, but with a start time that is not ours: a recycled PID.
    pidfile.write_text("%d 1\n" % os.getpid())
    assert not process.pidfile_running(str(pidfile))
    assert not process.stop(*process.read_pidfile(str(pidfile)))


def test_a_process_that_ignores_sigterm_is_killed(tmp_path):
    pidfile = str(tmp_path / "stubborn.pid")
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    log = tmp_path / "stubborn.log"
    pid = process.start([sys.executable, "-c", code], pidfile, str(log))
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.stop_pidfile(pidfile, timeout=0.5)
    assert not process.is_running(pid)


def test_missing_or_garbled_pidfiles_read_as_nothing(tmp_path):
    assert process.read_pidfile(str(tmp_path / "none.pid")) == (None, None)
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("not a pid")
    assert process.read_pidfile(str(garbled)) == (None, None)
    assert not process.stop_pidfile(str(garbled))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_pidfile_log_and_their_new_directory_are_owner_only(tmp_path):
    state = tmp_path / "state"
    pidfile, log = str(state / "sleeper.pid"), str(state / "sleeper.log")
    pid = process.start([sys.executable, "-c", "import time; time.sleep(60)"], pidfile, log)
    try:
        assert mode(str(state)) == 0o700
        assert mode(pidfile) == 0o600
        assert mode(log) == 0o600
    finally:
        process.stop_pidfile(pidfile, timeout=5)


def test_files_that_existed_with_a_wider_mode_are_narrowed(tmp_path):
    pidfile, record = tmp_path / "old.pid", tmp_path / "old.argv"
    for path in (pidfile, record):
        path.write_text("stale")
        os.chmod(str(path), 0o644)
    process.write_pidfile(str(pidfile), os.getpid())
    process.write_private(str(record), "{}")
    assert mode(str(pidfile)) == 0o600 and mode(str(record)) == 0o600
    assert process.read_pidfile(str(pidfile))[0] == os.getpid()


def test_an_existing_directory_keeps_its_mode(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    process.write_private(str(tmp_path / "file"), "x")
    assert mode(str(tmp_path)) == 0o755


def test_the_launch_record_holds_no_environment_value():
    record = process.launch_record(["/bin/app", "--port=1"], {"VAULT_TOKEN": "s.secret-token-value"}, "/srv")
    assert "s.secret-token-value" not in record
    parsed = json.loads(record)
    assert parsed["env_names"] == ["VAULT_TOKEN"] and parsed["argv"] == ["/bin/app", "--port=1"]
    # A changed value still changes the record (the process is restarted with it).
    assert record != process.launch_record(["/bin/app", "--port=1"], {"VAULT_TOKEN": "another"}, "/srv")
    assert record == process.launch_record(["/bin/app", "--port=1"], {"VAULT_TOKEN": "s.secret-token-value"}, "/srv")


def test_wait_http_ready_stops_at_once_when_the_process_exits(tmp_path):
    log = tmp_path / "quick.log"
    pidfile = str(tmp_path / "quick.pid")
    pid = process.start([sys.executable, "-c", "print('bye')"], pidfile, str(log))
    started = time.monotonic()
    problem = process.wait_http_ready("http://127.0.0.1:9/", 30, pid, process.read_pidfile(pidfile)[1], str(log))
    assert time.monotonic() - started < 10
    assert problem.startswith("exited before it was ready") and "bye" in problem


def test_wait_http_ready_answers_none_once_the_address_answers(tmp_path):
    code = ("import http.server, sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        self.send_response(200); self.end_headers()\n"
            "    def log_message(self, *args):\n"
            "        pass\n"
            "server = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
            "print(server.server_address[1], flush=True)\n"
            "server.serve_forever()\n")
    log = tmp_path / "web.log"
    pidfile = str(tmp_path / "web.pid")
    pid = process.start([sys.executable, "-c", code], pidfile, str(log))
    try:
        deadline = time.monotonic() + 10
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = "http://127.0.0.1:%s/" % log.read_text().split()[0]
        assert process.wait_http_ready(url, 10, pid, process.read_pidfile(pidfile)[1], str(log)) is None
    finally:
        process.stop_pidfile(pidfile, timeout=5)


def wait_for_text(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(str(path)) and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError("%s stayed empty for %ss" % (path, timeout))


PRINT_ENVIRONMENT = "import json, os; print(json.dumps(dict(os.environ)), flush=True)"


def test_a_child_gets_a_minimal_environment_and_what_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.operator-token")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "operator-api-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-aws-key")
    monkeypatch.setenv("LANG", "C.UTF-8")
    log = tmp_path / "env.log"
    process.start([sys.executable, "-c", PRINT_ENVIRONMENT], str(tmp_path / "env.pid"), str(log),
                  env={"KUBECONFIG": "/srv/kubeconfig"})
    seen = json.loads(wait_for_text(log))
    assert "VAULT_TOKEN" not in seen and "K8S_AUTH_API_KEY" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen
    assert seen["KUBECONFIG"] == "/srv/kubeconfig"
    assert seen["PATH"] == os.environ["PATH"] and seen["LANG"] == "C.UTF-8"


def test_a_child_started_without_env_does_not_inherit_the_operators_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.operator-token")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_operator")
    log = tmp_path / "env.log"
    process.start([sys.executable, "-c", PRINT_ENVIRONMENT], str(tmp_path / "env.pid"), str(log))
    seen = json.loads(wait_for_text(log))
    assert "VAULT_TOKEN" not in seen and "GITHUB_TOKEN" not in seen and "PATH" in seen


def test_the_child_environment_keeps_only_the_listed_variables():
    operator = {"PATH": "/usr/bin", "HOME": "/home/op", "TMPDIR": "/tmp/op", "LC_ALL": "C",
                "VAULT_TOKEN": "s.x", "AWS_PROFILE": "prod", "SSH_AUTH_SOCK": "/run/agent"}
    assert process.child_environment({"RUNTIME_NAMESPACE": "flux-system"}, environ=operator) == {
        "PATH": "/usr/bin", "HOME": "/home/op", "TMPDIR": "/tmp/op", "LC_ALL": "C",
        "RUNTIME_NAMESPACE": "flux-system"}
    # No PATH at all: the system default, so that argv[0] without a directory is still found.
    assert process.child_environment(environ={})["PATH"] == os.defpath


def sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_stop_never_signals_a_pid_whose_identity_is_unknown():
    child = sleeper()
    try:
        assert not process.stop(child.pid, None, timeout=0.5)
        time.sleep(0.2)
        assert child.poll() is None, "a PID with no start time was signalled"
    finally:
        child.kill()
        child.wait()


def test_a_pidfile_without_a_start_time_is_not_running_and_not_signalled(tmp_path):
    child = sleeper()
    try:
        pidfile = tmp_path / "bare.pid"
        pidfile.write_text("%d" % child.pid)
        assert not process.pidfile_running(str(pidfile))
        assert not process.stop_pidfile(str(pidfile), timeout=0.5)
        time.sleep(0.2)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def listening_socket():
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    return held


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
def test_a_port_held_by_another_process_fails_at_once_naming_the_holder(tmp_path):
    held = listening_socket()
    port = held.getsockname()[1]
    pidfile = str(tmp_path / "late.pid")
    try:
        pid = process.start([sys.executable, "-c", "import time; time.sleep(60)"], pidfile, str(tmp_path / "late.log"))
        started = time.monotonic()
        problem = process.wait_http_ready("http://127.0.0.1:%d/healthz" % port, 8, pid,
                                          process.read_pidfile(pidfile)[1], str(tmp_path / "late.log"))
        assert time.monotonic() - started < 3
        assert problem.startswith("port %d is already held by pid %d (" % (port, os.getpid()))
        assert "python" in problem and "another platform is running on these ports" in problem
    finally:
        held.close()
        process.stop_pidfile(pidfile, timeout=5)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's socket table")
def test_the_holders_of_a_port_are_read_from_the_socket_table():
    held = listening_socket()
    port = held.getsockname()[1]
    try:
        assert [pid for pid, _command in process.port_holders(port)] == [os.getpid()]
        # Held by the process itself: not foreign. Before any process is started: foreign.
        assert process.foreign_holder_problem(port, os.getpid()) is None
        assert "port %d is already held by pid %d" % (port, os.getpid()) in process.foreign_holder_problem(port)
    finally:
        held.close()
    assert process.port_holders(port) == [] and process.foreign_holder_problem(port) is None


SERVE_HTTP = ("import http.server, sys\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        self.send_response(200); self.end_headers()\n"
              "    def log_message(self, *args):\n"
              "        pass\n"
              "server = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
              "print(server.server_address[1], flush=True)\n"
              "server.serve_forever()\n")


def test_a_port_held_by_a_descendant_of_the_started_process_is_ready(tmp_path):
    script = tmp_path / "serve.py"
    script.write_text(SERVE_HTTP)
    log = tmp_path / "wrapped.log"
    pidfile = str(tmp_path / "wrapped.pid")
    # A shell that runs the server as its child (the trailing command keeps it from exec'ing).
    pid = process.start(["/bin/sh", "-c", '"$0" "$1"; true', sys.executable, str(script)], pidfile, str(log))
    try:
        port = int(wait_for_text(log).split()[0])
        assert process.wait_http_ready("http://127.0.0.1:%d/" % port, 10, pid, process.read_pidfile(pidfile)[1],
                                       str(log)) is None
    finally:
        # The server is the shell's child, in the session the shell leads: stop them both, by group.
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.stop_pidfile(pidfile, timeout=5)


AS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
                             reason="changing to another account needs root (and a Python that account can run)")
PRINT_IDENTITY = ("import json, os; status = open('/proc/self/status').read(); "
                  "print(json.dumps(dict(uid=os.getuid(), euid=os.geteuid(), gid=os.getgid(), groups=os.getgroups(), "
                  "umask=os.umask(0), cwd=os.getcwd(), env=dict(os.environ), "
                  "no_new_privs=[line.split()[1] for line in status.splitlines() if line.startswith('NoNewPrivs')])), "
                  "flush=True)")


@AS_ROOT
def test_a_child_given_a_user_runs_as_that_account_only(tmp_path, monkeypatch):
    import pwd

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", "s.operator-token")
    nobody = pwd.getpwnam("nobody")
    log = tmp_path / "identity.log"
    pidfile = tmp_path / "identity.pid"
    # The system's Python: the project's venv is under root's home, closed to other accounts.
    process.start(["/usr/bin/python3", "-c", PRINT_IDENTITY], str(pidfile), str(log), env={"HTTP_PROXY": "http://p"},
                  user="nobody")
    seen = json.loads(wait_for_text(log))
    assert seen["uid"] == seen["euid"] == nobody.pw_uid != 0 and seen["gid"] == nobody.pw_gid
    # No supplementary group (root's would come along otherwise), umask 077, no_new_privs.
    assert set(seen["groups"]) <= {nobody.pw_gid} and seen["umask"] == 0o077 and seen["no_new_privs"] == ["1"]
    assert seen["cwd"] == "/"
    env = seen["env"]
    assert env["HOME"] == nobody.pw_dir and env["USER"] == env["LOGNAME"] == "nobody"
    assert env["HTTP_PROXY"] == "http://p" and "TMPDIR" not in env and "VAULT_TOKEN" not in env
    # Its files stay the caller's, owner-only.
    for path in (log, pidfile):
        assert os.stat(str(path)).st_uid == 0 and mode(str(path)) == 0o600


@AS_ROOT
def test_without_a_user_or_with_the_own_account_nothing_changes(tmp_path):
    assert process.run_as(None) is None and process.run_as("root") is None
    # The probe above can fail: without the option the same child reports uid 0.
    log = tmp_path / "identity.log"
    process.start(["/usr/bin/python3", "-c", PRINT_IDENTITY], str(tmp_path / "identity.pid"), str(log))
    assert json.loads(wait_for_text(log))["uid"] == 0


def test_an_unknown_account_or_one_that_needs_root_is_refused(monkeypatch):
    with pytest.raises(process.UserError, match="no local account named 'no-such-account-x'"):
        process.run_as("no-such-account-x")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(process.UserError, match="needs root"):
        process.run_as("nobody")


def test_the_launch_record_names_the_user_and_a_changed_user_restarts():
    plain = process.launch_record(["/bin/app"], {}, None)
    assert "user" not in json.loads(plain)
    assert json.loads(process.launch_record(["/bin/app"], {}, None, "nobody"))["user"] == "nobody"
    assert process.launch_record(["/bin/app"], {}, None, "nobody") != plain


def test_sim_process_refuses_an_unknown_user_before_anything_starts(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.host.managed_process import ProcessError, \
        ensure_process

    params = dict(name="x", state="started", argv=[sys.executable, "-c", "pass"], state_dir=str(tmp_path / "s"),
                  env={}, chdir=None, user="no-such-account-x", ready_url=None, wait_timeout=5)
    with pytest.raises(ProcessError, match="sim_process x: no local account named"):
        ensure_process(params)
    assert not (tmp_path / "s").exists()
