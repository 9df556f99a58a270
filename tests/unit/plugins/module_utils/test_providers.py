"""Command lines of the cluster providers, checked without running any cluster.

k3d and minikube need a Docker engine, which the machines here do not have: these
tests check what would be run and how answers are read, nothing more.
"""

import json
import os
import stat

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import providers
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host import process


class Recorder:
    def __init__(self, answers=None):
        self.calls = []
        self.read_only = []
        self.answers = answers or {}

    def __call__(self, argv, env, read_only=False):
        self.calls.append((list(argv), env))
        if read_only:
            self.read_only.append(list(argv))
        for prefix, answer in self.answers.items():
            if " ".join(argv[1:]).startswith(prefix):
                return answer
        return 0, "", ""


def params(**overrides):
    base = dict(name="staging", provider="k3d", kubeconfig="/tmp/kc", state_dir="/tmp/state",
                binaries={}, nodes=2, servers=1, kube_version=None, api_port=None, image=None,
                port_mappings=[], k3s_disable=[], cpus=4, memory="8192", driver="docker",
                tunnel=False, extra_args=[], wait_timeout=120)
    base.update(overrides)
    return base


def test_k3d_create_has_agents_port_mappings_and_writes_the_kubeconfig():
    run = Recorder()
    provider = providers.provider_for(params(port_mappings=["8081:80@loadbalancer"], k3s_disable=["traefik"],
                                             api_port=6551, image="rancher/k3s:v1.33.5-k3s1"), run)
    provider.create()
    create, write = [argv for argv, _env in run.calls]
    assert create[:4] == ["k3d", "cluster", "create", "staging"]
    assert create[create.index("--agents") + 1] == "2"
    assert create[create.index("--port") + 1] == "8081:80@loadbalancer"
    assert create[create.index("--api-port") + 1] == "127.0.0.1:6551"
    assert create[create.index("--k3s-arg") + 1] == "--disable=traefik@server:*"
    assert create[create.index("--image") + 1] == "rancher/k3s:v1.33.5-k3s1"
    assert "--kubeconfig-update-default=false" in create
    # Merged into the file, never --overwrite: the file may hold other clusters.
    assert write == ["k3d", "kubeconfig", "merge", "staging", "--output", "/tmp/kc",
                     "--kubeconfig-merge-default=false", "--kubeconfig-switch-context=false"]
    assert "--overwrite" not in write


def test_two_k3d_clusters_get_their_own_names_and_ports():
    commands = []
    for name, port in (("staging", 6551), ("production", 6552)):
        run = Recorder()
        providers.provider_for(params(name=name, api_port=port), run).create()
        commands.append(run.calls[0][0])
    assert commands[0][3] == "staging" and commands[1][3] == "production"
    assert "127.0.0.1:6551" in commands[0] and "127.0.0.1:6552" in commands[1]


@pytest.mark.parametrize("listing,expected", [
    ([], providers.ABSENT),
    ([{"name": "staging", "serversRunning": 1}], providers.RUNNING),
    ([{"name": "staging", "serversRunning": 0}], providers.STOPPED),
    ([{"name": "production", "serversRunning": 1}], providers.ABSENT),
])
def test_k3d_status_reads_the_cluster_list(listing, expected):
    run = Recorder({"cluster list": (0, json.dumps(listing), "")})
    assert providers.provider_for(params(), run).status() == expected
    # A look-up: it runs in check mode too.
    assert run.read_only == [["k3d", "cluster", "list", "--output", "json"]]


def test_a_failing_command_names_provider_cluster_and_step():
    run = Recorder({"cluster create": (1, "", "Cannot connect to the Docker daemon")})
    with pytest.raises(providers.ProviderError, match=r"k3d cluster 'staging': create failed \(exit 1\): Cannot connect"):
        providers.provider_for(params(), run).create()


