"""PlatformRepo's safety: paths, the working copy's lock, pushes whose outcome is unknown or
lost to another writer, stale git lock files, and changes redone on a new head. Every test
runs git against a bare repository in a temporary directory (file:// URL, no server)."""

import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.git import repo as repo_module
from ansible_collections.gitops.progressive.plugins.module_utils.git.edit import set_value
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import (
    GitError,
    PlatformRepo,
    commit_and_push,
    edit_kustomizations,
    revert_and_push,
    update_tree,
    write_files,
)


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost"] + list(args), cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def remote(tmp_path):
    """A bare repository with one commit holding ``files`` (path -> text, or ("link", target))."""

    def make(files):
        bare = tmp_path / "platform.git"
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)], check=True)
        seed = tmp_path / "seed"
        subprocess.run(["git", "clone", "--quiet", str(bare), str(seed)], check=True, capture_output=True)
        for relative, content in files.items():
            full = seed / relative
            full.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, tuple):
                os.symlink(content[1], str(full))
            else:
                full.write_text(content)
        git(str(seed), "add", "--all")
        git(str(seed), "commit", "--quiet", "-m", "seed")
        git(str(seed), "push", "--quiet", "origin", "HEAD:main")
        return "file://%s" % bare

    return make


def remote_file(url, path, revision="main"):
    return subprocess.run(["git", "--git-dir", url[len("file://"):], "show", "%s:%s" % (revision, path)],
                          check=True, capture_output=True, text=True).stdout


def remote_head(url):
    return subprocess.run(["git", "--git-dir", url[len("file://"):], "rev-parse", "main"],
                          check=True, capture_output=True, text=True).stdout.strip()


def files_of(url, sha):
    return subprocess.run(["git", "--git-dir", url[len("file://"):], "show", "--name-only", "--format=", sha],
                          check=True, capture_output=True, text=True).stdout.split()


# --- paths -----------------------------------------------------------------------------------

def test_a_relative_workdir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = PlatformRepo("http://127.0.0.1/x.git", "work")
    assert repo.workdir == str(tmp_path / "work")
    assert repo.path("apps/staging/kustomization.yaml") == str(tmp_path / "work/apps/staging/kustomization.yaml")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert PlatformRepo("http://127.0.0.1/x.git", "~/copy").workdir == str(tmp_path / "copy")


def test_a_committed_symlink_to_a_directory_outside_is_refused_and_nothing_is_written_there(remote, tmp_path):
    victim = tmp_path / "home-of-the-controller-user"
    victim.mkdir()
    url = remote({"apps/base": ("link", str(victim)), "apps/staging/kustomization.yaml": "resources: []\n"})
    repo = PlatformRepo(url, str(tmp_path / "work"))
    repo.sync()
    with pytest.raises(GitError, match=r"path 'apps/base/podinfo/deployment.yaml' goes through the symbolic link "
                                       r"apps/base \(to %s\)" % victim):
        write_files(repo, {"apps/base/podinfo/deployment.yaml": "kind: Deployment\n"})
    with pytest.raises(GitError, match="apps/base"):
        edit_kustomizations(repo, ensure={"apps/base/kustomization.yaml": {"resources": ["podinfo"]}})
    assert list(victim.iterdir()) == []


def test_a_committed_symlink_as_the_file_itself_is_refused_for_reading_and_writing(remote, tmp_path):
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text("resources: [a]\n")
    url = remote({"apps/staging/kustomization.yaml": ("link", str(secret)),
                  "apps/staging/inside.yaml": ("link", "kustomization.yaml")})
    repo = PlatformRepo(url, str(tmp_path / "work"))
    repo.sync()
    for relative in ("apps/staging/kustomization.yaml", "apps/staging/inside.yaml"):
        with pytest.raises(GitError, match="path %r goes through the symbolic link %s" % (relative, relative)):
            repo.path(relative)
    with pytest.raises(GitError, match="symbolic link"):
        edit_kustomizations(repo, ensure={"apps/staging/kustomization.yaml": {"resources": ["b"]}})
    assert secret.read_text() == "resources: [a]\n"


