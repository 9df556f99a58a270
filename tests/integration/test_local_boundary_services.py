"""What a second local account can do to the platform's services (issue 17).

Loopback keeps other machines out, not other accounts of this machine. Every probe here
runs as ``nobody`` (``setpriv``), a local account with nothing of the platform's, and is
paired with a probe that shows the same request succeeding where access exists, so each
assertion can fail:

- the load tester: any account can send it a command (Flagger's load tester has no
  allowlist), and the command runs as the unprivileged ``gitops-loadtester`` account,
  never as root;
- the Receiver (type ``github``): an unsigned or wrongly signed POST is refused and
  reconciles nothing; the same POST signed with the Receiver's token is accepted, and a
  push still reaches Flux through it;
- the state files (git password, Receiver token, push hooks, artifact storage): 0600 in
  the 0700 state directory (its mode is what denies ``nobody`` first; the files' own modes
  are asserted with ``stat``), in a directory ``nobody`` can enter;
- source-controller's artifact server: readable by any local account (a Flux property,
  documented in the flux role), but not writable.

Flux runs on a cluster of this module's own (a second kwok cluster): the session's
cluster may hold another Flux (test_flux_gitops.py), and its state directory sits in a
directory that ``nobody`` can enter, so that only the platform's own modes can keep it out.
"""

import hashlib
import hmac
import json
import os
import pwd
import shutil
import io
import stat
import subprocess
import tarfile
import tempfile
import time

import pytest
from conftest import assert_ok, cluster_vars, free_block, free_port, run_playbook

NOBODY_UID = 65534
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY_UID, "--regid=%d" % NOBODY_UID, "--clear-groups", "--"]
# The system's Python: the project's virtual environment is under root's home, closed to nobody.
PYTHON = "/usr/bin/python3"

# An HTTP request from another account: the request as JSON on stdin, the answer as JSON
# on stdout (status, body as text). No proxy, nothing of ours in its environment.
HTTP_CLIENT = r"""
import json, sys, urllib.request, urllib.error
spec = json.load(sys.stdin)
data = spec.get("body")
request = urllib.request.Request(spec["url"], data=data.encode() if data is not None else None,
                                 method=spec.get("method", "GET"), headers=spec.get("headers", {}))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    response = opener.open(request, timeout=30)
    status, body = response.status, response.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
except OSError as error:
    status, body = 0, str(error).encode()
print(json.dumps({"status": status, "body": body.decode("latin-1")}))
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists(PYTHON),
                                reason="needs root, setpriv and /usr/bin/python3 to act as a second local account")


def as_nobody(argv, stdin=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    return subprocess.run(AS_NOBODY + argv, input=stdin, capture_output=True, text=True, timeout=120, env=env,
                          cwd="/", check=False)


def http_as_nobody(url, method="GET", body=None, headers=None):
    spec = dict(url=url, method=method, body=body, headers=headers or {})
    done = as_nobody([PYTHON, "-c", HTTP_CLIENT], stdin=json.dumps(spec))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def read_as_nobody(path):
    """``(ok, output)`` of ``cat path`` as nobody."""
    done = as_nobody(["cat", path])
    return done.returncode == 0, done.stdout + done.stderr


# --- the load tester (the session's Flagger platform) ---------------------------------------


def loadtester_pid(platform):
    from ansible_collections.gitops.progressive.plugins.module_utils.host import process

    state = os.path.join(platform["vars"]["cluster_state_dir"], platform["vars"]["cluster_name"], "flagger")
    pid, start_time = process.read_pidfile(os.path.join(state, "loadtester.pid"))
    assert process.is_running(pid, start_time)
    return pid


def status_ids(pid, field):
    with open("/proc/%d/status" % pid) as status:
        line = [text for text in status.read().splitlines() if text.startswith(field + ":")][0]
    return [int(value) for value in line.split()[1:]]


def send_command(platform, command, as_account=True):
    """A bash webhook with its output returned, sent to the load tester by nobody (or root)."""
    payload = dict(name="boundary-probe", namespace="boundary",
                   metadata=dict(type="bash", cmd=command, returnCmdOutput="true"))
    spec = dict(url=platform["loadtester_url"] + "/", method="POST", body=json.dumps(payload),
                headers={"Content-Type": "application/json"})
    if as_account:
        return http_as_nobody(**spec)
    done = subprocess.run([PYTHON, "-c", HTTP_CLIENT], input=json.dumps(spec), capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def test_the_load_tester_process_runs_as_its_unprivileged_account(platform):
    account = pwd.getpwnam("gitops-loadtester")
    pid = loadtester_pid(platform)
    # Real, effective, saved and filesystem uid: none is root's.
    assert status_ids(pid, "Uid") == [account.pw_uid] * 4 and account.pw_uid != 0
    assert status_ids(pid, "Gid") == [account.pw_gid] * 4
    assert status_ids(pid, "Groups") in ([], [account.pw_gid])
    assert status_ids(pid, "NoNewPrivs") == [1]
    assert account.pw_shell.endswith("nologin") and not os.path.exists(account.pw_dir)
    with open("/proc/%d/environ" % pid, "rb") as environ:
        names = {entry.split(b"=", 1)[0].decode() for entry in environ.read().split(b"\0") if entry}
    # A minimal environment: no kubeconfig, no credentials of the operator's.
    assert not names & {"KUBECONFIG", "VAULT_TOKEN", "K8S_AUTH_API_KEY", "SSH_AUTH_SOCK", "TMPDIR"}, names
    assert {"HTTP_PROXY", "PATH", "HOME"} <= names


def test_a_command_any_account_sends_runs_unprivileged_not_as_root(platform):
    account = pwd.getpwnam("gitops-loadtester")
    # The load tester cannot refuse it: another local account's command is run.
    answer = send_command(platform, "id -u; id -G")
    assert answer["status"] == 200, answer
    uid, groups = answer["body"].split("\n")[:2]
    assert int(uid) == account.pw_uid != 0
    assert groups.split() == [str(account.pw_gid)]
    # What root may read, the command may not (it would, run as root: see the next probe).
    denied = send_command(platform, "cat /etc/shadow")
    assert denied["status"] == 500 and "Permission denied" in denied["body"], denied
    root_can = subprocess.run(["cat", "/etc/shadow"], capture_output=True, check=False)
    assert root_can.returncode == 0


def test_the_load_tester_still_answers_flagger_and_its_gates(platform):
    # Flagger's own requests are unchanged: the gates answer as before.
    answer = send_command(platform, "true", as_account=False)
    assert answer["status"] == 200, answer
    spec = dict(url=platform["loadtester_url"] + "/gate/check", method="POST",
                body=json.dumps(dict(name="boundary-probe", namespace="boundary")),
                headers={"Content-Type": "application/json"})
    done = subprocess.run([PYTHON, "-c", HTTP_CLIENT], input=json.dumps(spec), capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout)["status"] == 403  # closed gate


# --- Flux on a cluster of this module's own ------------------------------------------------


FLUX_ONLY = """---
- name: Flux alone beside this module's cluster
  hosts: all
  gather_facts: false
  roles:
    - role: gitops.progressive.flux