def test_minikube_start_sizes_the_machine_and_writes_into_the_kubeconfig():
    run = Recorder()
    provider = providers.provider_for(params(provider="minikube", name="gitops", nodes=1,
                                             kube_version="v1.33.13", cpus=6, memory="12g"), run)
    provider.create()
    (argv, env), = run.calls
    assert argv[:4] == ["minikube", "start", "--profile", "gitops"]
    assert argv[argv.index("--cpus") + 1] == "6"
    assert argv[argv.index("--memory") + 1] == "12g"
    assert argv[argv.index("--kubernetes-version") + 1] == "v1.33.13"
    assert argv[argv.index("--driver") + 1] == "docker"
    assert env["KUBECONFIG"] == "/tmp/kc"


def test_minikube_tunnel_command_and_pidfile():
    provider = providers.provider_for(params(provider="minikube", name="gitops", tunnel=True), Recorder())
    assert provider.tunnel_command() == ["minikube", "tunnel", "--profile", "gitops", "--cleanup"]
    assert provider.tunnel_pidfile == "/tmp/state/minikube-gitops-tunnel.pid"


@pytest.mark.parametrize("profiles,expected", [
    ({"valid": [{"Name": "gitops", "Status": "OK"}]}, providers.RUNNING),
    ({"valid": [{"Name": "gitops", "Status": "Stopped"}]}, providers.STOPPED),
    ({"invalid": [], "valid": []}, providers.ABSENT),
])
def test_minikube_status_reads_the_profile_list(profiles, expected):
    run = Recorder({"profile list": (0, json.dumps(profiles), "")})
    assert providers.provider_for(params(provider="minikube", name="gitops"), run).status() == expected


KWOK_BINARIES = {name: "/cache/%s" % name for name in
                 ("kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}


def test_kwok_create_points_kwokctl_at_the_built_binaries_and_scales_nodes(tmp_path):
    binaries = KWOK_BINARIES
    run = Recorder()
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=binaries, nodes=3,
                                             kube_version="v1.33.13", state_dir=str(tmp_path)), run)
    provider.create()
    (create, env), (scale, _env) = run.calls
    assert create[:2] == ["/cache/kwokctl", "--config"]
    assert create[3:8] == ["create", "cluster", "--name", "sim", "--runtime"]
    assert create[create.index("--runtime") + 1] == "binary"
    assert create[create.index("--kube-apiserver-binary") + 1] == "/cache/kube-apiserver"
    assert create[create.index("--etcd-binary") + 1] == "/cache/etcd"
    assert create[create.index("--kwok-controller-binary") + 1] == "/cache/kwok"
    assert create[create.index("--kubeconfig") + 1] == "/tmp/kc"
    assert env["KWOK_WORKDIR"] == str(tmp_path / "kwok")
    assert env["KWOK_KUBE_VERSION"] == "v1.33.13"
    assert scale == ["/cache/kwokctl", "scale", "node", "--name", "sim", "--replicas", "3"]


def test_kwok_without_binaries_names_what_is_missing():
    provider = providers.provider_for(params(provider="kwok", binaries={"kwokctl": "/k"}), Recorder())
    with pytest.raises(providers.ProviderError, match="no path for etcd, kube-apiserver"):
        provider.create_commands()


def test_kwok_status_is_absent_without_a_cluster_directory(tmp_path):
    provider = providers.provider_for(params(provider="kwok", state_dir=str(tmp_path)), Recorder())
    assert provider.status() == providers.ABSENT


def test_unknown_provider_is_refused():
    with pytest.raises(providers.ProviderError, match="provider must be one of k3d, kwok, minikube"):
        providers.provider_for(params(provider="kind"), Recorder())


def test_kwok_binds_every_component_to_loopback_through_its_configuration(tmp_path):
    run = Recorder()
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), run)
    provider.create()
    create = run.calls[0][0]
    config_path = create[create.index("--config") + 1]
    assert config_path == str(tmp_path / "kwok" / "configs" / "sim.yaml")
    # Not kwokctl's default config path, which it would load into every command by itself.
    assert config_path != str(tmp_path / "kwok" / "kwok.yaml")
    with open(config_path) as handle:
        configuration = json.load(handle)
    assert configuration["kind"] == "KwokctlConfiguration"
    assert configuration["apiVersion"] == "config.kwok.x-k8s.io/v1alpha1"
    assert configuration["options"]["bindAddress"] == "127.0.0.1"
    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o600
    # kwokctl keeps the cluster's private keys under its work directory.
    assert stat.S_IMODE(os.stat(str(tmp_path / "kwok")).st_mode) == 0o700


