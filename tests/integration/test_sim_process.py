"""sim_process through a real playbook run: owner-only files, credentials kept out of sight."""

import os
import stat
import sys

import pytest
from conftest import assert_ok, free_port, run_playbook

from ansible_collections.gitops.progressive.plugins.module_utils.host import process

TASK = "Bring the process to the wanted state"
SECRET = "s.do-not-print-this-token-1234"


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.fixture
def web(tmp_path):
    """Variables for a small HTTP server run through sim_process; stopped by PID afterwards."""
    port = free_port()
    state_dir = tmp_path / "state"
    variables = dict(process_name="web", process_state_dir=str(state_dir),
                     process_argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                     process_env={"VAULT_TOKEN": SECRET}, process_ready_url="http://127.0.0.1:%d/" % port,
                     process_ready_timeout=30)
    yield variables
    process.stop_pidfile(str(state_dir / "web.pid"), timeout=5)


def test_files_are_owner_only_and_the_environment_is_never_shown(web):
    run = assert_ok(run_playbook("sim_process.yml", web))
    result = run.results(TASK)[0]
    assert result["changed"] and process.is_running(result["pid"])
    state_dir = web["process_state_dir"]
    assert mode(state_dir) == 0o700
    for suffix in ("pid", "argv", "log"):
        assert mode(os.path.join(state_dir, "web." + suffix)) == 0o600, suffix
    # Neither the record on disk nor anything Ansible printed holds the value.
    with open(os.path.join(state_dir, "web.argv")) as record:
        assert SECRET not in record.read()
    assert SECRET not in run.raw
    assert "env" not in result

    # The process did get it.
    with open("/proc/%d/environ" % result["pid"], "rb") as environ:
        assert ("VAULT_TOKEN=" + SECRET).encode() in environ.read().split(b"\0")


def test_same_environment_is_ok_a_changed_value_restarts(web):
    first = assert_ok(run_playbook("sim_process.yml", web)).results(TASK)[0]
    again = assert_ok(run_playbook("sim_process.yml", web))
    assert again.stats["changed"] == 0 and again.results(TASK)[0]["pid"] == first["pid"]
    changed = dict(web, process_env={"VAULT_TOKEN": SECRET + "-rotated"})
    rotated = assert_ok(run_playbook("sim_process.yml", changed))
    result = rotated.results(TASK)[0]
    assert result["restarted"] and result["pid"] != first["pid"]
    assert not process.is_running(first["pid"])
    assert SECRET not in rotated.raw


def test_a_failure_does_not_print_the_environment(web, tmp_path):
    # A program that exits at once: the module reports it with the log's tail.
    failing = dict(web, process_argv=[sys.executable, "-c", "print('giving up')"])
    run = run_playbook("sim_process.yml", failing)
    assert run.returncode != 0
    (name, message), = run.failures()
    assert "exited before it was ready" in message and "giving up" in message
    assert SECRET not in run.raw


def test_wait_timeout_must_be_positive_and_ready_timeout_is_its_alias(web):
    for name in ("process_wait_timeout", "process_ready_timeout"):
        variables = dict(web)
        variables.pop("process_ready_timeout")
        variables[name] = 0
        run = run_playbook("sim_process.yml", variables)
        assert run.returncode != 0
        assert "wait_timeout must be a positive number of seconds" in run.failures()[0][1]
    assert not os.path.exists(web["process_state_dir"])


def test_check_mode_creates_nothing_and_absent_stops_by_pid(web):
    checked = assert_ok(run_playbook("sim_process.yml", web, check=True))
    assert checked.stats["changed"] == 1
    assert not os.path.exists(web["process_state_dir"])
    pid = assert_ok(run_playbook("sim_process.yml", web)).results(TASK)[0]["pid"]
    stopped = assert_ok(run_playbook("sim_process.yml", dict(web, process_state="absent")))
    assert stopped.stats["changed"] == 1 and not process.is_running(pid)
