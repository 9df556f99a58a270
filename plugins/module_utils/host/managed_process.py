# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sim_process's task: one background process kept running as the task describes it, or stopped.

The process is known by its files in ``state_dir``: ``<name>.pid`` (PID and start time,
process.py), ``<name>.log`` and ``<name>.argv``, the digest of the command line, working
directory and environment it was started with (process.launch_record), so a changed
command line restarts it and an unchanged one is ``ok``. With ``user`` the process runs as
that local account (process.start); the files stay the task's own. Every failure is a ProcessError
whose message starts with ``sim_process <name>``; one after the files are known carries
the task's result so far (``pidfile``, ``log``, ``changed``, ...).
"""

from __future__ import annotations

import os
import re

from ansible_collections.gitops.progressive.plugins.module_utils.args import check_wait_timeout
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, quote


class ProcessError(CollectionError):
    """The process cannot be started, or did not become ready."""


_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def check_options(params):
    """Every option checked before anything is looked at; InputError naming each problem."""
    name = params.get("name")
    inputs = Inputs("sim_process %s" % quote(name))
    if not isinstance(name, str) or not _FILE_NAME.match(name):
        inputs.add(["name must be 1 to 64 letters, digits, '.', '_' and '-', starting with a letter or digit "
                    "(it names files in state_dir), got %s" % quote(name)])
    inputs.state_dir("state_dir", params.get("state_dir"))
    if params.get("chdir") is not None:
        inputs.state_dir("chdir", params["chdir"])
    argv = params.get("argv")
    if params.get("state", "started") == "started":
        if not argv or not isinstance(argv, list):
            inputs.add(["argv must list the program and its arguments, got %s" % quote(argv)])
        elif not argv[0] or any(not isinstance(word, str) or "\x00" in word for word in argv):
            inputs.add(["argv must start with the program and hold no NUL, got %s" % quote(argv)])
    for key, value in (params.get("env") or {}).items():
        if not _ENV_NAME.match(str(key)):
            inputs.add(["env key %s is not an environment variable name" % quote(key)])
        elif value is not None and "\x00" in str(value):
            # The value is never quoted: it may be a credential.
            inputs.add(["env %s holds a NUL" % key])
    user = params.get("user")
    if user is not None and not (isinstance(user, str) and _ACCOUNT.match(user)):
        inputs.add(["user must be a local account's name, got %s" % quote(user)])
    if params.get("ready_url") is not None:
        if inputs.url("ready_url", params["ready_url"]) and process.loopback_port(params["ready_url"]) is None:
            inputs.add(["ready_url must be on this machine's loopback (127.0.0.1, ::1 or localhost): the process "
                        "it proves ready is local, got %s" % quote(params["ready_url"])])
    problem = check_wait_timeout(params, "process %s" % quote(name))
    if problem:
        inputs.add([problem])
    inputs.done()


def ensure_process(params, check_mode=False):
    """sim_process's result for its options (``name``, ``state``, ``argv``, ``state_dir``, ``env``,
    ``chdir``, ``user``, ``ready_url``, ``wait_timeout``); ProcessError on failure."""
    check_options(params)
    name = params["name"]
    base = os.path.join(params["state_dir"], name)
    pidfile, log, record_file = base + ".pid", base + ".log", base + ".argv"
    result = dict(changed=False, pidfile=pidfile, log=log, restarted=False)
    running = process.pidfile_running(pidfile)

    if params["state"] == "absent":
        if running:
            result["changed"] = True
            if not check_mode:
                process.stop_pidfile(pidfile)
        return result

    user = params.get("user") or None
    try:
        # An unknown account, or one that needs root, fails before anything is stopped.
        process.run_as(user)
    except process.UserError as error:
        raise ProcessError("sim_process %s: %s" % (name, error), **result)
    wanted = process.launch_record(params["argv"], params["env"], params["chdir"], user)
    try:
        with open(record_file) as recorded:
            same = recorded.read() == wanted
    except OSError:
        same = False
    if running and same:
        result["pid"] = process.read_pidfile(pidfile)[0]
        return result

    result["changed"] = True
    result["restarted"] = running
    if check_mode:
        return result
    if running:
        process.stop_pidfile(pidfile)
    ready_port = process.loopback_port(params["ready_url"]) if params["ready_url"] else None
    if ready_port is not None:
        # Started anyway, it would fail to bind, or a readiness probe would be answered
        # by the other process: refuse before starting anything.
        problem = process.foreign_holder_problem(ready_port)
        if problem:
            raise ProcessError("sim_process %s: not started: %s" % (name, problem), **result)
    try:
        process.make_private_dir(params["state_dir"])
    except OSError as error:
        reason = error.strerror or error
        raise ProcessError("sim_process %s: cannot make state_dir %s: %s" % (name, params["state_dir"], reason),
                           **result)
    try:
        # Only the variables the task gives, on a minimal environment (process.child_environment).
        pid = process.start(params["argv"], pidfile, log, env=params["env"], cwd=params["chdir"], user=user)
    except OSError as error:
        # Names the program and the OS error only: the environment stays out of messages.
        raise ProcessError("sim_process %s: cannot start %s: %s" % (name, params["argv"][0], error.strerror or error),
                           **result)
    process.write_private(record_file, wanted)
    result["pid"] = pid
    if params["ready_url"]:
        problem = process.wait_http_ready(params["ready_url"], params["wait_timeout"], pid,
                                          process.read_pidfile(pidfile)[1], log)
        if problem:
            raise ProcessError("sim_process %s: %s" % (name, problem), **result)
    return result