def test_kwok_create_commands_alone_write_nothing(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path / "state")), Recorder())
    assert provider.create_commands()[0][0][1:3] == ["--config", str(tmp_path / "state" / "kwok" / "configs" / "sim.yaml")]
    assert not os.path.exists(str(tmp_path / "state"))


def test_kwok_delete_removes_its_configuration(tmp_path):
    run = Recorder()
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), run)
    provider.write_configuration(PORTS)
    assert provider.delete() == []
    assert not os.path.exists(provider.config_path)
    assert run.calls[-1][0] == ["/cache/kwokctl", "delete", "cluster", "--name", "sim", "--kubeconfig", "/tmp/kc"]


# What kwokctl v0.8.0's binary runtime generates for etcd and kube-apiserver before the
# configuration's componentsPatches apply (pkg/kwokctl/components/etcd.go,
# kube_apiserver.go, native mode, secure port), and how it applies them
# (pkg/kwokctl/runtime/util.go applyComponentPatch): an override replaces the last
# argument with that key, anything else is appended.
KWOKCTL_ETCD_ARGS = [
    "--name=node0", "--auto-compaction-retention=1", "--quota-backend-bytes=8589934592",
    "--data-dir=/w/clusters/sim/etcd", "--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
    "--listen-peer-urls=http://127.0.0.1:{peer}", "--advertise-client-urls=http://127.0.0.1:{port}",
    "--listen-client-urls=http://127.0.0.1:{port}", "--initial-cluster=node0=http://127.0.0.1:{peer}",
]
KWOKCTL_APISERVER_ARGS = [
    "--etcd-prefix=/registry", "--allow-privileged=true", "--etcd-servers=http://127.0.0.1:{port}",
    "--authorization-mode=Node,RBAC", "--bind-address=127.0.0.1", "--secure-port=32764",
    "--tls-cert-file={pki}/admin.crt", "--tls-private-key-file={pki}/admin.key", "--client-ca-file={pki}/ca.crt",
    "--service-account-key-file={pki}/admin.key", "--proxy-client-cert-file={pki}/admin.crt",
]


PORTS = dict(etcdPeerPort=32002, etcdPort=32001, kubeApiserverPort=32003, kwokControllerPort=32004,
             kubeControllerManagerPort=32005, kubeSchedulerPort=32006)


def kwokctl_applies(configuration, component, args):
    args = list(args)
    for patch in configuration["componentsPatches"]:
        if patch["name"] != component:
            continue
        for extra in patch["extraArgs"]:
            argument = "--%s=%s" % (extra["key"], extra["value"])
            if extra.get("override"):
                matches = [index for index, arg in enumerate(args) if arg.startswith("--%s=" % extra["key"])]
                assert matches, "kwokctl has no --%s to override (it would only warn)" % extra["key"]
                args[matches[-1]] = argument
            else:
                args.append(argument)
    return args


def flag(args, key):
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith("--%s=" % key)]
    # Go's flag packages take the last; there must be one, so nothing depends on that.
    assert len(values) == 1, (key, values)
    return values[0]


