"""The input battery's harness: run a module or release action in-process with malformed
options and say what it did with them.

Nothing outside the process is faked: every way out is closed and recorded instead. A
network connection (API server, git server, Vault, registry), a subprocess (git, kwokctl)
and a file opened for writing each count as *reaching out*; the connection is refused, the
process not started, the file not written. A malformed input is handled well when the
task fails having reached nothing, its message names the option, and no secret from the
options shows anywhere in what it returned.

Each outcome falls in one class (the issue's):

- ``refused``: failed up front, naming the option;
- ``refused_unnamed``: failed up front, not naming it;
- ``reached``: failed only after reaching out (the server behind would have been the judge);
- ``accepted``: did not fail (``written`` when it reached out to do it);
- ``raw``: a Python error instead of a message.

``python tests/unit/plugins/modules/battery.py`` (in the project venv) prints the counts
per class over every battery in this folder, for a before/after comparison.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# A kubeconfig whose API server does not answer: a Kubernetes module that gets as far as
# making its client reaches out (discovery), which the closed world records.
KUBECONFIG = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gitops-progressive-battery-kubeconfig-%d.yaml" % os.getpid())
with open(KUBECONFIG, "w") as _handle:
    _handle.write("""apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: battery-not-a-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
""")


def kube(**args):
    """A Kubernetes module's options with the battery's kubeconfig."""
    return dict(args, kubeconfig=KUBECONFIG)


CLASSES = ("refused", "refused_unnamed", "reached", "accepted", "written", "raw")


class ReachedOut(OSError):
    """What a closed way out raises: the caller sees a refused connection or a missing program."""


@dataclass
class Case:
    """``target`` (a module or action name) with ``args``; the error must name ``option``.

    ``secrets``: strings that may not appear in the output, beyond those found in the
    args (credentials in addresses, the values of no_log options).
    """
    target: str
    args: dict
    option: str
    why: str = ""
    secrets: tuple = ()
    check_mode: bool = False

    def __str__(self):
        return "%s %s: %s" % (self.target, self.option, self.why or json.dumps(self.args, default=str)[:60])


@dataclass
class Outcome:
    failed: bool
    msg: str
    output: str
    reached: list = field(default_factory=list)
    raw: bool = False

    def klass(self, case):
        if self.raw:
            return "raw"
        if not self.failed:
            return "written" if self.reached else "accepted"
        if self.reached:
            return "reached"
        return "refused" if names(self.msg, case.option) else "refused_unnamed"


def names(msg, option):
    """The message names the option as the case spells it (``files``, ``policies[0].rules``),
    as a word: ``name`` is not named by ``rename`` or ``names``."""
    import re

    return re.search(r"(?<![\w.\[])%s(?![\w])" % re.escape(option), msg) is not None


_WRITE_MODES = set("wax+")


@contextlib.contextmanager
def closed_world():
    """Every way out refused and recorded: connections, subprocesses, files opened to write."""
    reached = []
    real_open = builtins.open

    def connect(sock, address, *args, **kwargs):
        reached.append("connect %s" % (address,))
        raise ReachedOut(111, "Connection refused (the battery's closed world)")

    def getaddrinfo(host, *args, **kwargs):
        # Names are looked up only to connect: a lookup is reaching out already.
        reached.append("resolve %s" % (host,))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (the battery's closed world)")

    def changes(what):
        def refused(*args, **kwargs):
            reached.append("%s %s" % (what, args[0] if args else ""))
            raise ReachedOut(13, "Permission denied (the battery's closed world)")
        return refused

    def create_connection(address, *args, **kwargs):
        reached.append("connect %s" % (address,))
        raise ReachedOut(111, "Connection refused (the battery's closed world)")

    def popen(self, args, *rest, **kwargs):
        reached.append("run %s" % (args if isinstance(args, str) else " ".join(map(str, args))[:80]))
        raise ReachedOut(2, "No such file or directory (the battery's closed world)")

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(mode, str) and _WRITE_MODES & set(mode) and str(file) != os.devnull:
            reached.append("write %s" % (file,))
            raise ReachedOut(13, "Permission denied (the battery's closed world)")
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            reached.append("write %s" % (path,))
            raise ReachedOut(13, "Permission denied (the battery's closed world)")
        return real_os_open(path, flags, *args, **kwargs)

    def makedirs(path, *args, **kwargs):
        reached.append("mkdir %s" % (path,))
        raise ReachedOut(13, "Permission denied (the battery's closed world)")

    real_os_open = os.open
    with mock.patch.object(socket.socket, "connect", connect), \
            mock.patch.object(socket.socket, "connect_ex", connect), \
            mock.patch.object(socket, "create_connection", create_connection), \
            mock.patch.object(subprocess.Popen, "__init__", popen), \
            mock.patch.object(socket, "getaddrinfo", getaddrinfo), \
            mock.patch.object(builtins, "open", guarded_open), \
            mock.patch.object(io, "open", guarded_open), \
            mock.patch.object(os, "unlink", changes("unlink")), \
            mock.patch.object(os, "remove", changes("unlink")), \
            mock.patch.object(os, "rmdir", changes("rmdir")), \
            mock.patch.object(os, "rename", changes("rename")), \
            mock.patch.object(os, "replace", changes("rename")), \
            mock.patch.object(os, "chmod", changes("chmod")), \
            mock.patch.object(os, "symlink", changes("symlink")), \
            mock.patch.object(os, "open", os_open), \
            mock.patch.object(os, "makedirs", makedirs), \
            mock.patch.object(os, "mkdir", makedirs):
        yield reached


def run_module(name, args, check_mode=False):
    """``plugins/modules/<name>.py``'s main() with ``args``: its result and what it reached."""
    import importlib

    from ansible.module_utils.testing import patch_module_args

    module = importlib.import_module("ansible_collections.gitops.progressive.plugins.modules.%s" % name)
    args = dict(args, _ansible_check_mode=check_mode)
    stdout = io.StringIO()
    raw = False
    with closed_world() as reached:
        with patch_module_args(args), contextlib.redirect_stdout(stdout):
            try:
                module.main()
            except SystemExit:
                pass
            except Exception as error:  # a crash: what the user would see as a traceback
                raw = True
                stdout.write(json.dumps({"failed": True, "msg": "%s: %s" % (type(error).__name__, error)}))
    output = stdout.getvalue()
    try:
        result = json.loads(output.strip().splitlines()[-1]) if output.strip() else {}
    except ValueError:
        result = {"failed": True, "msg": output}
        raw = True
    raw = raw or "Traceback" in str(result.get("exception", "")) and not result.get("msg")
    return Outcome(bool(result.get("failed")), str(result.get("msg", "")), output, list(reached), raw)


