"""sim_binaries through ansible-playbook: progress while it builds, bad versions refused first.

The Go toolchain is replaced by a slow stand-in (the real builds take minutes); what is
tested is the action plugin on the controller: its lines reach the output while the
task runs, and a bad option fails before anything is written.
"""

import json
import os
import stat
import subprocess
import time

from conftest import HERE, ROOT, assert_ok, run_playbook

SLOW_GO = """#!/usr/bin/env python3
import os, sys, time
time.sleep(3)
args = sys.argv[1:]
out = args[args.index("-o") + 1]
with open(out, "w") as binary:
    binary.write("#!/bin/sh\\n")
os.chmod(out, 0o755)
"""


def slow_go(tmp_path):
    script = tmp_path / "go"
    script.write_text(SLOW_GO)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_progress_lines_arrive_while_the_build_runs(tmp_path):
    variables = dict(binaries_components=["etcd"], binaries_cache_dir=str(tmp_path / "cache"),
                     binaries_go=slow_go(tmp_path), binaries_progress_interval=1)
    command = ["ansible-playbook", "-i", os.path.join(HERE, "inventory.yml"),
               os.path.join(HERE, "playbooks", "sim_binaries.yml"), "-e", json.dumps(variables)]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    log = tmp_path / "binaries.log"
    # As `make test` runs it: in the background, its output in a file.
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        seen_while_running = []
        try:
            while process.poll() is None:
                seen_while_running = [line for line in log.read_text().splitlines() if line.startswith("building ")]
                time.sleep(0.2)
        finally:
            process.wait(timeout=120)
    assert process.returncode == 0, log.read_text()
    # The build takes 3 s: its start line and at least one more were in the file before it ended.
    assert "building etcd v3.5.24 (etcd): 0s" in seen_while_running
    assert len(seen_while_running) >= 2
    lines = log.read_text().splitlines()
    assert any(line.startswith("built etcd v3.5.24 (etcd) in ") for line in lines)


def test_a_second_run_finds_the_cache_and_says_nothing(tmp_path):
    variables = dict(binaries_components=["etcd"], binaries_cache_dir=str(tmp_path / "cache"),
                     binaries_go=slow_go(tmp_path))
    assert_ok(run_playbook("sim_binaries.yml", variables))
    again = assert_ok(run_playbook("sim_binaries.yml", variables))
    assert not again.results("Build the components")[0]["changed"]
    assert "building " not in again.raw


def test_a_version_that_is_not_a_release_fails_naming_the_option_and_writes_nothing(tmp_path):
    variables = dict(binaries_components=["etcd"], binaries_cache_dir=str(tmp_path / "cache"),
                     binaries_go=slow_go(tmp_path), binaries_etcd_version="v3.5.24 ../../../tmp")
    run = run_playbook("sim_binaries.yml", variables)
    assert run.returncode != 0
    message = run.results("Build the components")[0]["msg"]
    assert message.startswith("sim_binaries: etcd_version: 'v3.5.24 ../../../tmp' is not a release version")
    assert not (tmp_path / "cache").exists()