def test_kwok_etcd_serves_tls_only_and_asks_every_client_for_a_certificate(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    configuration = provider.kwokctl_configuration(PORTS)
    assert configuration["options"] == dict(PORTS, bindAddress="127.0.0.1")
    pki = provider.pki_dir
    etcd = kwokctl_applies(configuration, "etcd",
                           [arg.format(port=32001, peer=32002) for arg in KWOKCTL_ETCD_ARGS])
    assert not [arg for arg in etcd if "http://" in arg], etcd
    assert flag(etcd, "listen-client-urls") == flag(etcd, "advertise-client-urls") == "https://127.0.0.1:32001"
    assert flag(etcd, "listen-peer-urls") == flag(etcd, "initial-advertise-peer-urls") == "https://127.0.0.1:32002"
    assert flag(etcd, "initial-cluster") == "node0=https://127.0.0.1:32002"
    assert flag(etcd, "client-cert-auth") == flag(etcd, "peer-client-cert-auth") == "true"
    # Its own CA: no certificate of the cluster CA (the admin's) is an etcd client.
    assert flag(etcd, "trusted-ca-file") == flag(etcd, "peer-trusted-ca-file") == pki + "/etcd/ca.crt"
    assert flag(etcd, "cert-file") == pki + "/etcd/server.crt"
    assert flag(etcd, "key-file") == pki + "/etcd/server.key"
    assert os.path.isabs(pki)


def test_kwok_apiserver_reaches_etcd_with_a_client_certificate_and_serves_with_its_own_key(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    pki = provider.pki_dir
    apiserver = kwokctl_applies(provider.kwokctl_configuration(PORTS), "kube-apiserver",
                                [arg.format(port=32001, pki=pki) for arg in KWOKCTL_APISERVER_ARGS])
    assert flag(apiserver, "etcd-servers") == "https://127.0.0.1:32001"
    assert flag(apiserver, "etcd-cafile") == pki + "/etcd/ca.crt"
    assert flag(apiserver, "etcd-certfile") == pki + "/apiserver-etcd-client.crt"
    assert flag(apiserver, "etcd-keyfile") == pki + "/apiserver-etcd-client.key"
    assert flag(apiserver, "tls-cert-file") == pki + "/kube-apiserver.crt"
    assert flag(apiserver, "tls-private-key-file") == pki + "/kube-apiserver.key"
    # Clients are still checked against the cluster CA, which the kubeconfigs trust.
    assert flag(apiserver, "client-ca-file") == pki + "/ca.crt"
    # kwokctl v0.8.0 gives kwok --manage-all-nodes=true (no selector in its configuration): a real
    # node's pods would be faked. kwok manages the nodes kwokctl made, by their annotation.
    kwok = kwokctl_applies(provider.kwokctl_configuration(PORTS), "kwok-controller",
                           ["--manage-all-nodes=true", "--tls-cert-file=%s/admin.crt" % pki,
                            "--tls-private-key-file=%s/admin.key" % pki])
    assert kwok == ["--manage-all-nodes=false", "--tls-cert-file=%s/kwok-controller.crt" % pki,
                    "--tls-private-key-file=%s/kwok-controller.key" % pki,
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"]


def load_certificate(path):
    from cryptography import x509

    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def signed_by(cert, ca):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return True


def usages(cert):
    from cryptography import x509

    return {oid._name for oid in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}


def test_kwok_create_writes_the_keys_kwokctl_keeps_owner_only_before_it_runs(tmp_path):
    from cryptography import x509

    seen = {}

    def run(argv, env, read_only=False):
        if argv[3:5] == ["create", "cluster"]:
            # What is on disk when kwokctl starts: its pki directory exists, so it generates nothing.
            seen["files"] = sorted(os.listdir(provider.pki_dir))
            with open(argv[2]) as handle:
                seen["configuration"] = json.load(handle)
        return 0, "", ""

    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), run)
    provider.create()
    pki = provider.pki_dir
    assert "ca.crt" in seen["files"] and "admin.key" in seen["files"] and "etcd" in seen["files"]
    # Every file the configuration names exists.
    named = [extra["value"] for patch in seen["configuration"]["componentsPatches"] for extra in patch["extraArgs"]
             if extra["value"].startswith(pki)]
    assert len(named) == 13 and all(os.path.isfile(path) for path in named), named
    for directory, folders, files in os.walk(pki):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600, name
            assert os.stat(os.path.join(directory, name)).st_uid == os.getuid()

    ca, etcd_ca = load_certificate(pki + "/ca.crt"), load_certificate(pki + "/etcd/ca.crt")
    admin, serving = load_certificate(pki + "/admin.crt"), load_certificate(pki + "/kube-apiserver.crt")
    assert signed_by(serving, ca) and signed_by(admin, ca)
    assert serving.public_key().public_numbers() != admin.public_key().public_numbers()
    assert usages(serving) == {"serverAuth"} and usages(admin) == {"clientAuth"}
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # Loopback for the machine's clients, the kubernetes Service's address for a real node's pods.
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.0.1"]
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert admin.subject.rfc4514_string() == "CN=kwok-admin,O=system:masters"
    etcd_client, etcd_server = load_certificate(pki + "/apiserver-etcd-client.crt"), load_certificate(pki + "/etcd/server.crt")
    assert signed_by(etcd_client, etcd_ca) and signed_by(etcd_server, etcd_ca)
    assert not signed_by(admin, etcd_ca) and not signed_by(etcd_client, ca)
    assert usages(etcd_client) == {"clientAuth"}


def test_kwok_a_pki_left_by_a_failed_create_is_made_anew(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    os.makedirs(provider.pki_dir)
    with open(provider.pki_path("ca.crt"), "w") as handle:
        handle.write("kwokctl's own, from a create that failed half way\n")
    provider.create()
    load_certificate(provider.pki_path("ca.crt"))
    assert os.path.isfile(provider.pki_path("kube-apiserver.key"))


def test_kwok_ports_are_picked_as_kwokctl_would_and_skip_other_clusters(tmp_path, monkeypatch):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    other = os.path.join(provider.workdir, "clusters", "other")
    os.makedirs(other)
    with open(os.path.join(other, "kwok.yaml"), "w") as handle:
        handle.write("kind: KwokctlConfiguration\noptions:\n  etcdPort: 32766\n  kubeApiserverPort: 32765\n")
    # In use: 32764 on loopback, 32762 on every address (kwokctl asks both).
    taken = {("127.0.0.1", 32764), ("", 32762)}
    monkeypatch.setattr(process, "bindable", lambda host, port: (host, port) not in taken)
    # In kwokctl's order, so that kwokctl itself has none left to pick (it would pick etcd's again).
    assert provider.pick_ports() == dict(etcdPeerPort=32763, etcdPort=32761, kubeApiserverPort=32760,
                                         kwokControllerPort=32759, kubeControllerManagerPort=32758,
                                         kubeSchedulerPort=32757)
    # api_port is the user's: not picked, and no other component gets it.
    provider.params["api_port"] = 32761
    assert provider.pick_ports() == dict(etcdPeerPort=32763, etcdPort=32760, kwokControllerPort=32759,
                                         kubeControllerManagerPort=32758, kubeSchedulerPort=32757)


def test_kwok_ports_are_free_ones(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    ports = provider.pick_ports()
    assert len(set(ports.values())) == 6 and all(10000 < port <= 32766 for port in ports.values())
    for port in ports.values():
        assert process.bindable("127.0.0.1", port) and process.bindable("", port)


def test_kwok_create_and_start_leave_the_work_directory_owner_only(tmp_path):
    outside = tmp_path / "cache" / "etcd"
    outside.parent.mkdir()
    outside.write_text("#!/bin/sh\n")
    outside.chmod(0o755)

    def kwokctl(argv, env, read_only=False):
        # As kwokctl v0.8.0 writes them: directories 0750, files 0640, keys 0644, links to the binaries.
        cluster = provider.cluster_dir
        for directory in ("logs", "pids", "bin"):
            os.makedirs(os.path.join(cluster, directory), exist_ok=True)
            os.chmod(os.path.join(cluster, directory), 0o750)
        for name, mode in (("kubeconfig.yaml", 0o640), ("logs/etcd.log", 0o640), ("pki/admin.key", 0o644)):
            with open(os.path.join(cluster, name), "w") as handle:
                handle.write("x")
            os.chmod(os.path.join(cluster, name), mode)
        if not os.path.islink(os.path.join(cluster, "bin", "etcd")):
            os.symlink(str(outside), os.path.join(cluster, "bin", "etcd"))
        return 0, "", ""

    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path / "state")), kwokctl)
    os.makedirs(provider.workdir)
    os.chmod(provider.workdir, 0o755)
    for step in (provider.create, provider.start):
        step()
        modes = {os.path.relpath(os.path.join(directory, name), provider.workdir):
                 stat.S_IMODE(os.lstat(os.path.join(directory, name)).st_mode)
                 for directory, folders, files in os.walk(provider.workdir) for name in folders + files
                 if not os.path.islink(os.path.join(directory, name))}
        assert stat.S_IMODE(os.stat(provider.workdir).st_mode) == 0o700
        assert modes["clusters/sim/pki/admin.key"] == modes["clusters/sim/kubeconfig.yaml"] == 0o600
        assert modes["clusters/sim/logs/etcd.log"] == 0o600 and modes["clusters/sim/bin"] == 0o700
        assert all(mode & 0o077 == 0 for mode in modes.values()), modes
        # A link's target is not the cluster's: the built binary keeps its mode.
        assert stat.S_IMODE(outside.stat().st_mode) == 0o755


