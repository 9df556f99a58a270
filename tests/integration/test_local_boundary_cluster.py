"""Another account of this machine cannot reach into the simulated cluster (issue 17).

Loopback is open to every local account, so listening on 127.0.0.1 alone is no boundary.
A second, unprivileged account (``nobody``, through ``setpriv``) tries what any local
process could: read etcd over its client port, in plain HTTP and in TLS without a client
certificate, and read the cluster's keys and kubeconfigs. Every refusal is set against the
same probe succeeding where access exists (root with the etcd client certificate reads the
Secret written through the API; ``nobody`` reads a control file beside the kubeconfig), so
no assertion passes because the probe itself is broken.
"""

import base64
import glob
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import uuid

import pytest
import yaml

NOBODY = 65534
# Runs as the second account, under the system's Python (the project's virtual environment
# lives in root's home, which that account cannot read). Prints what it reached as JSON.
PROBE = r"""
import base64, json, ssl, sys, urllib.request

args = json.loads(sys.argv[1])
body = json.dumps({"key": base64.b64encode(b"/registry/").decode(),
                   "range_end": base64.b64encode(b"/registry0").decode()}).encode()


def etcd(url, context=None):
    try:
        request = urllib.request.Request(url + "/v3/kv/range", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            data = json.loads(response.read())
    except Exception as error:
        return {"read": False, "error": "%s: %s" % (type(error).__name__, error)}
    keys = [base64.b64decode(kv["key"]).decode() for kv in data.get("kvs", [])]
    values = b"".join(base64.b64decode(kv.get("value", "")) for kv in data.get("kvs", []))
    return {"read": True, "keys": keys, "marker_seen": args["marker"].encode() in values}


found = {"plain_http": etcd("http://127.0.0.1:%d" % args["etcd_port"])}
unverified = ssl.create_default_context()
unverified.check_hostname = False
unverified.verify_mode = ssl.CERT_NONE
found["tls_without_client_certificate"] = etcd("https://127.0.0.1:%d" % args["etcd_port"], unverified)
if args.get("client_certificate"):
    context = ssl.create_default_context(cafile=args["ca"])
    context.load_cert_chain(args["client_certificate"], args["client_key"])
    found["tls_with_client_certificate"] = etcd("https://127.0.0.1:%d" % args["etcd_port"], context)
files = {}
for path in args["files"]:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        files[path] = "read"
    except OSError as error:
        files[path] = type(error).__name__
found["files"] = files
print(json.dumps(found))
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                                reason="needs root, setpriv and /usr/bin/python3 to act as a second account")


def probe(arguments, as_nobody=True):
    command = ["/usr/bin/python3", "-c", PROBE, json.dumps(arguments)]
    if as_nobody:
        command = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + command
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture
def cluster(cluster_now):
    """The session cluster, its files, and a state directory the second account can walk into.

    pytest's temporary directories are root's 0700 ones, which would refuse that account
    before the cluster's own modes are ever asked: for the length of the test every
    directory above the state directory (and the state directory itself) lets others pass
    (o+x, not read), as a home directory usually does. Restored afterwards.
    """
    variables = cluster_now["vars"]
    state_dir = os.path.abspath(variables["cluster_state_dir"])
    cluster_dir = os.path.join(state_dir, "kwok", "clusters", variables["cluster_name"])
    opened, path = [], state_dir
    while path != os.path.dirname(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if not mode & stat.S_IXOTH:
            os.chmod(path, mode | stat.S_IXOTH)
            opened.append((path, mode))
        path = os.path.dirname(path)
    control = os.path.join(state_dir, "control-%s.txt" % uuid.uuid4().hex)
    with open(control, "w") as handle:
        handle.write("readable by anyone\n")
    os.chmod(control, 0o644)
    with open(os.path.join(cluster_dir, "kwok.yaml")) as handle:
        saved = [document for document in yaml.safe_load_all(handle)
                 if document and document.get("kind") == "KwokctlConfiguration"][0]
    try:
        yield dict(cluster_now, state_dir=state_dir, cluster_dir=cluster_dir, pki=os.path.join(cluster_dir, "pki"),
                   control=control, etcd_port=saved["options"]["etcdPort"])
    finally:
        os.unlink(control)
        for path, mode in opened:
            os.chmod(path, mode)


@pytest.fixture
def secret(kube):
    """A Secret written through the API, with a value no one else should ever read."""
    import kubernetes

    marker = "boundary-%s" % uuid.uuid4().hex
    name = "boundary-probe-%s" % marker[-8:]
    core = kubernetes.client.CoreV1Api(kube)
    core.create_namespaced_secret("default", {"metadata": {"name": name}, "stringData": {"password": marker}})
    try:
        yield dict(name=name, marker=marker)
    finally:
        core.delete_namespaced_secret(name, "default")


def test_etcd_refuses_another_account_in_plain_http_and_in_tls_without_a_client_certificate(cluster, secret):
    files = dict(files=[], marker=secret["marker"], etcd_port=cluster["etcd_port"])
    # Where access exists the probe reads everything: root with kube-apiserver's client certificate.
    allowed = probe(dict(files, ca=os.path.join(cluster["pki"], "etcd", "ca.crt"),
                         client_certificate=os.path.join(cluster["pki"], "apiserver-etcd-client.crt"),
                         client_key=os.path.join(cluster["pki"], "apiserver-etcd-client.key")), as_nobody=False)
    assert allowed["tls_with_client_certificate"]["read"], allowed
    assert "/registry/secrets/default/%s" % secret["name"] in allowed["tls_with_client_certificate"]["keys"]
    assert allowed["tls_with_client_certificate"]["marker_seen"]

    denied = probe(files)
    # The same port (it answered root just now), nothing read.
    assert not denied["plain_http"]["read"], denied["plain_http"]
    assert not denied["tls_without_client_certificate"]["read"], denied["tls_without_client_certificate"]
    assert "Connection refused" not in json.dumps(denied), denied


def test_the_cluster_keys_and_kubeconfigs_are_the_owners_alone(cluster):
    kubeconfig = cluster["kubeconfig"]
    keys = sorted(glob.glob(os.path.join(cluster["pki"], "**", "*.key"), recursive=True))
    kubeconfigs = [kubeconfig, os.path.join(cluster["cluster_dir"], "kubeconfig.yaml")]
    # Each key kwokctl and the provider use: the CAs', the admin's, the serving and etcd ones.
    assert len(keys) == 7, keys
    for path in keys + kubeconfigs + glob.glob(os.path.join(cluster["pki"], "**", "*.crt"), recursive=True):
        info = os.stat(path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, os.getuid()), path
        directory = os.path.dirname(path)
        if directory != os.path.dirname(kubeconfig):
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
    workdir = os.path.join(cluster["state_dir"], "kwok")
    assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
    for directory, folders, names in os.walk(workdir):
        for name in folders + names:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                assert not stat.S_IMODE(os.lstat(path).st_mode) & 0o077, path

    reached = probe(dict(files=[cluster["control"]] + keys + kubeconfigs, marker="-", etcd_port=cluster["etcd_port"]))
    # The way there is open (the control file beside the kubeconfig is read) ...
    assert reached["files"].pop(cluster["control"]) == "read"
    # ... and nothing of the cluster's is: the kubeconfig by its own mode, the rest also by the 0700 directories.
    assert set(reached["files"].values()) == {"PermissionError"}, reached["files"]


def test_kube_apiserver_serves_with_its_own_key_which_the_kubeconfig_trusts(cluster):
    from cryptography import x509

    with open(cluster["kubeconfig"]) as handle:
        config = yaml.safe_load(handle)
    name = "kwok-%s" % cluster["vars"]["cluster_name"]
    entry = next(item["cluster"] for item in config["clusters"] if item["name"] == name)
    user = next(item["user"] for item in config["users"] if item["name"] == name)
    host, port = entry["server"].split("://", 1)[1].rsplit(":", 1)
    # Verified against the kubeconfig's certificate-authority, host name included.
    context = ssl.create_default_context(cafile=entry["certificate-authority"])
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    with open(user["client-certificate"], "rb") as handle:
        admin = x509.load_pem_x509_certificate(handle.read())
    assert served != admin
    assert served.public_key().public_numbers() != admin.public_key().public_numbers()
    assert served.subject.rfc4514_string() == "CN=kube-apiserver"
    with open(user["client-key"], "rb") as handle:
        admin_key = handle.read()
    with open(os.path.join(cluster["pki"], "kube-apiserver.key"), "rb") as handle:
        serving_key = handle.read()
    assert admin_key != serving_key
    # kube-apiserver was given that key, not the admin's.
    pid = next(pid for pid in cluster["pids"] if _program(pid) == "kube-apiserver")
    arguments = _arguments(pid)
    assert "--tls-private-key-file=%s" % os.path.join(cluster["pki"], "kube-apiserver.key") in arguments
    assert "--etcd-servers=https://127.0.0.1:%d" % cluster["etcd_port"] in arguments
    assert not [argument for argument in arguments if argument.startswith("--tls") and "admin" in argument]


def test_the_kubeconfig_user_still_reaches_the_api_and_etcd_holds_its_writes(cluster, secret, kube):
    """The secured chain works end to end: a Secret written through the API reads back."""
    import kubernetes

    read = kubernetes.client.CoreV1Api(kube).read_namespaced_secret(secret["name"], "default")
    assert base64.b64decode(read.data["password"]).decode() == secret["marker"]


def _arguments(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        return [part.decode() for part in handle.read().split(b"\0") if part]


def _program(pid):
    arguments = _arguments(pid)
    return os.path.basename(arguments[0]) if arguments else ""
