# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform repository as a release sees it: a working copy that is brought to the
remote branch, edited (kustomize ``images``, a value at a YAML path), committed, pushed
and, on rollback, reverted.

Everything goes through the ``git`` command. Credentials never reach an argument list,
a remote URL, a message or a file: a password or token is sent as an HTTP
``Authorization`` header through ``GIT_CONFIG_*`` environment variables of the git
process alone, and :func:`redact` takes it out of any git output that is reported.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.git.edit import (
    drop_kustomization_entries,
    ensure_kustomization_entries,
)

GIT_TIMEOUT = 120


class GitError(CollectionError):
    """A git command failed; the message names the repository and the step."""


def redact(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return re.sub(r"(https?://)[^/@\s]+@", r"\1********@", text)


class PlatformRepo:
    """A working copy of ``url`` at ``branch`` in ``workdir``."""

    def __init__(self, url, workdir, branch="main", username=None, password=None, author=None,
                 timeout=GIT_TIMEOUT, runner=subprocess.run):
        if re.match(r"^https?://[^/]*@", url or ""):
            raise GitError("url: put credentials in username/password, not in the URL (it would be logged)")
        self.url, self.workdir, self.branch = url, workdir, branch
        self.username, self.password = username, password
        self.author = author or ("gitops.progressive", "gitops-progressive@localhost")
        self.timeout = timeout
        self.runner = runner

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
        if not self.password:
            return []
        return [self.password, base64.b64encode(("%s:%s" % (self.username or "git", self.password)).encode()).decode()]

    def git(self, *args, doing=None, cwd=None, check=True, quiet=False):
        """git's output; with ``quiet``, None when git exits non-zero (a yes/no question)."""
        try:
            result = self.runner(["git"] + list(args), cwd=cwd or self.workdir, env=self._env(),
                                 capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GitError("git %s: %s did not answer within %d s" % (
                doing or args[0], redact(self.url, self._secrets()), self.timeout))
        except OSError as error:
            raise GitError("git %s: cannot run git: %s" % (doing or args[0], error))
        if quiet and result.returncode != 0:
            return None
        if check and result.returncode != 0:
            raise GitError("git %s failed for %s: %s" % (
                doing or args[0], redact(self.url, self._secrets()),
                redact((result.stderr or result.stdout).strip(), self._secrets())))
        return result.stdout.strip()

    # --- the working copy ----------------------------------------------------------------
    def sync(self):
        """Bring the working copy to the remote branch (clone it the first time); its HEAD,
        or "" when the remote has no such branch yet (a new, empty repository)."""
        if not os.path.isdir(os.path.join(self.workdir, ".git")):
            os.makedirs(os.path.dirname(os.path.abspath(self.workdir)), exist_ok=True)
            self.git("clone", "--quiet", "--no-checkout", self.url, self.workdir, doing="clone",
                     cwd=os.path.dirname(os.path.abspath(self.workdir)))
        else:
            self.git("remote", "set-url", "origin", self.url)
        if not self.git("ls-remote", "--heads", "origin", "refs/heads/%s" % self.branch, doing="ls-remote"):
            self.git("symbolic-ref", "HEAD", "refs/heads/%s" % self.branch)
            self.git("rm", "-r", "--quiet", "--cached", "--ignore-unmatch", ".")
            self.git("clean", "--quiet", "-fdx")
            return ""
        self.git("fetch", "--quiet", "origin", self.branch, doing="fetch")
        # Whatever an earlier run left (edits, a conflicted revert) must not stop this one.
        self.git("revert", "--abort", check=False)
        self.git("checkout", "--quiet", "--force", "-B", self.branch, "origin/%s" % self.branch)
        self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch)
        self.git("clean", "--quiet", "-fdx")
        return self.head()

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
        full = os.path.normpath(os.path.join(self.workdir, relative))
        if not full.startswith(os.path.abspath(self.workdir) + os.sep) and full != os.path.abspath(self.workdir):
            raise GitError("path %r leaves the repository" % relative)
        return full

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
        """Push the branch. A push the server rejects leaves the local commit undone."""
        try:
            self.git("push", "--quiet", "origin", "HEAD:refs/heads/%s" % self.branch, doing="push")
        except GitError:
            self.git("reset", "--quiet", "--hard", "origin/%s" % self.branch, check=False)
            raise

    def revert(self, sha, message):
        try:
            self.git("revert", "--no-edit", "--no-commit", sha, doing="revert")
        except GitError:
            self.git("revert", "--abort", check=False)
            raise
        self.git("commit", "--quiet", "-m", message, doing="commit the revert")
        return self.head()

    def subject(self, sha):
        return self.git("log", "-1", "--format=%s", sha)


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
        full = repo.path(relative)
        inside = os.path.relpath(os.path.realpath(full), os.path.realpath(repo.workdir))
        if inside in (".", os.pardir) or inside.startswith(os.pardir + os.sep) or inside.split(os.sep)[0] == ".git":
            raise GitError("remove: %r is not a path in the repository's tree" % relative)
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
            text, _added = ensure_kustomization_entries(text, ensure[relative], where=relative)
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


def _push_race(error):
    """Whether a failed push lost a race (the branch moved since the fetch)."""
    text = str(error)
    return any(mark in text for mark in ("[rejected]", "fetch first", "non-fast-forward", "failed to update ref"))


def update_tree(repo, message, files=None, remove=(), seed_files=None, ensure=None, drop=None,
                check_mode=False, want_diff=False, attempts=PUSH_ATTEMPTS):
    """Bring the branch to hold ``files`` (and the rest, see :func:`write_files` and
    :func:`edit_kustomizations`) in one commit, pushed; nothing when it already does.

    A push that loses a race with another writer (two clusters laying the same repository
    out, a release) is redone from the new head, up to ``attempts`` times: the edits are
    declarative, so redoing them on top of the other commit is what the caller asked.
    Returns ``{changed, changed_files, commit[, diff]}``.
    """
    for attempt in range(1, attempts + 1):
        head = repo.sync()
        changed_files = write_files(repo, files or {}, remove, seed_files)
        changed_files = sorted(set(changed_files).union(edit_kustomizations(repo, ensure, drop)))
        result = dict(changed=bool(changed_files), changed_files=changed_files, commit=head)
        if not changed_files:
            return result
        repo.git("add", "--all")
        if want_diff:
            result["diff"] = dict(prepared=repo.git("diff", "--cached"))
        if check_mode:
            repo.sync()  # the working copy back to the remote's state (also for a new, empty one)
            return result
        commit = repo.commit(message)
        try:
            repo.push()
        except GitError as error:
            if attempt == attempts or not _push_race(error):
                raise
            continue
        result["commit"] = commit
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
    )


def repo_from_params(params, default_workdir):
    workdir = params.get("workdir") or default_workdir
    return PlatformRepo(params["repo_url"], os.path.expanduser(workdir), branch=params.get("branch") or "main",
                        username=params.get("git_username"), password=params.get("git_password"),
                        author=(params.get("author_name") or "gitops.progressive",
                                params.get("author_email") or "gitops-progressive@localhost"))


def default_workdir(url, branch="main"):
    """A working copy per repository and branch under the user's cache."""
    import hashlib

    digest = hashlib.sha256(("%s#%s" % (url, branch)).encode()).hexdigest()[:12]
    return os.path.join(os.path.expanduser("~/.cache/gitops-progressive/git"), digest)