def saved(provider, etcd_args):
    import yaml

    os.makedirs(provider.cluster_dir, exist_ok=True)
    with open(os.path.join(provider.cluster_dir, "kwok.yaml"), "w") as handle:
        yaml.safe_dump({"kind": "KwokctlConfiguration", "options": {"bindAddress": "127.0.0.1"},
                        "components": [{"name": "etcd", "args": etcd_args}]}, handle)


def test_kwok_a_cluster_created_with_plain_etcd_is_named_in_a_warning(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    saved(provider, [arg.format(port=32001, peer=32002) for arg in KWOKCTL_ETCD_ARGS])
    assert provider.saved_etcd_secured() is False
    assert any("runs etcd without TLS and client certificates" in line for line in provider.warnings())
    secured = kwokctl_applies(provider.kwokctl_configuration(PORTS), "etcd",
                              [arg.format(port=32001, peer=32002) for arg in KWOKCTL_ETCD_ARGS])
    saved(provider, secured)
    assert provider.saved_etcd_secured() is True
    assert provider.warnings() == []
    saved(provider, [arg for arg in secured if arg != "--client-cert-auth=true"])
    assert provider.saved_etcd_secured() is False


def test_kwok_create_fails_when_kwokctl_started_etcd_without_client_certificates(tmp_path):
    def kwokctl(argv, env, read_only=False):
        if argv[3:5] == ["create", "cluster"]:
            # A kwokctl that ignored the patches.
            saved(provider, [arg.format(port=32001, peer=32002) for arg in KWOKCTL_ETCD_ARGS])
        return 0, "", ""

    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), kwokctl)
    with pytest.raises(providers.ProviderError, match="did not start etcd with TLS and client-certificate"):
        provider.create()


