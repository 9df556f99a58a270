# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform repository as a release sees it: a working copy that is brought to the
remote branch, edited (kustomize ``images``, a value at a YAML path), committed, pushed
and, on rollback, reverted.

Everything goes through the ``git`` command. Credentials never reach an argument list,
a remote URL or a message: a password or token is sent as an HTTP ``Authorization`` header
through ``GIT_CONFIG_*`` environment variables of the git process alone, and :func:`redact`
takes it out of any git output that is reported. Over SSH (``ssh://`` or ``user@host:path``)
the server's host key is pinned (``git_known_hosts``: ssh with ``StrictHostKeyChecking=yes``
and no other known-hosts file) and a deploy key given as text is written, for the length of
one git command, to a file only this user can read in a directory of its own, removed after.

One working copy serves every task on the controller that names the same repository and
branch, so a change is made under :meth:`PlatformRepo.locked` (an exclusive ``flock`` on
``<workdir>.lock``): :func:`commit_and_push` and :func:`revert_and_push` run
sync, edit, commit and push under it and redo the whole change when another writer
pushed first. Files are reached only through :meth:`PlatformRepo.path`, which refuses a
path that leaves the working copy, enters ``.git`` or goes through a symbolic link
(the repository's content must not redirect a write elsewhere on the controller).

A working copy a task clones is marked as the collection's own (``.git/gitops-progressive``)
and is brought to the remote branch whatever it holds; any other, such as a user's checkout
given as ``workdir``, only while that loses nothing (:meth:`PlatformRepo.sync`).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.git.edit import (
    drop_kustomization_entries,
    ensure_kustomization_entries,
)
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import (
    hidden_characters,
    too_many,
)

GIT_TIMEOUT = 120
# How long a task waits for another task's change to the same working copy. A change holds
# the lock for sync, edit, commit and push only (seconds; each git command is bounded by
# GIT_TIMEOUT), never while Flux or Flagger are followed.
LOCK_TIMEOUT = 600
LOCK_POLL_MAX = 0.5


class GitError(CollectionError):
    """A git command failed; the message names the repository and the step.

    ``race`` is true when a push lost a race with another writer (the branch moved since
    the fetch: rejected, non-fast-forward, "fetch first"); redoing the change on the new
    head is then the cure. ``timed_out`` is true when git did not answer in time.
    """

    def __init__(self, message, race=False, timed_out=False, **details):
        super().__init__(message, **details)
        self.race = race
        self.timed_out = timed_out


def _write_private(path, text):
    """``text`` (ending in a line break, as ssh wants a key) in a new file only its owner reads."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return re.sub(r"(https?://)[^/@\s]+@", r"\1********@", text)


# An SSH address: ssh://[user@]host[:port]/path, or scp's [user@]host:path (no "//" after the
# colon, and no "/" before it, as git tells the two apart).
_SSH_URL = re.compile(r"^ssh://(?:([^@/:\s]+)@)?([^@/:\s]+|\[[0-9A-Fa-f:]+\])(?::(\d+))?(/\S*)$")
_SCP_URL = re.compile(r"^(?:([^@/:\s]+)@)?([^@/:\s]+|\[[0-9A-Fa-f:]+\]):(?!//)(\S+)$")


def is_ssh_url(url):
    return isinstance(url, str) and bool(_SSH_URL.match(url) or (_SCP_URL.match(url) and "://" not in url))


def ssh_command(known_hosts_file, key_file=None):
    """The ssh git runs: the host key checked against ``known_hosts_file`` alone (never added to,
    never asked about), no prompt, bounded connection; with ``key_file``, that key alone (no
    agent, no ~/.ssh/config)."""
    options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
               "-o", "UserKnownHostsFile=%s" % known_hosts_file, "-o", "GlobalKnownHostsFile=/dev/null",
               "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
               "-o", "ServerAliveCountMax=4"]
    if key_file:
        options = ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                   "-i", key_file] + options
    return " ".join(shlex.quote(part) for part in ["ssh"] + options)


class PlatformRepo:
    """A working copy of ``url`` at ``branch`` in ``workdir``."""

    def __init__(self, url, workdir, branch="main", username=None, password=None, author=None,
                 timeout=GIT_TIMEOUT, runner=subprocess.run, ssh_key=None, ssh_key_file=None, known_hosts=None):
        if re.match(r"^https?://[^/]*@", url or ""):
            raise GitError("url: put credentials in username/password, not in the URL (it would be logged)")
        # Absolute: path() compares against it, and git runs with it as its cwd.
        self.url, self.workdir, self.branch = url, os.path.abspath(os.path.expanduser(workdir)), branch
        self.username, self.password = username, password
        self.author = author or ("gitops.progressive", "gitops-progressive@localhost")
        self.timeout = timeout
        self.runner = runner
        self.ssh = is_ssh_url(url)
        self.ssh_key, self.ssh_key_file, self.known_hosts = ssh_key, ssh_key_file, known_hosts
        if self.ssh and not known_hosts:
            raise GitError("git over SSH needs the server's host key pinned (git_known_hosts)")

    # --- running git ---------------------------------------------------------------------
    def _env(self):
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false",
                   GIT_AUTHOR_NAME=self.author[0], GIT_AUTHOR_EMAIL=self.author[1],
                   GIT_COMMITTER_NAME=self.author[0], GIT_COMMITTER_EMAIL=self.author[1])
        if self.password:
            token = base64.b64encode(("%s:%s" % (self.username or "git", self.password)).encode()).decode()
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0="Authorization: Basic %s" % token)
        return env

    def _secrets(self):
        secrets = [self.ssh_key] if self.ssh_key else []
        if not self.password:
            return secrets
        return secrets + [self.password,
                          base64.b64encode(("%s:%s" % (self.username or "git", self.password)).encode()).decode()]

    @contextlib.contextmanager
    def _ssh_environment(self, env):
        """``env`` with GIT_SSH_COMMAND for one git command over SSH: the pinned host keys and a
        deploy key given as text in files of a 0700 directory of their own, removed after."""
        if not self.ssh:
            yield env
            return
        directory = tempfile.mkdtemp(prefix="gitops-progressive-ssh-")
        try:
            known_hosts = os.path.join(directory, "known_hosts")
            _write_private(known_hosts, self.known_hosts)
            key_file = self.ssh_key_file and os.path.expanduser(self.ssh_key_file)
            if self.ssh_key:
                key_file = os.path.join(directory, "key")
                _write_private(key_file, self.ssh_key)
            yield dict(env, GIT_SSH_COMMAND=ssh_command(known_hosts, key_file), GIT_SSH_VARIANT="ssh")
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def git(self, *args, doing=None, cwd=None, check=True, quiet=False):
        """git's output; with ``quiet``, None when git exits non-zero (a yes/no question)."""
        try:
            with self._ssh_environment(self._env()) as env:
                result = self.runner(["git"] + list(args), cwd=cwd or self.workdir, env=env,
                                     capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GitError("git %s: %s did not answer within %d s" % (
                doing or args[0], redact(self.url, self._secrets()), self.timeout), timed_out=True)
        except OSError as error:
            raise GitError("git %s: cannot run git: %s" % (doing or args[0], error))
        if quiet and result.returncode != 0:
            return None
        if check and result.returncode != 0:
            raise GitError("git %s failed for %s: %s" % (
                doing or args[0], redact(self.url, self._secrets()),
                redact((result.stderr or result.stdout).strip(), self._secrets())))
        return result.stdout.strip()

    # --- the lock ---------------------------------------------------------------------------
    @property
    def lock_path(self):
        return self.workdir + ".lock"

    @contextlib.contextmanager
    def locked(self, timeout=LOCK_TIMEOUT):
        """Hold the working copy for this task: an exclusive ``flock`` on ``<workdir>.lock``
        (created 0600 next to the working copy), waited for up to ``timeout`` seconds.

        Another task (a process, or another thread here) waits; a thread that holds it
        already may enter again (so a caller can hold it across several steps). Raises
        GitError naming the working copy when another task holds it longer than ``timeout``.
        """
        path, me = self.lock_path, threading.get_ident()
        with _HELD_GUARD:
            held = _HELD.get(path)
            again = held is not None and held[0] == me
            if again:
                held[1] += 1
        if again:
            try:
                yield self
            finally:
                with _HELD_GUARD:
                    held[1] -= 1
            return
        descriptor = self._take_lock(path, timeout)
        with _HELD_GUARD:
            _HELD[path] = [me, 1]
        try:
            yield self
        finally:
            with _HELD_GUARD:
                _HELD.pop(path, None)
            os.close(descriptor)  # closing the descriptor releases the flock

    def _take_lock(self, path, timeout):
        import fcntl

        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                                 | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as error:
            raise GitError("working copy %s: cannot open its lock file %s: %s" % (self.workdir, path, error))
        deadline, pause = time.monotonic() + timeout, 0.05
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(descriptor)
                    raise GitError("working copy %s: cannot lock %s: %s" % (self.workdir, path, error))
                left = deadline - time.monotonic()
                if left <= 0:
                    os.close(descriptor)
                    raise GitError("working copy %s is in use: another task holds its lock %s and did not "
                                   "release it within %d s (a release or platform_repo task on the same "
                                   "repository and branch)" % (self.workdir, path, timeout))
                time.sleep(min(pause, left))
                pause = min(pause * 2, LOCK_POLL_MAX)

    # --- the working copy ----------------------------------------------------------------
    def sync(self):
        """Bring the working copy to the remote branch (clone it the first time); its HEAD,
        or "" when the remote has no such branch yet (a new, empty repository).

        Runs under :meth:`locked`. A clone is marked as the collection's own (:meth:`own`); a
        copy that is not is refused (GitError naming the workdir), before its files or its
        branch are reset, when it holds uncommitted changes, untracked or ignored files, or commits the
        remote branch lacks. Lock files a killed git command left in ``.git`` are then removed,
        when no git process is working in this copy."""
        with self.locked():
            return self._sync()

    def _sync(self):
        if not os.path.isdir(os.path.join(self.workdir, ".git")):
            os.makedirs(os.path.dirname(os.path.abspath(self.workdir)), exist_ok=True)
            self.git("clone", "--quiet", "--no-checkout", self.url, self.workdir, doing="clone",
                     cwd=os.path.dirname(os.path.abspath(self.workdir)))
            self._mark_own()
        else:
            self._refuse_unsaved_work()
            self.clear_stale_locks()
            self.git("remote", "set-url", "origin", self.url)
        if not self.git("ls-remote", "--heads", "origin", "refs/heads/%s" % self.branch, doing="ls-remote"):
            self.git("symbolic-ref", "HEAD", "refs/heads/%s" % self.branch)
            self.git("rm", "-r", "--quiet", "--cached", "--ignore-unmatch", ".")
            self.git("clean", "--quiet", "-fdx")
            return ""
        self.git("fetch", "--quiet", "origin", self.branch, doing="fetch")
        self._refuse_unpushed_commits()
        # Whatever an earlier run left (edits, a conflicted revert) must not stop this one.
        self.git("revert", "--abort", check=False)
        self.git("checkout", "--quiet", "--force", "-B", self.branch, "origin/%s" % self.branch)
        self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch)
        self.git("clean", "--quiet", "-fdx")
        return self.head()

    # --- whose working copy ----------------------------------------------------------------
    def own(self):
        """Whether the working copy is this collection's: cloned by a task (it carries
        :data:`OWN_MARKER` in ``.git``) or in the collection's cache (:func:`cache_directory`).
        Only such a copy is brought to the remote branch whatever it holds: a task killed
        between its edit and its push leaves its edits there, and the next run drops them."""
        return os.path.isfile(os.path.join(self.workdir, ".git", OWN_MARKER)) or \
            _inside(os.path.realpath(self.workdir), os.path.realpath(cache_directory()))

    def _mark_own(self):
        try:
            with open(os.path.join(self.workdir, ".git", OWN_MARKER), "w") as handle:
                handle.write(OWN_MARKER_TEXT)
        except OSError as error:
            raise GitError("working copy %s: cannot mark it as the collection's own: %s" % (self.workdir, error))

    def _refuse_unsaved_work(self):
        """A working copy the collection did not clone (a user's own checkout of the repository,
        given as ``workdir``) is used only when :meth:`sync` loses nothing in it: no uncommitted
        change, no untracked or ignored file (``git clean -fdx`` deletes those too)."""
        if self.own():
            return
        status = self.git("status", "--porcelain", "--ignored", "--untracked-files=all", doing="status")
        if status:
            held = [line.strip().split(None, 1)[-1] for line in status.splitlines()]  # "XY path": the path
            raise GitError("workdir %s is a working copy gitops.progressive did not clone, and it holds uncommitted "
                           "changes or untracked or ignored files (%s%s): the task brings it to the remote branch "
                           "with git reset --hard and git clean -fdx, which would lose them; commit or move them, or "
                           "give a workdir of its own" % (self.workdir, ", ".join(held[:5]),
                                                          ", ..." if len(held) > 5 else ""))

    def _refuse_unpushed_commits(self):
        """Likewise, commits on the branch of a copy the collection did not clone that the remote
        branch lacks (``git checkout -B`` would leave them behind)."""
        if self.own() or self.git("rev-parse", "--verify", "--quiet", "refs/heads/%s" % self.branch,
                                  quiet=True) is None:
            return
        ahead = self.git("rev-list", "--count", "origin/%s..refs/heads/%s" % (self.branch, self.branch))
        if ahead not in ("", "0"):
            raise GitError("workdir %s is a working copy gitops.progressive did not clone, and its branch %s holds %s "
                           "commit(s) the remote branch does not: the task would reset the branch and leave them "
                           "behind; push them, or give a workdir of its own" % (self.workdir, self.branch, ahead))

    def clear_stale_locks(self):
        """Remove the lock files (``.git/index.lock``, ``HEAD.lock``, ref locks, ...) that a
        git command killed by a timeout or a signal left behind; the paths removed.

        Called under :meth:`locked`, so no task of this collection is using the copy: a lock
        file is stale when no running git process works in it either (one started by hand,
        say). Where processes cannot be listed (no /proc), only lock files older than the
        git timeout are removed."""
        git_dir = os.path.join(self.workdir, ".git")
        if not os.path.isdir(git_dir) or os.path.islink(git_dir):
            return []
        candidates = [os.path.join(git_dir, name) for name in GIT_LOCK_FILES
                      if os.path.lexists(os.path.join(git_dir, name))]
        for directory, _subdirectories, names in os.walk(os.path.join(git_dir, "refs")):
            candidates += [os.path.join(directory, name) for name in names if name.endswith(".lock")]
        if not candidates:
            return []
        users = git_processes_using(self.workdir)
        if users:
            return []  # a git command is running here: its lock files are live
        if users is None:
            now = time.time()
            candidates = [path for path in candidates if now - os.lstat(path).st_mtime > self.timeout]
        removed = []
        for path in candidates:
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise GitError("working copy %s: cannot remove the stale git lock file %s: %s" % (
                    self.workdir, path, error))
        return removed

    def contains(self, commit, revision_commit):
        """Whether ``revision_commit`` is ``commit`` or a descendant of it (fetching it if needed)."""
        if not revision_commit:
            return False
        if revision_commit == commit:
            return True
        if self.git("cat-file", "-e", "%s^{commit}" % revision_commit, check=False, quiet=True) is None:
            self.git("fetch", "--quiet", "origin", self.branch, doing="fetch", check=False)
        return self.git("merge-base", "--is-ancestor", commit, revision_commit, check=False, quiet=True) is not None

    def head(self):
        return self.git("rev-parse", "HEAD")

    def path(self, relative):
        """The absolute path of ``relative`` in the working copy (see :func:`resolve_in`)."""
        return resolve_in(self.workdir, relative)

    def diff(self):
        return self.git("diff")

    def dirty(self):
        return bool(self.git("status", "--porcelain"))

    def discard(self):
        self.git("checkout", "--quiet", "--", ".")

    def commit(self, message):
        """Commit every change in the working copy; the new commit's SHA."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message, doing="commit")
        return self.head()

    def push(self):
        """Push the branch. A push the server rejects leaves the local commit undone; the
        GitError's ``race`` says whether it lost a race with another writer.

        A push that does not answer in time may still have landed (a slow hook, a lost
        response): the remote branch is then read back, and when it holds our commit the
        push counts as done. Otherwise the error says the outcome was checked and the push
        did not land, or that the outcome could not be checked."""
        try:
            self.git("push", "--quiet", "origin", "HEAD:refs/heads/%s" % self.branch, doing="push")
            return
        except GitError as error:
            failure = error
        if failure.timed_out:
            local = self.head()
            try:
                remote = self.remote_head()
            except GitError as error:
                self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch, check=False)
                raise GitError("%s; whether the push of %s landed could not be checked (%s): look at branch %s "
                               "before running the task again" % (failure, local[:12], error, self.branch),
                               timed_out=True)
            for _look in range(PUSH_CONFIRM_LOOKS):
                if remote == local:
                    return  # the server took it; only its answer was lost
                # A server still running its hooks moves the branch a moment later.
                time.sleep(PUSH_CONFIRM_PAUSE)
                remote = self.remote_head()
            if remote == local:
                return
            self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch, check=False)
            raise GitError("%s; the push's outcome was checked for %d s: branch %s is at %s, not at %s, so the push "
                           "could not be confirmed; look at the branch before running the task again" % (
                               failure, PUSH_CONFIRM_LOOKS * PUSH_CONFIRM_PAUSE, self.branch,
                               remote[:12] or "(no branch)", local[:12]), timed_out=True)
        self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch, check=False)
        raise GitError(str(failure), race=_push_race(failure))

    def remote_head(self):
        """The commit the remote branch is at ("" when it has no such branch)."""
        listed = self.git("ls-remote", "origin", "refs/heads/%s" % self.branch, doing="ls-remote")
        return listed.split()[0] if listed else ""

    def apply_revert(self, sha):
        """Undo ``sha``'s changes in the working copy and the index, without committing;
        whether that changed anything. A conflict is a GitError (and is cleaned up)."""
        try:
            self.git("revert", "--no-edit", "--no-commit", sha, doing="revert of %s" % sha[:12])
        except GitError:
            self.git("revert", "--abort", check=False)
            raise
        return self.dirty()

    def revert(self, sha, message):
        """Commit the revert of ``sha`` in the working copy (not pushed); the new commit's SHA."""
        self.apply_revert(sha)
        self.git("commit", "--quiet", "-m", message, doing="commit the revert")
        return self.head()

    def subject(self, sha):
        return self.git("log", "-1", "--format=%s", sha)


# The file a task writes into .git when it clones a working copy: a copy that carries it is
# the collection's own, which sync() resets and cleans whatever it holds (PlatformRepo.own).
OWN_MARKER = "gitops-progressive"
OWN_MARKER_TEXT = ("This working copy was cloned by gitops.progressive. Its tasks bring it to the remote branch with "
                   "git reset --hard and git clean -fdx, losing any change made here.\n")

# Lock files git leaves in .git when it is killed; ref locks (refs/**/*.lock) come on top.
GIT_LOCK_FILES = ("index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock",
                  "ORIG_HEAD.lock", "FETCH_HEAD.lock")

# The working copies this process holds (lock path -> [thread, depth]): flock is per open
# file, so a second flock by the same thread would wait for itself.
_HELD = {}
_HELD_GUARD = threading.Lock()


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_in(root, relative):
    """The absolute path of ``relative`` in the working copy at ``root``.

    Refused (GitError naming the path) when it leaves the working copy, enters ``.git``,
    or goes through a symbolic link inside the working copy: a link committed to the
    repository must not make a write (or a read that is written back) land elsewhere
    on the controller. A link *to* the working copy itself is fine."""
    full = os.path.normpath(os.path.join(root, relative))
    if not _inside(full, root):
        raise GitError("path %r leaves the repository %s" % (relative, root))
    inside = os.path.relpath(full, root)
    parts = [] if inside == os.curdir else inside.split(os.sep)
    if any(part.lower() == ".git" for part in parts):
        raise GitError("path %r is inside .git, not in the repository's tree" % relative)
    current = root
    for part in parts:
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise GitError("path %r goes through the symbolic link %s (to %s) in the repository; "
                           "files are only written and read through real directories" % (
                               relative, os.path.relpath(current, root), os.readlink(current)))
    if not _inside(os.path.realpath(full), os.path.realpath(root)):
        raise GitError("path %r leaves the repository %s once links are resolved" % (relative, root))
    return full


def link_problems(workdir, paths):
    """``paths`` (``[(option, relative path)]``) that an existing working copy at ``workdir``
    would refuse (:func:`resolve_in`: a symbolic link on the way, ``.git``), before any git
    command runs. A link the sync brings is still refused when the file is reached."""
    root = os.path.abspath(os.path.expanduser(workdir))
    if not os.path.isdir(os.path.join(root, ".git")):
        return []
    problems = []
    for option, relative in paths:
        try:
            resolve_in(root, relative)
        except GitError as error:
            problems.append("%s: %s" % (option, error))
    return problems


def git_processes_using(workdir):
    """PIDs of running git processes working in ``workdir`` (their current directory or
    an absolute argument inside it); None when processes cannot be listed (no /proc)."""
    if not os.path.isdir("/proc/self"):
        return None
    roots = {os.path.abspath(workdir), os.path.realpath(workdir)}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = [arg.decode("utf-8", "replace") for arg in handle.read().split(b"\0") if arg]
        except OSError:
            continue  # gone, or not ours to read
        program = os.path.basename(argv[0]) if argv else ""
        if program != "git" and not program.startswith("git-"):
            continue
        try:
            places = [os.readlink("/proc/%s/cwd" % entry)]
        except OSError:
            places = []
        places += [arg for arg in argv[1:] if os.path.isabs(arg)]
        if any(_inside(os.path.normpath(place), root) for place in places for root in roots):
            found.append(int(entry))
    return found


def write_files(repo, files, remove=(), seed_files=None):
    """Write ``{path: text}``, ``seed_files`` where missing, and delete ``remove`` (files
    or directories) in the working copy; the paths that changed."""
    changed = []
    seeds = {path: text for path, text in (seed_files or {}).items() if not os.path.exists(repo.path(path))}
    for relative, text in sorted(dict(files, **seeds).items()):
        full = repo.path(relative)
        current = None
        if os.path.exists(full):
            with open(full) as handle:
                current = handle.read()
        if current == text:
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        changed.append(relative)
    for relative in remove:
        inside = os.path.normpath(relative)
        if inside in (".", os.pardir) or inside.startswith(os.pardir + os.sep) or inside.split(os.sep)[0] == ".git":
            raise GitError("remove: %r is not a path in the repository's tree" % relative)
        full = repo.path(relative)
        if os.path.isfile(full):
            os.unlink(full)
            changed.append(relative)
        elif os.path.isdir(full):
            try:
                shutil.rmtree(full)
            except OSError as error:
                raise GitError("remove: cannot delete %r: %s" % (relative, error))
            changed.append(relative)
    return changed


def edit_kustomizations(repo, ensure=None, drop=None):
    """Register (``ensure``) and unregister (``drop``) entries of kustomization files,
    ``{path: {list: [entry]}}``; the paths that changed (see :mod:`.edit`)."""
    changed = []
    for relative in sorted(set(ensure or {}) | set(drop or {})):
        full = repo.path(relative)
        current = None
        if os.path.exists(full):
            with open(full) as handle:
                current = handle.read()
        text = current
        if relative in (drop or {}):
            text, _dropped = drop_kustomization_entries(text, drop[relative], where=relative)
        if relative in (ensure or {}):
            text, _added = ensure_kustomization_entries(text, ensure[relative], where=relative,
                                                        directory=os.path.dirname(os.path.normpath(relative)))
        if text is None or text == current:
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        changed.append(relative)
    return changed


ANCESTRY_TIMEOUT = 10


def at_or_after(commit, git_dir, runner=subprocess.run):
    """A revision test for Flux waits: true when a revision (``main@sha1:…``) is ``commit``
    or a descendant of it in the repository at ``git_dir`` (bare or working copy).

    Another writer may push after ``commit`` (a second cluster laying the repository out,
    image automation, a release); Flux then applies the later commit, which holds this one.
    A commit ``git_dir`` does not know is not accepted (yet). ``commit`` must be a SHA.
    """
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit or ""):
        raise GitError("revision %r is not a commit SHA; a later commit can only be recognised from a SHA" % commit)
    from ansible_collections.gitops.progressive.plugins.module_utils.flux.objects import commit_of, revision_matches

    def accepts(revision_text):
        if revision_matches(revision_text, commit):
            return True
        applied = commit_of(revision_text)
        if not applied:
            return False
        try:
            result = runner(["git", "--git-dir", git_dir, "merge-base", "--is-ancestor", commit, applied],
                            capture_output=True, text=True, timeout=ANCESTRY_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False  # asked again at the next event, within the wait's own deadline
        return result.returncode == 0

    accepts.__name__ = "%s or a later commit" % commit[:12]
    return accepts


PUSH_ATTEMPTS = 3
# After a push that timed out: how often, and how far apart, the remote branch is read back.
PUSH_CONFIRM_LOOKS, PUSH_CONFIRM_PAUSE = 5, 1.0


def _push_race(error):
    """Whether a failed push lost a race (the branch moved since the fetch)."""
    text = str(error)
    return any(mark in text for mark in ("[rejected]", "fetch first", "non-fast-forward", "failed to update ref"))


def commit_and_push(repo, build, message_for, attempts=PUSH_ATTEMPTS, lock_timeout=LOCK_TIMEOUT, on_commit=None):
    """Make one change to the branch: under ``repo.locked()``, bring the working copy to
    the remote head (``repo.sync()``), call ``build(repo)``, commit and push.

    ``build(repo)`` edits the working copy (through ``repo.path``) and returns what it
    changed, or something falsy when the branch already holds the change. ``message_for``
    is the commit message, or a function of what ``build`` returned that gives it.

    When the push loses a race with another writer (GitError ``race``), everything is done
    again from the new head, up to ``attempts`` times in all: ``build`` must therefore
    compute its change from the working copy it is given, not from an earlier attempt's.
    Returns the pushed commit's SHA, or None when ``build`` changed nothing. Any other
    failure is raised as it is (a GitError, or what ``build`` raises).

    ``lock_timeout`` bounds the wait for another task's hold on the working copy (the
    caller's time budget); ``on_commit(sha)`` is told each commit before it is pushed, so a
    caller interrupted during the push still knows what may have landed.
    """
    with repo.locked(lock_timeout):
        for attempt in range(1, attempts + 1):
            repo.sync()
            change = build(repo)
            if not change or not repo.dirty():
                return None
            commit = repo.commit(message_for(change) if callable(message_for) else message_for)
            if on_commit is not None:
                on_commit(commit)
            try:
                repo.push()
            except GitError as error:
                if not error.race:
                    raise
                if attempt == attempts:
                    raise GitError("push to %s lost the race with other writers %d times in a row; last: %s" % (
                        redact(repo.url, ()), attempts, error), race=True)
                continue
            return commit
    return None


def revert_and_push(repo, sha, message, attempts=PUSH_ATTEMPTS, lock_timeout=LOCK_TIMEOUT, on_commit=None):
    """Revert commit ``sha`` on the remote branch's current head and push it, with
    ``message``; redone on the new head when the push loses a race (the revert is computed
    from the commit itself, so it means the same on any head). Returns the revert commit's
    SHA, or None when the branch no longer holds any of ``sha``'s changes. A revert that
    conflicts with later commits is a GitError (the working copy is cleaned up)."""
    return commit_and_push(repo, lambda working_copy: working_copy.apply_revert(sha), message, attempts,
                           lock_timeout=lock_timeout, on_commit=on_commit)


def update_tree(repo, message, files=None, remove=(), seed_files=None, ensure=None, drop=None,
                check_mode=False, want_diff=False, attempts=PUSH_ATTEMPTS):
    """Bring the branch to hold ``files`` (and the rest, see :func:`write_files` and
    :func:`edit_kustomizations`) in one commit, pushed; nothing when it already does.

    Done by :func:`commit_and_push`: under the working copy's lock, and redone from the new
    head when the push loses a race with another writer (two clusters laying the same
    repository out, a release); the edits are declarative, so redoing them on top of the
    other commit is what the caller asked. Returns ``{changed, changed_files, commit[, diff]}``.
    """
    prepared = {}

    def build(working_copy):
        prepared.update(head=working_copy.git("rev-parse", "--verify", "--quiet", "HEAD", quiet=True) or "",
                        diff=None)
        changed = write_files(working_copy, files or {}, remove, seed_files)
        changed = sorted(set(changed).union(edit_kustomizations(working_copy, ensure, drop)))
        prepared["changed_files"] = changed
        if changed and want_diff:
            working_copy.git("add", "--all")
            prepared["diff"] = working_copy.git("diff", "--cached")
        return changed

    if check_mode:
        with repo.locked():
            repo.sync()
            build(repo)
            repo.sync()  # the working copy back to the remote's state (also for a new, empty one)
        commit = None
    else:
        commit = commit_and_push(repo, build, message, attempts)
    result = dict(changed=bool(prepared["changed_files"]), changed_files=prepared["changed_files"],
                  commit=commit or prepared["head"])
    if result["changed"] and want_diff:
        result["diff"] = dict(prepared=prepared["diff"])
    return result


def git_argument_spec():
    """Options every task that works on the platform repository takes."""
    return dict(
        repo_url=dict(type="str", required=True),
        branch=dict(type="str", default="main"),
        git_username=dict(type="str", default="git"),
        git_password=dict(type="str", no_log=True),
        workdir=dict(type="path"),
        author_name=dict(type="str", default="gitops.progressive"),
        author_email=dict(type="str", default="gitops-progressive@localhost"),
        git_ssh_key=dict(type="str", no_log=True),
        git_ssh_key_file=dict(type="path"),
        git_known_hosts=dict(type="str"),
    )


GIT_URL_SCHEMES = ("http", "https", "file")
# A known_hosts line: optional marker, host patterns, key type, base64 key, optional comment.
_KNOWN_HOST = re.compile(r"^(?:@(?:cert-authority|revoked)\s+)?\S+\s+(?:ssh-[a-z0-9-]+|ecdsa-sha2-nistp\d+|"
                         r"sk-[a-z0-9@.-]+)(?:-cert-v01@openssh\.com)?\s+[A-Za-z0-9+/]+={0,2}(?:\s.*)?$")
# git refuses these in an identity (line breaks, which would forge a header of the commit, are
# among the hidden characters below).
_IDENTITY_FORBIDDEN = re.compile(r"[<>]")


def check_git_options(inputs, params):
    """The platform repository's options (:func:`git_argument_spec`) into ``inputs`` (inputs.py),
    before git runs: the address (no credentials: they belong in git_password), the branch
    as git accepts it, the identity of the commits, and the working copy."""
    url = params.get("repo_url")
    if is_ssh_url(url):
        check_ssh_options(inputs, params)
    elif isinstance(url, str) and url.startswith("ssh://"):
        inputs.add(["repo_url is not an SSH address git takes (ssh://[user@]host[:port]/path; a password does not "
                    "belong in it, the deploy key authenticates): %s" % redact(url, ())])
    else:
        inputs.url("repo_url", url, schemes=GIT_URL_SCHEMES, credentials_option="git_password")
        for option in ("git_ssh_key", "git_ssh_key_file", "git_known_hosts"):
            if params.get(option) not in (None, ""):
                inputs.add(["%s is for an SSH repo_url (ssh://host/path or user@host:path); %s is not one"
                            % (option, redact(str(url), ()))])
    if inputs.branch("branch", params.get("branch")) and params["branch"] == "HEAD":
        inputs.add(["branch may not be HEAD: name the branch Flux follows, such as main"])
    username = params.get("git_username")
    if username is not None and (not isinstance(username, str) or not username or ":" in username
                                 or _IDENTITY_FORBIDDEN.search(username) or hidden_characters(username)):
        inputs.add(["git_username must be a user name without ':', '<', '>', control or format characters (HTTP "
                    "basic authentication), got %s" % (type(username).__name__ if not isinstance(username, str)
                                                       else repr(username[:80]))])
    password = params.get("git_password")
    if password is not None and (not isinstance(password, str)
                                 or any(unicodedata.category(char) == "Cc" for char in password)):
        inputs.add(["git_password must be text without control characters (line breaks, DEL; it is sent in an "
                    "HTTP header); its value is not shown"])
    for option in ("author_name", "author_email"):
        value = params.get(option)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or _IDENTITY_FORBIDDEN.search(value) \
                or hidden_characters(value) or len(value) > 256:
            shown = value[:80] if isinstance(value, str) else value
            inputs.add(["%s must be one line of at most 256 characters without '<', '>', control or format "
                        "characters (git writes it into every commit), got %r" % (option, shown)])
    workdir = params.get("workdir")
    if workdir is not None and inputs.add(workdir_problems("workdir", workdir)) and isinstance(url, str):
        inputs.add(foreign_workdir_problems("workdir", workdir, url))


def check_ssh_options(inputs, params):
    """An SSH repository: the host key pinned (known_hosts lines), one way to the key at most, and
    no password (SSH authenticates with the key)."""
    known = params.get("git_known_hosts")
    lines = [line.strip() for line in known.splitlines() if line.strip() and not line.strip().startswith("#")] \
        if isinstance(known, str) else []
    if not lines:
        inputs.add(["git_known_hosts is required with an SSH repo_url: the server's host key, pinned (known_hosts "
                    "lines, such as ssh-keyscan prints them, checked against the server's own), so that git never "
                    "trusts a key it first sees"])
    elif hidden_characters(known, allowed="\n\t") or not all(_KNOWN_HOST.match(line) for line in lines):
        bad = next((line for line in lines if not _KNOWN_HOST.match(line)), "")
        inputs.add(["git_known_hosts must be known_hosts lines (hosts, key type, base64 key), got %r" % bad[:80]])
    key, key_file = params.get("git_ssh_key"), params.get("git_ssh_key_file")
    if key not in (None, "") and key_file not in (None, ""):
        inputs.add(["git_ssh_key and git_ssh_key_file are mutually exclusive: give the deploy key one way"])
    if key not in (None, "") and (not isinstance(key, str) or "PRIVATE KEY-----" not in key
                                  or hidden_characters(key, allowed="\n\r\t")):
        inputs.add(["git_ssh_key must be a private key in OpenSSH or PEM form (-----BEGIN ... PRIVATE KEY-----); "
                    "its value is not shown"])
    if key_file not in (None, "") and not os.path.isfile(os.path.expanduser(str(key_file))):
        inputs.add(["git_ssh_key_file %s is not a file" % key_file])
    if params.get("git_password") not in (None, ""):
        inputs.add(["git_password is for an HTTP(S) repo_url; over SSH the deploy key (git_ssh_key or "
                    "git_ssh_key_file) authenticates"])


# System directories a working copy (and the lock file beside it) never goes in or under.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
                "/usr")


