"""git over SSH with a deploy key, against a real sshd (Debian's openssh-server) on 127.0.0.1
whose only command for the deploy key is git-shell, beside the HTTP(S) git server the rest of
the suite uses: platform_repo commits and pushes through it with the key given as text (as an
AWX credential gives it) or as a file, the server's host key pinned; a server whose key is not
the pinned one is refused and nothing is pushed; the key appears in no output, and no key
file is left behind."""

import glob
import json
import os
import subprocess
import tempfile
import time

import pytest
import yaml
from conftest import free_port, run_playbook


def git(*args, cwd=None):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def keygen(path, kind="ed25519"):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)], check=True)
    return path.read_text(), (path.parent / (path.name + ".pub")).read_text().strip()


def listening(port, timeout=20):
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """sshd on 127.0.0.1 (its own config, host key and PID), a bare repository with one commit,
    and a deploy key allowed to run git-shell only."""
    assert os.geteuid() == 0, "the suite runs as root; sshd logs the deploy key in as this user"
    root = tmp_path_factory.mktemp("ssh")
    host_key, host_public = keygen(root / "host_key")
    deploy_key, deploy_public = keygen(root / "deploy_key")
    _other, other_public = keygen(root / "other_host_key")
    (root / "authorized_keys").write_text(
        'command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",restrict %s\n' % deploy_public)
    os.chmod(str(root / "authorized_keys"), 0o600)
    port = free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1", "Port %d" % port, "HostKey %s" % (root / "host_key"),
        "PidFile %s" % (root / "sshd.pid"), "AuthorizedKeysFile %s" % (root / "authorized_keys"),
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "PermitRootLogin prohibit-password", "AllowUsers %s" % os.environ.get("USER", "root"),
        # The test's files are under the world-writable /tmp, which StrictModes refuses.
        "StrictModes no", "AllowTcpForwarding no", "X11Forwarding no", "AllowAgentForwarding no",
        "PermitTTY no", "LogLevel VERBOSE", ""]))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    bare = root / "platform.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    seed = root / "seed"
    git("clone", "-q", "file://%s" % bare, str(seed))
    (seed / "README.md").write_text("platform\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed", "--allow-empty", cwd=str(seed))
    git("add", "README.md", cwd=str(seed))
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "readme", cwd=str(seed))
    git("push", "-q", "origin", "main", cwd=str(seed))
    log = open(str(root / "sshd.log"), "w")
    process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        assert listening(port), (root / "sshd.log").read_text()
        host = "[127.0.0.1]:%d" % port
        yield dict(url="ssh://%s@127.0.0.1:%d%s" % (os.environ.get("USER", "root"), port, bare), bare=str(bare),
                   key=deploy_key, key_file=str(root / "deploy_key"), root=root,
                   known_hosts="%s %s\n" % (host, " ".join(host_public.split()[:2])),
                   wrong_known_hosts="%s %s\n" % (host, " ".join(other_public.split()[:2])), log=root / "sshd.log")
    finally:
        process.terminate()  # by its PID
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def write(server, tmp_path, files, verbose=False, **options):
    tmp_path.mkdir(parents=True, exist_ok=True)
    playbook = tmp_path / ("write-%d.yml" % time.monotonic_ns())
    task = dict(dict(repo_url=server["url"], workdir=str(tmp_path / "work"), files=files,
                     commit_message="ssh test"), **options)
    playbook.write_text(yaml.safe_dump([{"hosts": "sim", "gather_facts": False,
                                         "tasks": [{"name": "Write", "gitops.progressive.platform_repo": task,
                                                    "register": "written"}]}], sort_keys=False))
    run = run_playbook(str(playbook), environ=dict(os.environ, ANSIBLE_VERBOSITY="3") if verbose else None)
    return run


def key_files_left():
    return sorted(glob.glob(os.path.join(tempfile.gettempdir(), "gitops-progressive-ssh-*")))


def test_platform_repo_pushes_over_ssh_with_a_deploy_key_given_as_text(server, tmp_path):
    left = key_files_left()
    head = git("rev-parse", "main", cwd=server["bare"])
    run = write(server, tmp_path, {"apps/staging/over-ssh.yaml": "via: ssh\n"}, verbose=True,
                git_ssh_key=server["key"], git_known_hosts=server["known_hosts"])
    assert run.returncode == 0, (run.failures(), server["log"].read_text()[-2000:])
    result = run.results("Write")[0]
    assert result["changed"] and result["commit"] == git("rev-parse", "main", cwd=server["bare"]) != head
    assert git("show", "main:apps/staging/over-ssh.yaml", cwd=server["bare"]) == "via: ssh"
    # The key's body appears nowhere in what ansible-playbook printed (at -vvv), and no key file is left.
    body = "".join(server["key"].splitlines()[1:-1])
    assert body[:40] not in run.raw.replace("\n", "") and server["key"].splitlines()[1] not in run.raw
    assert key_files_left() == left
    # sshd saw the deploy key (publickey) and ran git-shell's receive-pack for it.
    assert "Accepted publickey" in server["log"].read_text()
    # A second run with the same content: nothing to commit.
    again = write(server, tmp_path, {"apps/staging/over-ssh.yaml": "via: ssh\n"},
                  git_ssh_key=server["key"], git_known_hosts=server["known_hosts"])
    assert again.returncode == 0 and not again.results("Write")[0]["changed"], again.failures()


def test_a_key_file_works_too_and_a_server_whose_host_key_is_not_the_pinned_one_is_refused(server, tmp_path):
    run = write(server, tmp_path, {"apps/staging/from-file.yaml": "via: file\n"},
                git_ssh_key_file=server["key_file"], git_known_hosts=server["known_hosts"])
    assert run.returncode == 0, (run.failures(), server["log"].read_text()[-2000:])
    head = git("rev-parse", "main", cwd=server["bare"])
    refused = write(server, tmp_path / "other", {"apps/staging/mitm.yaml": "x: 1\n"},
                    git_ssh_key=server["key"], git_known_hosts=server["wrong_known_hosts"])
    assert refused.returncode != 0
    message = json.dumps(refused.failures())
    assert "Host key verification failed" in message or "REMOTE HOST IDENTIFICATION HAS CHANGED" in message, message
    assert git("rev-parse", "main", cwd=server["bare"]) == head


def test_ssh_options_are_checked_before_git_runs(server, tmp_path):
    """Without a pinned host key, with a password, or with both key forms: refused naming the
    option, nothing cloned."""
    work = tmp_path / "work"
    for options, named in ((dict(git_ssh_key=server["key"]), "git_known_hosts is required with an SSH repo_url"),
                           (dict(git_ssh_key=server["key"], git_known_hosts=server["known_hosts"],
                                 git_password="hunter2-not-for-output"), "git_password is for an HTTP(S) repo_url"),
                           (dict(git_ssh_key=server["key"], git_ssh_key_file=server["key_file"],
                                 git_known_hosts=server["known_hosts"]), "mutually exclusive"),
                           (dict(git_ssh_key=server["key"], git_known_hosts="not a known_hosts line"),
                            "git_known_hosts must be known_hosts lines")):
        run = write(server, tmp_path, {"x.yaml": "x: 1\n"}, **options)
        assert run.returncode != 0 and named in json.dumps(run.failures()), (options.keys(), run.failures())
        assert "hunter2-not-for-output" not in run.raw
        assert not work.exists()