class Nodes:
    def __init__(self, count):
        self.counted = count

    def count(self):
        return self.counted


def test_kwok_reconcile_nodes_scales_only_on_a_different_count(tmp_path):
    run = Recorder()
    provider = providers.provider_for(params(provider="kwok", name="sim", nodes=3, binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), run)
    assert provider.reconcile_nodes(Nodes(3), check_mode=False) == []
    assert run.calls == []
    scale = ["/cache/kwokctl", "scale", "node", "--name", "sim", "--replicas", "3"]
    assert provider.reconcile_nodes(Nodes(2), check_mode=True) == [scale]
    assert run.calls == []
    assert provider.reconcile_nodes(Nodes(2), check_mode=False) == [scale]
    assert [argv for argv, _env in run.calls] == [scale]


@pytest.mark.parametrize("provider_name", ["k3d", "minikube"])
def test_k3d_and_minikube_nodes_are_set_at_creation_only(provider_name):
    run = Recorder()
    provider = providers.provider_for(params(provider=provider_name), run)
    assert provider.reconcile_nodes(Nodes(7), check_mode=False) == []
    assert run.calls == []


@pytest.mark.parametrize("provider_name,entries", [
    ("kwok", {"clusters": ["kwok-staging"], "contexts": ["kwok-staging"], "users": ["kwok-staging"]}),
    ("k3d", {"clusters": ["k3d-staging"], "contexts": ["k3d-staging"], "users": ["admin@k3d-staging"]}),
    ("minikube", {"clusters": ["staging"], "contexts": ["staging"], "users": ["staging"]}),
])
def test_each_provider_names_the_kubeconfig_entries_it_writes(provider_name, entries):
    assert providers.provider_for(params(provider=provider_name), Recorder()).kubeconfig_entries() == entries