@pytest.mark.parametrize("relative, message", [
    ("../../etc/passwd", "leaves the repository"),
    ("/etc/passwd", "leaves the repository"),
    (".git/config", "inside .git"),
    ("apps/../.git/hooks/post-checkout", "inside .git"),
    ("apps/.GIT/x", "inside .git"),
])
def test_paths_outside_the_tree_are_refused_naming_the_path(tmp_path, relative, message):
    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "work"))
    with pytest.raises(GitError, match=message) as error:
        repo.path(relative)
    assert repr(relative) in str(error.value)


def test_a_working_copy_reached_through_a_link_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "alias"))
    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "alias"))
    assert write_files(repo, {"apps/a.yaml": "a: 1\n"}) == ["apps/a.yaml"]
    assert (tmp_path / "real/apps/a.yaml").read_text() == "a: 1\n"


# --- the lock --------------------------------------------------------------------------------

def test_the_lock_file_sits_next_to_the_working_copy_owner_only(tmp_path):
    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "cache/git/abc"))
    with repo.locked(timeout=1):
        assert repo.lock_path == str(tmp_path / "cache/git/abc.lock")
        assert stat.S_IMODE(os.stat(repo.lock_path).st_mode) == 0o600


def test_another_process_holding_the_lock_makes_a_task_wait_then_fail_naming_the_working_copy(tmp_path):
    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "work"))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"), repo.lock_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(GitError, match="working copy %s is in use: another task holds its lock" % repo.workdir):
            with repo.locked(timeout=0.5):
                pass
        assert 0.4 < time.monotonic() - started < 5
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    with repo.locked(timeout=5):
        pass  # released with the process


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_between_threads(tmp_path):
    one = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "work"))
    two = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path / "work"))
    outcome = []

    def other_task():
        try:
            with two.locked(timeout=0.3):
                outcome.append("entered")
        except GitError as error:
            outcome.append(str(error))

    with one.locked(timeout=1):
        with two.locked(timeout=1):  # the same thread: no deadlock on its own lock
            thread = threading.Thread(target=other_task)
            thread.start()
            thread.join()
    assert len(outcome) == 1 and "another task holds its lock" in outcome[0]
    thread = threading.Thread(target=other_task)
    thread.start()
    thread.join()
    assert outcome[1] == "entered"


def test_two_tasks_on_one_working_copy_never_put_their_edits_in_one_commit(remote, tmp_path):
    url = remote({"apps/staging/values.yaml": "tag: 1\n", "apps/production/values.yaml": "tag: 1\n"})
    workdir = str(tmp_path / "shared")
    staging_committing = threading.Event()

    class SlowToCommit(PlatformRepo):
        def commit(self, message):
            staging_committing.set()
            time.sleep(1.0)  # the other task runs now, on the same working copy
            return super().commit(message)

    staging, production = SlowToCommit(url, workdir), PlatformRepo(url, workdir)
    results, errors = {}, []

    def release(name, repo):
        try:
            results[name] = update_tree(repo, "Release %s" % name, {"apps/%s/values.yaml" % name: "tag: 2\n"})
        except GitError as error:
            errors.append(str(error))

    first = threading.Thread(target=release, args=("staging", staging))
    first.start()
    assert staging_committing.wait(10)
    second = threading.Thread(target=release, args=("production", production))
    second.start()
    first.join(30)
    second.join(30)
    assert errors == []
    for name in ("staging", "production"):
        assert files_of(url, results[name]["commit"]) == ["apps/%s/values.yaml" % name]
        assert remote_file(url, "apps/%s/values.yaml" % name) == "tag: 2\n"


# --- pushes ------------------------------------------------------------------------------------

