import base64
import http.client
import json
import os
import subprocess
import threading

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.git import server
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import GitError, PlatformRepo, redact


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_only_the_right_user_and_password_are_authorised():
    assert server.authorised(basic("git", "s3cret"), "git", "s3cret") == "git"
    assert server.authorised(basic("git", "wrong"), "git", "s3cret") is None
    assert server.authorised(None, "git", "s3cret") is None
    assert server.authorised("Basic !!!", "git", "s3cret") is None


def test_a_non_loopback_listen_address_is_refused(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("git:s3cret\n")
    with pytest.raises(ValueError, match="not a loopback address"):
        server.serve(str(tmp_path), "0.0.0.0:0", str(credentials))


def test_cgi_output_is_split_into_status_headers_and_body():
    status, headers, body = server.parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
    assert status == 404 and headers == [("Content-Type", "text/plain")] and body == b"nope"


@pytest.fixture
def git_server(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(root / "platform.git")],
                   check=True)
    credentials = tmp_path / "credentials"
    credentials.write_text("git:s3cret\n")
    hooks = tmp_path / "hooks"
    received = []

    lines = []
    instance = server.serve(str(root), "127.0.0.1:0", str(credentials), str(hooks), log=lines.append)
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance, hooks, received
    instance.shutdown()
    instance.server_close()


def test_nothing_is_served_without_authentication(git_server):
    instance, _hooks, _received = git_server
    connection = http.client.HTTPConnection("127.0.0.1", instance.server_address[1], timeout=5)
    connection.request("GET", "/platform.git/info/refs?service=git-receive-pack")
    assert connection.getresponse().status == 401