def test_kwok_pids_are_the_live_recorded_ones(tmp_path):
    provider = providers.provider_for(params(provider="kwok", name="sim", state_dir=str(tmp_path)), Recorder())
    pids = tmp_path / "kwok" / "clusters" / "sim" / "pids"
    pids.mkdir(parents=True)
    process.write_pidfile(str(pids / "self.pid"), os.getpid())
    (pids / "gone.pid").write_text("%d 1\n" % os.getpid())
    assert provider.pids() == [os.getpid()]


def test_k3d_runs_no_local_process_and_minikube_only_its_tunnel(tmp_path):
    assert providers.provider_for(params(), Recorder()).pids() is None
    assert providers.provider_for(params(provider="minikube", state_dir=str(tmp_path)), Recorder()).pids() is None


def test_provider_error_is_a_collection_error():
    assert issubclass(providers.ProviderError, CollectionError)


def test_kwok_creates_wait_for_one_another_and_the_wait_is_bounded(tmp_path, monkeypatch):
    import fcntl

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    run = Recorder()
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path), wait_timeout=1), run)
    locks = tmp_path / "home" / ".cache" / "gitops-progressive" / "locks"
    locks.mkdir(parents=True)
    lock = locks / "kwokctl.lock"
    with open(str(lock), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CollectionError, match="another kwok cluster on this machine"):
            provider.create()
        assert run.calls == []
    provider.create()
    assert [argv[3] for argv, _env in run.calls[:1]] == ["create"]


def test_the_kwokctl_lock_is_never_opened_through_a_link(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    locks = tmp_path / "home" / ".cache" / "gitops-progressive" / "locks"
    locks.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    (locks / "kwokctl.lock").symlink_to(target)
    provider = providers.provider_for(params(provider="kwok", name="sim", binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path), wait_timeout=1), Recorder())
    with pytest.raises(OSError):
        with provider.ports_lock():
            pass
    assert not target.exists()


# kwokctl's PID files hold a PID only (kwok v0.8.0, pkg/kwokctl/runtime/exec.go): which
# process it is must be established from /proc before anything is signalled.

@pytest.fixture
def children():
    started = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def kwok_cluster(tmp_path, name="sim"):
    provider = providers.provider_for(params(provider="kwok", name=name, binaries=KWOK_BINARIES,
                                             state_dir=str(tmp_path)), Recorder())
    os.makedirs(os.path.join(provider.cluster_dir, "pids"))
    with open(os.path.join(provider.cluster_dir, "kwok.yaml"), "w") as handle:
        handle.write("kind: KwokctlConfiguration\n")
    return provider


def start_component(children, provider, component, cwd=None):
    """A process as kwokctl starts one: argv[0] the binary's path, in the cluster's
    directory, its bare PID written to pids/<component>.pid right after the start."""
    import subprocess

    child = subprocess.Popen(["/cache/%s" % component, "60"], executable="/bin/sleep",
                             cwd=cwd or provider.cluster_dir)
    children.append(child)
    with open(os.path.join(provider.cluster_dir, "pids", component + ".pid"), "w") as handle:
        handle.write(str(child.pid))
    return child