class PushTimesOut:
    """A runner whose ``git push`` runs (or not) and then does not answer in time."""

    def __init__(self, lands):
        self.lands = lands
        self.pushes = 0

    def __call__(self, command, **kwargs):
        if command[:2] == ["git", "push"]:
            self.pushes += 1
            if self.lands:
                subprocess.run(command, **kwargs)  # pylint: disable=subprocess-run-check
            raise subprocess.TimeoutExpired(command, kwargs.get("timeout"))
        return subprocess.run(command, **kwargs)  # pylint: disable=subprocess-run-check


def test_a_push_that_timed_out_but_landed_counts_as_pushed(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    repo = PlatformRepo(url, str(tmp_path / "work"), runner=PushTimesOut(lands=True))
    result = update_tree(repo, "change a", {"a.yaml": "a: 2\n"})
    assert result["changed"] and result["commit"] == remote_head(url)
    assert remote_file(url, "a.yaml") == "a: 2\n"


def test_a_push_that_timed_out_and_did_not_land_says_its_outcome_was_checked(remote, tmp_path, monkeypatch):
    from ansible_collections.gitops.progressive.plugins.module_utils.git import repo as repo_module

    monkeypatch.setattr(repo_module, "PUSH_CONFIRM_PAUSE", 0.01)  # the branch is read back 5 times, not for 5 s
    url = remote({"a.yaml": "a: 1\n"})
    before = remote_head(url)
    runner = PushTimesOut(lands=False)
    repo = PlatformRepo(url, str(tmp_path / "work"), runner=runner)
    with pytest.raises(GitError, match="push's outcome was checked for .* s: branch main is at %s, not at .*, so the "
                                       "push could not be confirmed" % before[:12]) as error:
        update_tree(repo, "change a", {"a.yaml": "a: 2\n"})
    assert error.value.timed_out and not error.value.race and runner.pushes == 1
    assert remote_head(url) == before


def test_a_rejected_push_is_reported_as_a_lost_race(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    mine, other = PlatformRepo(url, str(tmp_path / "mine")), PlatformRepo(url, str(tmp_path / "other"))
    mine.sync()
    update_tree(other, "the other writer", {"b.yaml": "b: 1\n"})
    write_files(mine, {"a.yaml": "a: 2\n"})
    mine.commit("mine")
    with pytest.raises(GitError, match="rejected|fetch first|non-fast-forward") as error:
        mine.push()
    assert error.value.race and not error.value.timed_out
    assert mine.head() == git(mine.workdir, "rev-parse", "origin/main")  # the local commit is undone


def test_commit_and_push_redoes_the_whole_change_on_the_new_head_after_a_lost_race(remote, tmp_path):
    url = remote({"log.yaml": "- base\n"})
    mine, other = PlatformRepo(url, str(tmp_path / "mine")), PlatformRepo(url, str(tmp_path / "other"))
    builds = []

    def build(repo):
        if not builds:  # another writer pushes between this attempt's sync and its push
            update_tree(other, "other", {"log.yaml": "- base\n- other\n"})
        path = repo.path("log.yaml")
        with open(path) as handle:
            text = handle.read()
        builds.append(text)
        with open(path, "w") as handle:
            handle.write(text + "- mine\n")
        return ["log.yaml"]

    commit = commit_and_push(mine, build, lambda changed: "append to %s" % ", ".join(changed))
    assert builds == ["- base\n", "- base\n- other\n"]
    assert commit == remote_head(url) and remote_file(url, "log.yaml") == "- base\n- other\n- mine\n"
    assert git(mine.workdir, "log", "-1", "--format=%s", commit) == "append to log.yaml"
    assert commit_and_push(mine, lambda repo: [], "nothing") is None


def test_commit_and_push_gives_up_after_its_attempts_with_a_race_error(remote, tmp_path):
    url = remote({"a.yaml": "a: 0\n"})
    mine, other = PlatformRepo(url, str(tmp_path / "mine")), PlatformRepo(url, str(tmp_path / "other"))
    count = []

    def build(repo):
        count.append(1)
        update_tree(other, "other %d" % len(count), {"other.yaml": "n: %d\n" % len(count)})
        write_files(repo, {"a.yaml": "a: 1\n"})
        return ["a.yaml"]

    with pytest.raises(GitError, match="lost the race with other writers 2 times in a row") as error:
        commit_and_push(mine, build, "mine", attempts=2)
    assert error.value.race and len(count) == 2


ENV = """# podinfo's environment in staging
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  template:
    spec:
      containers:
        - name: podinfo
          env:
            - name: ERROR_FRACTION   # percent of 5xx
              value: "0"
            - name: LATENCY_MS
              value: "0"
"""
ENV_PATH = "spec.template.spec.containers[name=podinfo].env[name=%s].value"


def set_in(repo, path, value):
    """One value released the plain way (sync, edit, commit, push); the commit."""
    repo.sync()
    full = repo.path("apps/staging/podinfo-env.yaml")
    with open(full) as handle:
        text, _changes = set_value(handle.read(), path, value, where="apps/staging/podinfo-env.yaml")
    with open(full, "w") as handle:
        handle.write(text)
    commit = repo.commit("set %s" % path)
    repo.push()
    return commit


def test_a_value_commit_is_one_line_and_its_revert_applies_after_a_later_commit_to_the_file(remote, tmp_path):
    url = remote({"apps/staging/podinfo-env.yaml": ENV})
    ours, theirs = PlatformRepo(url, str(tmp_path / "ours")), PlatformRepo(url, str(tmp_path / "theirs"))
    release = set_in(ours, ENV_PATH % "ERROR_FRACTION", "75")
    assert git(ours.workdir, "show", "--numstat", "--format=", release) == "1\t1\tapps/staging/podinfo-env.yaml"
    set_in(theirs, ENV_PATH % "LATENCY_MS", "5")
    ours.sync()
    reverted = ours.revert(release, "Revert the release")
    ours.push()
    assert reverted == remote_head(url)
    assert remote_file(url, "apps/staging/podinfo-env.yaml") == ENV.replace(
        '- name: LATENCY_MS\n              value: "0"', '- name: LATENCY_MS\n              value: "5"')


def test_revert_and_push_is_redone_on_the_new_head_after_a_lost_race(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    mine, other = PlatformRepo(url, str(tmp_path / "mine")), PlatformRepo(url, str(tmp_path / "other"))
    bad = update_tree(mine, "bad", {"a.yaml": "a: 2\n"})["commit"]
    reverts = []

    class Racing(PlatformRepo):
        def apply_revert(self, sha):
            if not reverts:
                update_tree(other, "unrelated", {"b.yaml": "b: 1\n"})
            reverts.append(sha)
            return super().apply_revert(sha)

    reverted = revert_and_push(Racing(url, mine.workdir), bad, "Revert bad")
    assert reverts == [bad, bad] and reverted == remote_head(url)
    assert remote_file(url, "a.yaml") == "a: 1\n" and remote_file(url, "b.yaml") == "b: 1\n"
    assert git(mine.workdir, "log", "-1", "--format=%s", reverted) == "Revert bad"


def test_a_revert_that_conflicts_fails_naming_the_commit_and_leaves_a_clean_copy(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    mine = PlatformRepo(url, str(tmp_path / "mine"))
    bad = update_tree(mine, "bad", {"a.yaml": "a: 2\n"})["commit"]
    update_tree(mine, "later", {"a.yaml": "a: 3\n"})
    with pytest.raises(GitError, match="revert of %s failed" % bad[:12]):
        revert_and_push(mine, bad, "Revert bad")
    assert mine.sync() == remote_head(url) and not mine.dirty()


# --- stale git lock files ----------------------------------------------------------------------

def test_sync_removes_the_lock_files_a_killed_git_left(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    repo = PlatformRepo(url, str(tmp_path / "work"))
    head = repo.sync()
    stale = [os.path.join(repo.workdir, ".git", name) for name in (
        "index.lock", "HEAD.lock", "config.lock", "packed-refs.lock", "refs/heads/main.lock",
        "refs/remotes/origin/main.lock")]
    for path in stale:
        open(path, "w").close()
    assert repo.sync() == head
    assert [path for path in stale if os.path.exists(path)] == []


def test_a_lock_file_is_kept_while_a_git_process_works_in_the_copy(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    repo = PlatformRepo(url, str(tmp_path / "work"))
    repo.sync()
    index_lock = os.path.join(repo.workdir, ".git", "index.lock")
    open(index_lock, "w").close()
    running = subprocess.Popen(["git", "cat-file", "--batch"], cwd=os.path.join(repo.workdir, "."),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        # Until the child has exec'd git in the working copy, /proc shows the forked Python:
        # wait for that (bounded) before asking.
        deadline = time.monotonic() + 10
        while running.pid not in repo_module.git_processes_using(repo.workdir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.pid in repo_module.git_processes_using(repo.workdir)
        assert repo.clear_stale_locks() == [] and os.path.exists(index_lock)
    finally:
        running.stdin.close()
        running.wait(timeout=10)
    assert repo.clear_stale_locks() == [index_lock] and not os.path.exists(index_lock)


# --- options checked before git runs (issue 17) ----------------------------------------------

def _working_copy(tmp_path, origin):
    workdir = tmp_path / "checkout"
    (workdir / ".git").mkdir(parents=True)
    (workdir / ".git" / "config").write_text('[core]\n\tbare = false\n[remote "origin"]\n\turl = %s\n'
                                             '\tfetch = +refs/heads/*:refs/remotes/origin/*\n' % origin)
    return str(workdir)


def test_a_working_copy_of_the_same_repository_at_a_new_address_is_used():
    """The git server of the simulated platform gets a new port per session: the copy is pointed there."""
    workdir = "/nonexistent-battery"
    assert repo_module.foreign_workdir_problems("workdir", workdir, "http://127.0.0.1:1/platform.git") == []


def test_a_working_copy_of_another_repository_is_refused_and_one_of_this_at_another_port_is_not(tmp_path):
    workdir = _working_copy(tmp_path, "http://127.0.0.1:18300/platform.git")
    assert repo_module.foreign_workdir_problems("workdir", workdir, "http://127.0.0.1:20417/platform") == []
    problems = repo_module.foreign_workdir_problems("workdir", workdir, "https://git.example/team/site.git")
    assert len(problems) == 1 and "working copy of another repository (http://127.0.0.1:18300/platform.git)" in \
        problems[0]


def test_the_tree_request_names_every_problem_at_once(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError

    params = dict(repo_url="https://git.example/platform.git", branch="main", workdir=str(tmp_path / "wc"),
                  git_username="git", git_password=None, author_name="a", author_email="a@b",
                  files={".git/config": "[core]\n\tfsmonitor = touch /tmp/owned\n", "": "x"}, seed_files={},
                  remove=["."], kustomizations={}, kustomizations_absent={}, commit_message="m")
    with pytest.raises(InputError) as raised:
        repo_module.check_tree_request(params)
    assert "3 problems" in str(raised.value) and "files['.git/config']" in str(raised.value)
    assert "files['']" in str(raised.value) and "remove[0]" in str(raised.value)
    assert not (tmp_path / "wc").exists()


def test_links_in_an_existing_working_copy_are_named_before_git_runs(tmp_path):
    workdir = _working_copy(tmp_path, "https://git.example/platform.git")
    os.symlink(str(tmp_path), os.path.join(workdir, "apps"))
    problems = repo_module.link_problems(workdir, [("files['apps/x']", "apps/x"), ("files['b']", "b")])
    assert len(problems) == 1
    assert problems[0].startswith("files['apps/x']: path 'apps/x' goes through the symbolic link")


# --- the workdir: checked before anything is created; a checkout of one's own loses nothing ---

@pytest.mark.parametrize("workdir,said", [
    ("//", "may not be / (given as '//')"),
    ("/tmp/../", "may not be /"),
    ("/etc", "in the system directory /etc"),
    ("/usr/local/platform", "in the system directory /usr"),
    ("/gitops-checkout", "may not be /gitops-checkout"),
    ("/tmp", "may not be /tmp"),
    ("~", "may not be"),
    ("/tmp/a\u202eb", "control or format characters (U+202E)"),
])
def test_a_workdir_that_is_no_place_for_a_working_copy_is_refused(workdir, said):
    problems = repo_module.workdir_problems("workdir", workdir)
    assert len(problems) == 1 and problems[0].startswith("workdir") and said in problems[0], problems


def test_a_workdir_holding_files_or_being_one_or_a_link_to_etc_is_refused(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine\n")
    os.symlink("/etc", str(tmp_path / "config"))
    assert "holds files and is not a git working copy (notes.txt)" in \
        repo_module.workdir_problems("workdir", str(tmp_path / "project"))[0]
    assert "exists and is not a directory" in \
        repo_module.workdir_problems("workdir", str(tmp_path / "project" / "notes.txt"))[0]
    assert "in the system directory /etc" in repo_module.workdir_problems("workdir", str(tmp_path / "config"))[0]


def test_a_new_an_empty_and_a_working_copy_workdir_are_taken(tmp_path):
    (tmp_path / "empty").mkdir()
    for workdir in (str(tmp_path / "new" / "checkout"), str(tmp_path / "empty"),
                    _working_copy(tmp_path, "https://git.example/platform.git")):
        assert repo_module.workdir_problems("workdir", workdir) == []


def _own_checkout(url, tmp_path):
    """A checkout made by hand, as a user has one: no marker, outside the collection's cache."""
    mine = str(tmp_path / "mine")
    subprocess.run(["git", "clone", "--quiet", url, mine], check=True, capture_output=True)
    return mine


@pytest.mark.parametrize("change,held", [
    (lambda mine: open(os.path.join(mine, "a.yaml"), "w").write("edited\n"), "a.yaml"),
    (lambda mine: open(os.path.join(mine, "draft.yaml"), "w").write("new\n"), "draft.yaml"),
    (lambda mine: open(os.path.join(mine, "build.log"), "w").write("ignored\n"), "build.log"),
])
def test_a_users_checkout_with_unsaved_work_is_refused_and_left_as_it_is(remote, tmp_path, change, held):
    url = remote({"a.yaml": "a: 1\n", ".gitignore": "*.log\n"})
    mine = _own_checkout(url, tmp_path)
    change(mine)
    before = {name: open(os.path.join(mine, name)).read() for name in os.listdir(mine) if name != ".git"}
    with pytest.raises(GitError) as raised:
        PlatformRepo(url, mine).sync()
    assert "workdir %s is a working copy gitops.progressive did not clone" % mine in str(raised.value)
    assert held in str(raised.value) and "git reset --hard and git clean -fdx" in str(raised.value)
    assert {name: open(os.path.join(mine, name)).read() for name in os.listdir(mine) if name != ".git"} == before


def test_a_users_checkout_with_a_commit_the_remote_lacks_is_refused(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    mine = _own_checkout(url, tmp_path)
    (tmp_path / "mine" / "a.yaml").write_text("a: 2\n")
    git(mine, "commit", "--quiet", "-am", "not pushed yet")
    local = git(mine, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="its branch main holds 1 commit"):
        PlatformRepo(url, mine).sync()
    assert git(mine, "rev-parse", "main") == local


def test_a_clean_users_checkout_is_used_and_stays_checked(remote, tmp_path):
    url = remote({"a.yaml": "a: 1\n"})
    mine = _own_checkout(url, tmp_path)
    repo = PlatformRepo(url, mine)
    assert repo.sync() == remote_head(url) and not repo.own()
    (tmp_path / "mine" / "a.yaml").write_text("edited by hand\n")
    with pytest.raises(GitError, match="did not clone"):
        repo.sync()


def test_the_collections_own_copy_is_brought_to_the_branch_whatever_it_holds(remote, tmp_path, monkeypatch):
    """A clone carries the marker; a copy in the cache is the collection's too (made before the marker was)."""
    url = remote({"a.yaml": "a: 1\n"})
    repo = PlatformRepo(url, str(tmp_path / "work"))
    repo.sync()
    assert repo.own() and os.path.isfile(str(tmp_path / "work" / ".git" / repo_module.OWN_MARKER))
    (tmp_path / "work" / "a.yaml").write_text("left by a killed run\n")
    (tmp_path / "work" / "stray.yaml").write_text("x\n")
    repo.sync()
    assert (tmp_path / "work" / "a.yaml").read_text() == "a: 1\n" and not (tmp_path / "work" / "stray.yaml").exists()
    monkeypatch.setattr(repo_module, "cache_directory", lambda: str(tmp_path))
    cached = _own_checkout(url, tmp_path)
    (tmp_path / "mine" / "a.yaml").write_text("left by an older version\n")
    PlatformRepo(url, cached).sync()
    assert (tmp_path / "mine" / "a.yaml").read_text() == "a: 1\n"


def test_hidden_characters_are_named_by_code_point():
    assert repo_module.hidden_characters("Jane \u202eeoD") == "U+202E"
    assert repo_module.hidden_characters("a\u200bb\x1b\n") == "U+000A, U+001B, U+200B"
    assert repo_module.hidden_characters("line\n\ttab", allowed="\n\t") == ""
    assert repo_module.hidden_characters("José Müller 日本") == ""


def test_too_many_entries_is_one_problem():
    assert repo_module.too_many("files", dict.fromkeys(range(1000))) == []
    assert repo_module.too_many("files", dict.fromkeys(range(10000))) == [
        "files has 10000 entries; at most 1000 are taken in one task"]
    assert repo_module.too_many("files", "x" * 5000) == []


def _tree_params(tmp_path, **given):
    params = dict(repo_url="https://git.example/platform.git", branch="main", workdir=str(tmp_path / "wc"),
                  git_username="git", git_password=None, author_name="a", author_email="a@b", files={},
                  seed_files={}, remove=[], kustomizations={}, kustomizations_absent={}, commit_message="m")
    params.update(given)
    return params


def test_local_paths_a_kustomization_is_given_stay_in_the_tree_and_those_taken_out_are_not_judged(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError

    params = _tree_params(tmp_path, kustomizations={"apps/staging/kustomization.yaml": {
        "resources": ["../../../etc", "../base", "../../.git/config", "/etc/passwd", "https://github.com/o/r//x"]}},
        kustomizations_absent={"apps/kustomization.yaml": {"resources": ["../../../old", "/etc/passwd"]}})
    with pytest.raises(InputError) as raised:
        repo_module.check_tree_request(params)
    message = str(raised.value)
    assert "3 problems" in message and "kustomizations['apps/staging/kustomization.yaml'].resources[0] climbs" in \
        message and "resources[2] may not go through git's own directory .git" in message
    assert "resources[3] must be relative to the kustomization's directory" in message
    assert "kustomizations_absent" not in message and not (tmp_path / "wc").exists()


def test_ten_thousand_files_are_one_problem_before_any_is_looked_at(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError

    params = _tree_params(tmp_path, files={"../x%d" % index: 1 for index in range(10000)})
    with pytest.raises(InputError) as raised:
        repo_module.check_tree_request(params)
    assert str(raised.value).endswith(": files has 10000 entries; at most 1000 are taken in one task")


def test_a_commit_message_keeps_its_line_breaks_and_tabs_and_loses_no_other_control(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import InputError

    repo_module.check_tree_request(_tree_params(tmp_path, commit_message="Title\n\n\tbody, José"))
    with pytest.raises(InputError, match=r"commit_message may not hold control or format characters .*U\+202E"):
        repo_module.check_tree_request(_tree_params(tmp_path, commit_message="Title \u202e"))


# --- git over SSH ------------------------------------------------------------------------------
KNOWN = "[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


@pytest.mark.parametrize("url, ssh", [
    ("ssh://git@git.example.com:2222/org/platform.git", True), ("ssh://git.example.com/platform.git", True),
    ("git@github.com:org/platform.git", True), ("git.example.com:platform.git", True),
    ("https://git.example.com/platform.git", False), ("file:///srv/platform.git", False),
    ("/srv/platform.git", False), ("ssh://git:secret@git.example.com/platform.git", False),
])
def test_ssh_addresses_are_told_apart_as_git_does(url, ssh):
    assert repo_module.is_ssh_url(url) is ssh


def problems(**params):
    from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs

    inputs = Inputs("test")
    repo_module.check_git_options(inputs, dict(dict(branch="main", git_username="git"), **params))
    return " | ".join(inputs.problems)


def test_an_ssh_repository_needs_its_host_key_pinned_and_takes_no_password(tmp_path):
    url = "ssh://git@git.example.com:2222/org/platform.git"
    assert problems(repo_url=url, git_ssh_key=KEY, git_known_hosts=KNOWN) == ""
    assert "git_known_hosts is required with an SSH repo_url" in problems(repo_url=url, git_ssh_key=KEY)
    assert "git_known_hosts must be known_hosts lines" in problems(repo_url=url, git_known_hosts="StrictHostKeyChecking no")
    assert "git_password is for an HTTP(S) repo_url" in problems(repo_url=url, git_known_hosts=KNOWN, git_password="x")
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    assert "mutually exclusive" in problems(repo_url=url, git_known_hosts=KNOWN, git_ssh_key=KEY,
                                            git_ssh_key_file=str(key_file))
    assert "is not a file" in problems(repo_url=url, git_known_hosts=KNOWN, git_ssh_key_file=str(tmp_path / "none"))
    shown = problems(repo_url=url, git_known_hosts=KNOWN, git_ssh_key="not a key but a secret")
    assert "git_ssh_key must be a private key" in shown and "not a key but a secret" not in shown
    assert "is not an SSH address" in problems(repo_url="ssh://git:pw@git.example.com/p.git", git_known_hosts=KNOWN)
    assert "git_ssh_key is for an SSH repo_url" in problems(repo_url="https://git.example.com/p.git", git_ssh_key=KEY)


def test_git_runs_ssh_with_the_pinned_keys_and_the_deploy_key_in_private_files_removed_after(tmp_path):
    seen = {}

    def runner(command, env=None, **kwargs):
        ssh = env["GIT_SSH_COMMAND"]
        seen["command"] = ssh
        for option in ("StrictHostKeyChecking=yes", "BatchMode=yes", "GlobalKnownHostsFile=/dev/null",
                       "IdentitiesOnly=yes", "IdentityAgent=none"):
            assert option in ssh
        assert "StrictHostKeyChecking=no" not in ssh and "accept-new" not in ssh
        known = ssh.split("UserKnownHostsFile=")[1].split()[0]
        key = ssh.split(" -i ")[1].split()[0]
        seen["files"] = (known, key)
        for path, text in ((known, KNOWN), (key, KEY + "\n")):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and open(path).read() == text
        assert stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode) == 0o700
        return subprocess.CompletedProcess(command, 0, "", "")

    repo = PlatformRepo("ssh://git@git.example.com:2222/org/platform.git", str(tmp_path / "work"), ssh_key=KEY,
                        known_hosts=KNOWN, runner=runner)
    repo.git("ls-remote", "origin", cwd=str(tmp_path))
    assert not any(os.path.exists(path) for path in seen["files"])
    assert not os.path.exists(os.path.dirname(seen["files"][1]))
    # A failing git names no part of the key.
    failing = PlatformRepo("git@git.example.com:org/platform.git", str(tmp_path / "w2"), ssh_key=KEY, known_hosts=KNOWN,
                           runner=lambda command, **kwargs: subprocess.CompletedProcess(command, 128, "", KEY))
    with pytest.raises(GitError) as error:
        failing.git("fetch", cwd=str(tmp_path))
    assert "PRIVATE KEY" not in str(error.value) and "b3BlbnNzaC1rZXktdjEAAAAA" not in str(error.value)
