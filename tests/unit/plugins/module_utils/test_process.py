import os
import sys
import time

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