def foreign_process(children, provider, component):
    """Some other program that got the PID kwokctl recorded (a reboot, a reused PID)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    children.append(child)
    with open(os.path.join(provider.cluster_dir, "pids", component + ".pid"), "w") as handle:
        handle.write(str(child.pid))
    return child


def still_running(child):
    import time

    time.sleep(0.3)
    return child.poll() is None


def test_kwok_delete_never_signals_a_recorded_pid_that_is_another_program(tmp_path, children):
    provider = kwok_cluster(tmp_path)
    other = foreign_process(children, provider, "etcd")
    assert provider.delete() == []
    assert still_running(other), "a PID kwokctl recorded, now another program's, was signalled"
    assert any("pids/etcd.pid" in line and "%d" % other.pid in line for line in provider.stale)


def test_kwok_a_recorded_pid_of_another_program_is_stale_not_running(tmp_path, children):
    provider = kwok_cluster(tmp_path)
    other = foreign_process(children, provider, "etcd")
    assert provider.pids() == []
    assert provider.status() == providers.STOPPED
    assert any("%d" % other.pid in warning and "stale" in warning for warning in provider.warnings())


def test_kwok_components_it_started_are_identified_and_stopped(tmp_path, children):
    provider = kwok_cluster(tmp_path)
    etcd = start_component(children, provider, "etcd")
    apiserver = start_component(children, provider, "kube-apiserver")
    assert sorted(provider.pids()) == sorted([etcd.pid, apiserver.pid])
    assert provider.status() == providers.RUNNING
    assert sorted(provider.delete()) == sorted([etcd.pid, apiserver.pid])
    assert etcd.wait(5) is not None and apiserver.wait(5) is not None
    assert provider.stale == []


def test_kwok_a_component_older_than_its_pid_file_allows_is_a_reused_pid(tmp_path, children):
    import time

    provider = kwok_cluster(tmp_path)
    etcd = start_component(children, provider, "etcd")
    pidfile = os.path.join(provider.cluster_dir, "pids", "etcd.pid")
    # Written an hour before the process started: the PID was recorded for another process.
    an_hour_ago = time.time() - 3600
    os.utime(pidfile, (an_hour_ago, an_hour_ago))
    assert provider.pids() == [] and provider.delete() == []
    assert still_running(etcd)


def test_kwok_a_component_of_another_cluster_is_not_this_ones(tmp_path, children):
    provider = kwok_cluster(tmp_path)
    elsewhere = tmp_path / "other-cluster"
    elsewhere.mkdir()
    etcd = start_component(children, provider, "etcd", cwd=str(elsewhere))
    assert provider.pids() == [] and provider.delete() == []
    assert still_running(etcd)


def test_kwok_a_pid_file_naming_another_binary_is_stale(tmp_path, children):
    provider = kwok_cluster(tmp_path)
    scheduler = start_component(children, provider, "kube-scheduler")
    os.rename(os.path.join(provider.cluster_dir, "pids", "kube-scheduler.pid"),
              os.path.join(provider.cluster_dir, "pids", "etcd.pid"))
    assert provider.pids() == [] and provider.delete() == []
    assert still_running(scheduler)


def test_kwok_stale_pid_files_are_removed_before_kwokctl_signals_them(tmp_path, children, monkeypatch):
    # kwokctl's own delete and start trust any live PID: a stale file must be gone first.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    provider = kwok_cluster(tmp_path)
    before_start = foreign_process(children, provider, "etcd")
    etcd_pidfile = os.path.join(provider.cluster_dir, "pids", "etcd.pid")
    provider.start()
    assert not os.path.exists(etcd_pidfile) and len(provider.stale) == 1
    before_delete = foreign_process(children, provider, "etcd")
    provider.delete()
    assert not os.path.exists(etcd_pidfile)
    assert still_running(before_start) and still_running(before_delete)


def test_kwok_a_directory_that_only_starts_like_the_clusters_is_another(tmp_path, children):
    provider = kwok_cluster(tmp_path, name="sim")
    sibling = tmp_path / "kwok" / "clusters" / "sim2"
    sibling.mkdir(parents=True)
    etcd = start_component(children, provider, "etcd", cwd=str(sibling))
    assert provider.pids() == [] and still_running(etcd)


def test_minikube_tunnel_gets_the_kubeconfig_but_not_the_operators_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.operator-token")
    monkeypatch.setenv("MINIKUBE_HOME", "/srv/minikube")
    provider = providers.provider_for(params(provider="minikube", name="gitops", state_dir=str(tmp_path)), Recorder())
    environment = process.child_environment(provider.tunnel_env())
    assert environment["KUBECONFIG"] == "/tmp/kc" and environment["MINIKUBE_HOME"] == "/srv/minikube"
    assert "VAULT_TOKEN" not in environment