"""


@pytest.fixture(scope="module")
def open_parent():
    """A directory nobody may enter and list (0755), for the platform's state."""
    base = tempfile.mkdtemp(prefix="gitops-boundary-", dir="/var/tmp")
    os.chmod(base, 0o755)
    with open(os.path.join(base, "public.txt"), "w") as public:
        public.write("readable by anyone\n")
    os.chmod(os.path.join(base, "public.txt"), 0o644)
    with open(os.path.join(base, "flux.yml"), "w") as playbook:
        playbook.write(FLUX_ONLY)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def boundary_flux(open_parent):
    cluster = cluster_vars(os.path.join(open_parent, "clusters"), "it-boundary", cluster_nodes=1)
    playbook = os.path.join(open_parent, "flux.yml")
    variables = None
    try:
        up = assert_ok(run_playbook("cluster.yml", cluster))
        kubeconfig = up.results("Bring the simulated cluster to the wanted state")[0]["kubeconfig"]
        variables = dict(cluster, cluster_kubeconfig=kubeconfig, flux_state_dir=os.path.join(open_parent, "flux"),
                         flux_git_port=free_port(), flux_events_port=free_port(), flux_receiver_port=free_port(),
                         flux_storage_port=free_port(), flux_chart_port=free_port(),
                         flux_controller_port_base=free_block(8))
        assert_ok(run_playbook(playbook, variables))
        yield dict(vars=variables, state=variables["flux_state_dir"], kubeconfig=kubeconfig)
    finally:
        if variables is not None:
            run_playbook(playbook, dict(variables, flux_state="absent"))
        down = run_playbook("cluster.yml", dict(cluster, cluster_state="absent"))
    assert_ok(down)


def git_repository(flux):
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=flux["kubeconfig"])
    return kubernetes.client.CustomObjectsApi(client).get_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories", "flux-system")