def workdir_problems(option, workdir):
    """A ``workdir`` the task may clone into, reset and clean (``git reset --hard``, ``git clean
    -fdx``), with its lock file beside it (``<workdir>.lock``): checked before anything is
    created. Not the root, the home directory, a directory right under the root (its lock file
    would go in ``/``) or anything in a system directory (/etc, /usr, ...); not a file; and
    when it exists, empty or a git working copy (:func:`foreign_workdir_problems` then checks
    it is one of the same repository, and :meth:`PlatformRepo.sync` that a copy it did not
    clone holds no unsaved work). Links are resolved first (``//``, ``/tmp/../etc``, a link to
    /etc)."""
    if not isinstance(workdir, str) or not workdir.strip():
        return ["%s must be a directory for the working copy, got %r" % (option, workdir)]
    hidden = hidden_characters(workdir)
    if hidden:
        return ["%s may not hold line breaks, control or format characters (%s): %s" % (
            option, hidden, repr(workdir[:80]))]
    full = os.path.realpath(os.path.expanduser(workdir))
    tree = next((tree for tree in SYSTEM_TREES if _inside(full, tree)), None)
    if tree is not None:
        return ["%s %s is in the system directory %s: give the working copy a directory of its own" % (
            option, full, tree)]
    if full == os.sep or full == os.path.realpath(os.path.expanduser("~")) or os.path.dirname(full) == os.sep:
        return ["%s may not be %s (given as %r): the task resets and cleans the working copy (git clean -fdx) and "
                "keeps its lock file beside it; give it a directory of its own, such as ~/platform-checkout"
                % (option, full, workdir[:80])]
    if os.path.lexists(full) and not os.path.isdir(full):
        return ["%s %s exists and is not a directory" % (option, full)]
    if os.path.isdir(full) and not os.path.isdir(os.path.join(full, ".git")):
        try:
            held = sorted(os.listdir(full))
        except OSError as error:
            return ["%s %s cannot be read: %s" % (option, full, error.strerror)]
        if held:
            return ["%s %s holds files and is not a git working copy (%s): the task would clone into it and clean "
                    "it; give an empty or new directory" % (option, full, ", ".join(held[:5]))]
    return []