class _Task:
    def __init__(self, args, check_mode):
        self.args, self.check_mode, self.diff = args, check_mode, False
        self.environment = []  # a play's and its task's environment: none here


def run_action(name, args, check_mode=False):
    """A release action plugin (canary_rollout, git_release) run as the controller would."""
    import importlib

    from ansible.errors import AnsibleActionFail
    from ansible.plugins.action import ActionBase

    plugin = importlib.import_module("ansible_collections.gitops.progressive.plugins.action.%s" % name)
    action = plugin.ActionModule.__new__(plugin.ActionModule)
    action._task, action._load_name = _Task(dict(args), check_mode), name
    raw = False
    result = {}
    with closed_world() as reached:
        with mock.patch.object(ActionBase, "run", lambda self, tmp=None, task_vars=None: {}):
            try:
                result = plugin.ActionModule.run(action, task_vars={})
            except AnsibleActionFail as error:
                result = dict(error.result, failed=True, msg=error.message)
            except Exception as error:
                raw = True
                result = {"failed": True, "msg": "%s: %s" % (type(error).__name__, error)}
    output = json.dumps(result, default=str)
    return Outcome(bool(result.get("failed")), str(result.get("msg", "")), output, list(reached), raw)


def secrets_of(case):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import strings_in, url_credentials

    found = list(case.secrets)
    for value in strings_in(case.args):
        found.extend(url_credentials(value))
    for key, value in case.args.items():
        if isinstance(value, str):
            # Options that hold a secret, not those that name where one is (token_file) or how it is kept.
            holds = any(word in key for word in ("password", "token", "secret")) and \
                not key.endswith(("_file", "_path", "_dir")) and key != "update_secrets"
            if holds and len(value) >= 4:
                found.append(value)
    return [secret for secret in found if secret]


def run(case):
    runner = run_action if case.target in ("canary_rollout", "git_release") else run_module
    return runner(case.target, case.args, check_mode=case.check_mode)


def check(case):
    """The assertion every battery makes: refused up front, naming the option, no secret shown."""
    outcome = run(case)
    klass = outcome.klass(case)
    assert klass == "refused", "%s: %s, reached %s; message: %s" % (case, klass, outcome.reached, outcome.msg)
    leaked = [secret for secret in secrets_of(case) if secret in outcome.output]
    assert not leaked, "%s: the output shows %s" % (case, leaked)


def counts(cases):
    tally = {klass: 0 for klass in CLASSES}
    for case in cases:
        tally[run(case).klass(case)] += 1
    return tally


def all_cases():
    """Every case of every battery module in this folder (test_battery_*.py, ``CASES``)."""
    import glob
    import importlib.util

    cases = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_battery_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        battery = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(battery)
        cases.extend(battery.CASES)
    return cases


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    every = all_cases()
    tally = counts(every)
    print("%d malformed inputs: %s" % (len(every), ", ".join("%s %d" % item for item in tally.items())))