def requested_at(flux):
    return git_repository(flux)["metadata"].get("annotations", {}).get("reconcile.fluxcd.io/requestedAt")


def receiver_hook(flux):
    with open(os.path.join(flux["state"], "push-hooks")) as hooks:
        lines = [line.split() for line in hooks if line.strip()]
    port = ":%d/" % flux["vars"]["flux_receiver_port"]
    url, token = [fields for fields in lines if port in fields[0]][0]
    return url, token


def signed(body, token):
    return "sha256=" + hmac.new(token.encode(), body.encode(), hashlib.sha256).hexdigest()


def post_to_receiver(url, body, signature=None):
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return http_as_nobody(url, method="POST", body=body, headers=headers)


def test_an_unsigned_or_wrongly_signed_post_is_refused_and_reconciles_nothing(boundary_flux):
    url, token = receiver_hook(boundary_flux)
    body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40})
    before = requested_at(boundary_flux)
    for signature in (None, signed(body, "not-the-token"), "sha256=" + "0" * 64):
        answer = post_to_receiver(url, body, signature)
        assert answer["status"] == 400, (signature, answer)
    time.sleep(3)
    assert requested_at(boundary_flux) == before
    # The same request, signed with the Receiver's token, is accepted and reconciles:
    # the refusals above are the signature's doing.
    answer = post_to_receiver(url, body, signed(body, token))
    assert answer["status"] == 200, answer
    deadline = time.monotonic() + 30
    while requested_at(boundary_flux) == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert requested_at(boundary_flux) != before


def test_a_push_still_reaches_flux_through_the_signed_receiver(boundary_flux, tmp_path):
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import PlatformRepo, update_tree

    state = boundary_flux["state"]
    with open(os.path.join(state, "git-credentials")) as credentials:
        user, password = credentials.read().strip().split(":", 1)
    repo = PlatformRepo("http://127.0.0.1:%d/platform.git" % boundary_flux["vars"]["flux_git_port"],
                        str(tmp_path / "work"), username=user, password=password)
    commit = update_tree(repo, "boundary probe", {"boundary/probe.txt": "%f\n" % time.time()})["commit"]
    # The GitRepository's interval is 10 minutes: only the Receiver brings it here this soon.
    deadline = time.monotonic() + 60
    revision = ""
    while time.monotonic() < deadline:
        revision = (git_repository(boundary_flux).get("status", {}).get("artifact") or {}).get("revision", "")
        if revision.endswith(commit):
            break
        time.sleep(0.5)
    assert revision.endswith(commit), revision
    with open(os.path.join(state, "git-server.log")) as log:
        assert "notified a push hook (signed): HTTP 200" in log.read()


def test_the_state_files_are_closed_to_another_account(boundary_flux, open_parent):
    state = boundary_flux["state"]
    # The probe works where access exists: nobody reads a public file beside the state.
    ok, output = read_as_nobody(os.path.join(open_parent, "public.txt"))
    assert ok and "readable by anyone" in output
    secrets = [os.path.join(state, name) for name in ("git-credentials", "receiver-token", "push-hooks")]
    for path in secrets:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        ok, output = read_as_nobody(path)
        assert not ok and "Permission denied" in output, (path, output)
    for path in (state, os.path.join(state, "git"), os.path.join(state, "artifacts")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    listed = as_nobody(["ls", os.path.join(state, "artifacts")])
    assert listed.returncode != 0 and "Permission denied" in listed.stderr


def test_the_artifact_server_serves_any_local_account_as_documented(boundary_flux):
    # A Flux property (roles/flux/meta/argument_specs.yml): source-controller's artifact
    # server has no authentication. Should that change, this test and the documentation go.
    port = boundary_flux["vars"]["flux_storage_port"]
    index = http_as_nobody("http://127.0.0.1:%d/" % port)
    assert index["status"] == 200 and "gitrepository/" in index["body"]
    artifact = git_repository(boundary_flux)["status"]["artifact"]["url"]
    assert artifact.startswith("http://127.0.0.1:%d/" % port)
    download = http_as_nobody(artifact)
    assert download["status"] == 200
    with tarfile.open(fileobj=io.BytesIO(download["body"].encode("latin-1"))) as tarball:
        assert any(name.startswith("clusters/") for name in tarball.getnames())
    # Read-only: a PUT or DELETE changes nothing (Go's file server only ever reads).
    for method in ("PUT", "DELETE"):
        http_as_nobody(artifact, method=method, body="x" if method == "PUT" else None)
    assert http_as_nobody(artifact)["body"] == download["body"]