def _repository_of(url):
    """What names a repository in an address, whatever server serves it: its path, without ``.git``."""
    from ansible.module_utils.six.moves.urllib.parse import urlsplit

    try:
        path = urlsplit(url).path if "://" in url else url
    except ValueError:
        path = url
    path = path.rstrip("/")
    return path[:-4] if path.endswith(".git") else path


def foreign_workdir_problems(option, workdir, url):
    """A ``workdir`` that already holds a working copy of *another* repository: the task would
    point it at ``url``, then reset and clean it, losing whatever it holds. (The same repository
    at a new address, a git server on another port, is fine: the copy is pointed there.)"""
    config = os.path.join(os.path.abspath(os.path.expanduser(workdir)), ".git", "config")
    try:
        with open(config) as handle:
            text = handle.read()
    except OSError:
        return []  # no working copy yet (or not one git made): cloning into it is safe
    found = re.search(r'\[remote "origin"\][^\[]*?^\s*url\s*=\s*(\S+)', text, re.MULTILINE)
    if found is None or _repository_of(found.group(1)) == _repository_of(url):
        return []
    return ["%s %s is a working copy of another repository (%s): the task would reset and clean it (git reset "
            "--hard, git clean -fdx) and lose what it holds; give a directory of its own, or leave workdir unset"
            % (option, workdir, redact(found.group(1), ()))]


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def check_tree_request(params):
    """platform_repo's options, all checked before git runs; InputError naming each problem
    and the repository. Paths are relative, stay out of ``..`` and ``.git`` (where git would
    find commands to run), and go through no symbolic link of the working copy; the local
    paths a kustomization is given stay in the repository's tree; no list or mapping holds
    more than ``inputs.MOST_ENTRIES`` entries."""
    from ansible_collections.gitops.progressive.plugins.module_utils.git.edit import kustomization_entry_problems
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, quote

    inputs = Inputs("platform_repo (repository %s, branch %s)" % (
        quote(params.get("repo_url"), 100), quote(params.get("branch"), 60)))
    check_git_options(inputs, params)
    given = {option: params.get(option) or {} for option in (
        "files", "seed_files", "remove", "kustomizations", "kustomizations_absent")}
    for option, value in given.items():
        if not inputs.add(too_many(option, value)):
            given[option] = {} if isinstance(value, dict) else []
    paths = []
    for option in ("files", "seed_files"):
        for path, text in given[option].items():
            where = "%s[%s]" % (option, quote(path, 100))
            if inputs.repo_path(where, path):
                paths.append((where, path))
            if not isinstance(text, str):
                inputs.add(["%s must be text, got a %s" % (where, type(text).__name__)])
    for index, path in enumerate(given["remove"]):
        where = "remove[%d]" % index
        if inputs.repo_path(where, path):
            paths.append((where, path))
    for option in ("kustomizations", "kustomizations_absent"):
        for path, entries in given[option].items():
            where = "%s[%s]" % (option, quote(path, 100))
            directory = None
            if inputs.repo_path(where, path):
                if os.path.basename(path) not in KUSTOMIZATION_FILES:
                    inputs.add(["%s must name a kustomization file (%s)" % (where, ", ".join(KUSTOMIZATION_FILES))])
                else:
                    paths.append((where, path))
                    # Entries being added must stay in the tree; those taken out may be the bad ones.
                    directory = os.path.dirname(os.path.normpath(path)) if option == "kustomizations" else None
            inputs.add(kustomization_entry_problems(entries, where, directory))
    written = set(os.path.normpath(path) for path in given["files"] if isinstance(path, str) and path)
    for index, path in enumerate(given["remove"]):
        if isinstance(path, str) and path and os.path.normpath(path) in written:
            inputs.add(["remove[%d] %s is also in files: write it or remove it" % (index, quote(path))])
    message = params.get("commit_message")
    if not isinstance(message, str) or not message.strip():
        inputs.add(["commit_message may not be empty or blank"])
    elif hidden_characters(message, allowed="\n\t"):
        inputs.add(["commit_message may not hold control or format characters but line breaks and tabs (%s)"
                    % hidden_characters(message, allowed="\n\t")])
    if not inputs.problems:
        inputs.add(link_problems(params.get("workdir") or default_workdir(params["repo_url"], params["branch"]),
                                 paths))
    inputs.done()


def repo_from_params(params, default_workdir):
    workdir = params.get("workdir") or default_workdir
    return PlatformRepo(params["repo_url"], os.path.expanduser(workdir), branch=params.get("branch") or "main",
                        username=params.get("git_username"), password=params.get("git_password"),
                        author=(params.get("author_name") or "gitops.progressive",
                                params.get("author_email") or "gitops-progressive@localhost"),
                        ssh_key=params.get("git_ssh_key"), ssh_key_file=params.get("git_ssh_key_file"),
                        known_hosts=params.get("git_known_hosts"))


def cache_directory():
    """Where the working copies of tasks that give no ``workdir`` live: the collection's own."""
    return os.path.expanduser("~/.cache/gitops-progressive/git")


def default_workdir(url, branch="main"):
    """A working copy per repository and branch under the user's cache."""
    import hashlib

    digest = hashlib.sha256(("%s#%s" % (url, branch)).encode()).hexdigest()[:12]
    return os.path.join(cache_directory(), digest)