def test_clone_commit_push_revert_through_the_server_and_the_hook_is_called(git_server, tmp_path):
    instance, hooks, _received = git_server
    calls = []

    class Hook(server.BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append((self.headers, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook_server = server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook_server.serve_forever, daemon=True).start()
    hooks.write_text("# the Receiver\nhttp://127.0.0.1:%d/hook/abc hook-s3cret\n" % hook_server.server_address[1])
    url = "http://127.0.0.1:%d/platform.git" % instance.server_address[1]

    seed = PlatformRepo(url, str(tmp_path / "seed"), username="git", password="s3cret")
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", seed.workdir], check=True)
    with open(os.path.join(seed.workdir, "a.yaml"), "w") as handle:
        handle.write("a: 1\n")
    seed.git("remote", "add", "origin", url)
    first = seed.commit("first")
    seed.push()

    repo = PlatformRepo(url, str(tmp_path / "work"), username="git", password="s3cret")
    assert repo.sync() == first
    with open(repo.path("a.yaml"), "w") as handle:
        handle.write("a: 2\n")
    second = repo.commit("second")
    repo.push()
    reverted = repo.revert(second, "Revert second")
    repo.push()
    assert seed.sync() == reverted
    with open(seed.path("a.yaml")) as handle:
        assert handle.read() == "a: 1\n"
    for _attempt in range(50):
        if len(calls) >= 3:
            break
        threading.Event().wait(0.1)
    assert len(calls) >= 3
    # GitHub's push events, one per updated ref, each signed with the hook's secret.
    events = []
    for headers, body in calls:
        assert headers["X-GitHub-Event"] == "push" and headers["Content-Type"] == "application/json"
        assert headers["X-Hub-Signature-256"] == server.sign(body, "hook-s3cret")
        events.append(json.loads(body))
    assert [event["after"] for event in events[-3:]] == [first, second, reverted]
    assert events[-1]["before"] == second and events[-1]["ref"] == "refs/heads/main"
    assert events[-1]["repository"]["full_name"] == "platform.git" and events[-1]["pusher"]["name"] == "git"
    hook_server.shutdown()


def test_the_signature_is_githubs_hmac_sha256_of_the_body():
    # GitHub's own example (docs: "Validating webhook deliveries").
    assert server.sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    body, headers = server.webhook_request({"ref": "refs/heads/main"}, "k")
    assert headers["X-Hub-Signature-256"] == server.sign(body, "k") and headers["X-GitHub-Event"] == "push"
    # A hook without a secret is called unsigned; a changed body no longer matches.
    assert "X-Hub-Signature-256" not in server.webhook_request({"ref": "x"})[1]
    assert server.sign(body + b" ", "k") != headers["X-Hub-Signature-256"]


def test_hooks_are_read_with_their_secrets(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.write_text("# comment\n\nhttp://127.0.0.1:1/hook/a s3cret\nhttp://127.0.0.1:2/hook/b\n")
    assert server.read_hooks(str(hooks)) == [("http://127.0.0.1:1/hook/a", "s3cret"), ("http://127.0.0.1:2/hook/b", None)]
    assert server.read_hooks(str(tmp_path / "missing")) == [] and server.read_hooks(None) == []


def test_the_updated_refs_are_read_from_the_receive_pack_request():
    def pkt(text):
        return b"%04x" % (len(text) + 4) + text
    old, new = "a" * 40, "b" * 40
    request = (pkt(("%s %s refs/heads/main\0 report-status side-band-64k\n" % (old, new)).encode())
               + pkt(("%s %s refs/tags/v1\n" % ("0" * 40, new)).encode()) + b"0000PACK...")
    assert server.ref_updates(request) == [(old, new, "refs/heads/main"), ("0" * 40, new, "refs/tags/v1")]
    assert server.ref_updates(b"garbage") == [] and server.ref_updates(b"") == []
    events = server.push_events("platform.git", "git", request)
    assert [(event["ref"], event["repository"]["name"]) for event in events] == [
        ("refs/heads/main", "platform"), ("refs/tags/v1", "platform")]
    # Unreadable: still one event, so the Receiver is still called.
    assert server.push_events("platform.git", "git", b"garbage")[0]["ref"] == ""


def test_a_wrong_password_fails_clearly_and_never_shows_it(git_server, tmp_path):
    instance, _hooks, _received = git_server
    url = "http://127.0.0.1:%d/platform.git" % instance.server_address[1]
    repo = PlatformRepo(url, str(tmp_path / "work"), username="git", password="not-the-password")
    with pytest.raises(GitError) as error:
        repo.sync()
    assert "not-the-password" not in str(error.value) and "clone failed" in str(error.value)


def test_credentials_in_a_url_are_refused_and_redacted():
    with pytest.raises(GitError, match="credentials"):
        PlatformRepo("http://git:s3cret@127.0.0.1/x.git", "/tmp/x")
    assert "s3cret" not in redact("fatal: http://git:s3cret@host/x and s3cret", ["s3cret"])


def test_a_path_outside_the_repository_is_refused(tmp_path):
    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path))
    with pytest.raises(GitError, match="leaves the repository"):
        repo.path("../../etc/passwd")


def test_a_new_empty_repository_gets_its_first_commit_and_seed_files_are_written_once(git_server, tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import write_files

    instance, _hooks, _received = git_server
    url = "http://127.0.0.1:%d/platform.git" % instance.server_address[1]
    repo = PlatformRepo(url, str(tmp_path / "work"), username="git", password="s3cret")
    assert repo.sync() == ""
    assert write_files(repo, {"a.yaml": "a: 1\n"}, seed_files={"seed.yaml": "v: 1\n"}) == ["a.yaml", "seed.yaml"]
    first = repo.commit("first")
    repo.push()
    assert repo.sync() == first
    assert write_files(repo, {"a.yaml": "a: 1\n"}, seed_files={"seed.yaml": "v: 2\n"}) == []


def test_directories_are_removed_and_kustomizations_registered_in_the_working_copy(tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import edit_kustomizations, write_files

    repo = PlatformRepo("http://127.0.0.1/x.git", str(tmp_path))
    (tmp_path / ".git").mkdir()
    files = {"infrastructure/base/releases/flagger/kustomization.yaml": "resources: [release.yaml]\n",
             "infrastructure/base/releases/flagger/release.yaml": "kind: HelmRelease\n"}
    assert write_files(repo, files) == sorted(files)
    index = "infrastructure/base/releases/kustomization.yaml"
    assert edit_kustomizations(repo, ensure={index: {"resources": ["flagger"]}}) == [index]
    assert edit_kustomizations(repo, ensure={index: {"resources": ["flagger"]}}) == []
    assert "- flagger" in (tmp_path / index).read_text()
    assert write_files(repo, {}, remove=["infrastructure/base/releases/flagger"]) == ["infrastructure/base/releases/flagger"]
    assert not (tmp_path / "infrastructure/base/releases/flagger").exists()
    assert edit_kustomizations(repo, drop={index: {"resources": ["flagger"]}}) == [index]
    for root in ("", ".", ".git", ".git/objects", "./.git", "a/../.git"):
        with pytest.raises(GitError, match="not a path in the repository's tree"):
            write_files(repo, {}, remove=[root])


def test_a_push_that_loses_a_race_is_redone_on_the_new_head(git_server, tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import update_tree

    instance, _hooks, _received = git_server
    url = "http://127.0.0.1:%d/platform.git" % instance.server_address[1]
    other = PlatformRepo(url, str(tmp_path / "other"), username="git", password="s3cret")
    assert update_tree(other, "first", {"base.yaml": "a: 1\n"})["changed"]

    class Racing(PlatformRepo):
        raced = 0

        def commit(self, message):
            if not self.raced:  # another writer pushes between this one's fetch and its push
                Racing.raced += 1
                update_tree(other, "the other writer", {"other.yaml": "b: 2\n"})
            return super().commit(message)

    mine = Racing(url, str(tmp_path / "mine"), username="git", password="s3cret")
    result = update_tree(mine, "mine", {"mine.yaml": "c: 3\n"}, ensure={"kustomization.yaml": {"resources": ["mine.yaml"]}})
    assert Racing.raced == 1 and result["changed"]
    assert result["changed_files"] == ["kustomization.yaml", "mine.yaml"]
    other.sync()
    assert other.head() == result["commit"]
    for name in ("base.yaml", "other.yaml", "mine.yaml"):
        assert os.path.exists(other.path(name)), name
    assert update_tree(mine, "again", {"mine.yaml": "c: 3\n"}) == dict(changed=False, changed_files=[], commit=result["commit"])


def test_a_wait_accepts_the_commit_or_a_later_one_that_holds_it(git_server, tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import at_or_after, update_tree

    instance, _hooks, _received = git_server
    url = "http://127.0.0.1:%d/platform.git" % instance.server_address[1]
    repo = PlatformRepo(url, str(tmp_path / "work"), username="git", password="s3cret")
    first = update_tree(repo, "first", {"a.yaml": "a: 1\n"})["commit"]
    second = update_tree(repo, "second", {"b.yaml": "b: 1\n"})["commit"]
    git_dir = os.path.join(repo.workdir, ".git")
    accepts = at_or_after(first, git_dir)
    assert accepts("main@sha1:%s" % first) and accepts("main@sha1:%s" % second)
    assert not at_or_after(second, git_dir)("main@sha1:%s" % first)
    assert not accepts("main@sha1:%s" % ("0" * 40)) and not accepts("") and not accepts("1.41.0")
    assert accepts.__name__ == "%s or a later commit" % first[:12]


def test_the_ancestry_check_refuses_what_is_not_a_sha_and_survives_a_stuck_git(tmp_path):
    import subprocess as sp

    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import at_or_after

    with pytest.raises(GitError, match="not a commit SHA"):
        at_or_after("main", str(tmp_path))

    def stuck(*_args, **_kwargs):
        raise sp.TimeoutExpired("git", 10)

    assert at_or_after("a" * 40, str(tmp_path), runner=stuck)("main@sha1:%s" % ("b" * 40)) is False
