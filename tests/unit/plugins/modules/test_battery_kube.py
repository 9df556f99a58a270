"""The input battery of the Kubernetes side: the flux_* modules, linkerd_identity, canary,
canary_info, canary_gate, local_cluster, sim_binaries and sim_image_tag.

Each case is one malformed option (issue 17): the task must fail before it reaches the API
server, a registry, a process or a file, name the option, and show no credential it was
given. The tests after ``CASES`` check that valid options still get past the checks (they
then reach out: the closed world refuses the connection), so the checks are not
over-strict, and that a dangerous selection passes once its consent option is set.
"""

import os
import tempfile

import pytest
from battery import Case, check, kube, run, secrets_of

PASSWORD = "s3cr3t-Battery-PW"
TOKEN = "ghp_0123456789abcdefABCDEF0123456789"
SHA = "0123456789abcdef0123456789abcdef01234567"
LONG = "a" * 64
VERY_LONG = "a" * 254


def _files():
    """A directory to diff (one ConfigMap), one whose YAML is a link out of it, one with broken YAML, a .git."""
    top = tempfile.mkdtemp(prefix="battery-kube-")
    paths = {}
    for name, files in (("good", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}),
                        ("broken", {"cm.yaml": "apiVersion: v1\nkind: [\n"}),
                        ("not-objects", {"cm.yaml": "- just\n- a list\n"}),
                        ("linked", {}), (".git", {"config": "[core]\n"})):
        paths[name] = os.path.join(top, name)
        os.makedirs(paths[name])
        for file_name, text in files.items():
            with open(os.path.join(paths[name], file_name), "w") as handle:
                handle.write(text)
    with open(os.path.join(top, "outside.yaml"), "w") as handle:
        handle.write("apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n")
    os.symlink(os.path.join(top, "outside.yaml"), os.path.join(paths["linked"], "secret.yaml"))
    paths["file"] = os.path.join(paths["good"], "cm.yaml")
    paths["top"] = top
    return paths


FILES = _files()


def options(base, args):
    merged = dict(base, **args)
    return {key: value for key, value in merged.items() if value is not None}


def suspend(why, option, **args):
    return Case("flux_suspend", options(kube(name="apps", namespace="flux-system"), args), option, why)


def reconcile(why, option, **args):
    return Case("flux_reconcile", options(kube(kind="Kustomization", name="apps", namespace="flux-system"), args),
                option, why)


def info(why, option, **args):
    return Case("flux_info", options(kube(kinds=["Kustomization"], namespace="flux-system"), args), option, why)


def diff(why, option, **args):
    return Case("flux_diff", options(kube(path=FILES["good"], kustomization="apps"), args), option, why)


def identity(why, option, **args):
    return Case("linkerd_identity", options(kube(namespace="linkerd"), args), option, why)


CANARY = dict(name="podinfo", namespace="test", target="podinfo", interval="1m", threshold=5, max_weight=50,
              step_weight=10, service_port=9898)


def canary(why, option, **args):
    return Case("canary", options(kube(**CANARY), args), option, why)


def canary_info(why, option, **args):
    return Case("canary_info", options(kube(namespace="test"), args), option, why)


def gate(why, option, **args):
    return Case("canary_gate", options(kube(name="podinfo", namespace="test", action="promote"), args), option, why)


KWOK_BINARIES = {program: "/opt/kwok/bin/%s" % program for program in (
    "kwokctl", "kwok", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")}
CLUSTER = dict(provider="kwok", name="battery", kubeconfig="/tmp/battery-kube/kubeconfig",
               state_dir="/tmp/battery-kube/state", binaries=KWOK_BINARIES)


def cluster(why, option, check_mode=False, **args):
    return Case("local_cluster", options(CLUSTER, args), option, why, check_mode=check_mode)


def binaries(why, option, **args):
    return Case("sim_binaries", options(dict(components=["kwok"]), args), option, why)


IMAGE_TAG = dict(registry_url="http://127.0.0.1:18305", repository="stefanprodan/podinfo", tags=["6.8.0"])


def image_tag(why, option, **args):
    return Case("sim_image_tag", options(IMAGE_TAG, args), option, why)


# Names that select nothing, or everything: each name option of each module gets them.
BAD_NAMES = [("", "empty"), ("Apps", "capitals"), ("apps*", "a wildcard"), ("*", "only a wildcard"),
             ("a..b", "'..'"), ("/etc/passwd", "an absolute path"), (VERY_LONG, "over 253 characters"),
             ("a b", "a space")]
BAD_NAMESPACES = [("", "empty"), ("Flux-System", "capitals"), ("flux_system", "an underscore"), ("*", "a wildcard"),
                  (LONG, "over 63 characters"), ("flux-system.", "a trailing dot")]
BAD_SELECTORS = [([""], "an empty selector"), (["app=*"], "a wildcard value"), (["a b"], "two words"),
                 (["app in ()"], "an empty set"), (["!app=web"], "'!' before a requirement"),
                 (["=web"], "no key"), (["app=%s" % LONG], "a value over 63 characters"),
                 (["app>web"], "'>' with a word")]
BAD_WAITS = [(0, "zero"), (-1, "negative"), (1e11, "1e11 (crashed the wait before)"), (86401, "over a day"),
             ("soon", "not a number")]
BAD_REVISIONS = [("main", "a branch"), ("abc", "a prefix under 7 characters"), ("ABCDEF1234", "capitals"),
                 ("main@sha1:abc", "a truncated sha1"), ("", "empty"), ("6.8.0", "a chart version for a Kustomization"),
                 ("latest", "a word"), ("main@sha1:%s " % SHA, "a trailing space"), ("sha1:%s" % SHA[:39], "39 hex")]

FLUX_SUSPEND = (
    [suspend("name %s" % why, "name", name=value) for value, why in BAD_NAMES]
    + [suspend("namespace %s" % why, "namespace", namespace=value, name=None, all=True)
       for value, why in BAD_NAMESPACES]
    + [suspend("label_selectors %s" % why, "label_selectors", name=None, label_selectors=value)
       for value, why in BAD_SELECTORS]
    + [suspend("wait_timeout %s" % why, "wait_timeout", wait_timeout=value) for value, why in BAD_WAITS]
    + [
        suspend("no name, label or all: every Kustomization in every namespace", "all", name=None, namespace=None),
        suspend("name and namespace both empty", "name", name="", namespace=""),
        suspend("a namespace alone selects all of it only with all", "all", name=None),
        suspend("all with a name", "all", all=True),
        suspend("name with label selectors", "label_selectors", label_selectors=["team=a"]),
        suspend("kinds empty", "kinds", kinds=[]),
        suspend("kinds not Flux", "kinds", kinds=["Deployment"]),
        suspend("kinds a wildcard", "kinds", kinds=["*"]),
        suspend("an ImagePolicy has no spec.suspend", "kinds", kinds=["ImagePolicy"]),
        suspend("kinds as a comma string with a wrong one", "kinds", kinds="Kustomization,Pod"),
        suspend("state not a choice", "state", state="paused"),
        suspend("all not a boolean", "all", all="maybe"),
        suspend("an unknown option", "selector", selector="app=web"),
        suspend("name without namespace", "namespace", namespace=None),
        suspend("a name with a trailing line break", "name", name="apps\n"),
        suspend("a namespace with a trailing line break", "namespace", name=None, namespace="flux-system\n",
                all=True),
        suspend("a label selector with a trailing line break", "label_selectors", name=None,
                label_selectors=["app=web\n"]),
        suspend("a label selector with a tab", "label_selectors", name=None, label_selectors=["app\t=web"]),
        suspend("a set value with a line break", "label_selectors", name=None, label_selectors=["app in (web\n)"]),
        # A selector of absent labels matches every object: across namespaces, flux-system's own sync too.
        suspend("'!nonexistent' in every namespace without all", "all", name=None, namespace=None,
                label_selectors=["!nonexistent"]),
        suspend("'x notin (y)' in every namespace without all", "namespace", name=None, namespace=None,
                label_selectors=["x notin (y)"]),
        suspend("any label selector in every namespace without all", "all", name=None, namespace=None,
                label_selectors=["app=web"], state="resumed"),
    ])

FLUX_RECONCILE = (
    [reconcile("name %s" % why, "name", name=value) for value, why in BAD_NAMES]
    + [reconcile("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES[:4]]
    + [reconcile("revision %s" % why, "revision", revision=value) for value, why in BAD_REVISIONS]
    + [reconcile("wait_timeout %s" % why, "wait_timeout", wait_timeout=value) for value, why in BAD_WAITS]
    + [
        reconcile("kind not Flux", "kind", kind="Deployment"),
        reconcile("kind empty", "kind", kind=""),
        reconcile("no name", "name", name=None),
        reconcile("with_source not a boolean", "with_source", with_source="perhaps"),
        reconcile("an unknown option", "timeout", timeout=30),
        reconcile("a revision with a trailing line break", "revision", revision="main@sha1:%s\n" % SHA),
        reconcile("a commit prefix with a trailing line break", "revision", revision="%s\n" % SHA[:7]),
        reconcile("a chart version with a trailing line break", "revision", kind="HelmRelease",
                  revision="6.8.0\n"),
    ])

FLUX_INFO = (
    [info("name %s" % why, "name", name=value) for value, why in BAD_NAMES[:4]]
    + [info("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES[:4]]
    + [info("label_selectors %s" % why, "label_selectors", label_selectors=value) for value, why in BAD_SELECTORS[:4]]
    + [
        info("kinds empty", "kinds", kinds=[]),
        info("kinds not Flux", "kinds", kinds=["Pod"]),
        info("kinds a wildcard", "kinds", kinds=["*"]),
        info("events negative", "events", events=-1),
        info("events huge", "events", events=10 ** 7),
        info("revision a branch", "revision", revision="main", wait=True),
        info("revision a chart version for Kustomizations", "revision", revision="6.8.0", wait=True),
        info("revision without wait: never checked", "revision", revision=SHA[:7]),
        info("revision_repo empty", "revision_repo", revision_repo="", revision=SHA, wait=True),
        info("revision_repo not a directory", "revision_repo", revision_repo="/nonexistent/platform.git",
             revision=SHA, wait=True),
        info("a revision_repo needs a SHA", "revision", revision="main@sha1:%s" % SHA,
             revision_repo=FILES["top"], wait=True),
        info("wait_timeout 1e11", "wait_timeout", wait_timeout=1e11, wait=True),
        info("name without namespace", "namespace", name="apps", namespace=None),
        info("a label selector with a trailing line break", "label_selectors", label_selectors=["app=web\n"]),
    ])

FLUX_DIFF = [
    diff("path empty", "path", path=""),
    diff("path missing", "path", path="/nonexistent/apps/staging"),
    diff("path in .git", "path", path=FILES[".git"]),
    diff("path a file", "path", path=FILES["file"]),
    diff("path with a YAML file linked out of it", "path", path=FILES["linked"]),
    diff("path with broken YAML", "path", path=FILES["broken"]),
    diff("path with documents that are not objects", "path", path=FILES["not-objects"]),
    diff("kustomization empty", "kustomization", kustomization=""),
    diff("kustomization capitals", "kustomization", kustomization="Apps"),
    diff("kustomization a wildcard", "kustomization", kustomization="apps-*"),
    diff("namespace empty", "namespace", namespace=""),
    diff("namespace capitals", "namespace", namespace="Flux"),
    diff("kustomize_command empty", "kustomize_command", kustomize_command=[]),
    diff("kustomize_command with an empty word", "kustomize_command", kustomize_command=["kustomize", ""]),
    diff("an unknown option", "dry_run", dry_run=True),
]

LINKERD_IDENTITY = (
    [identity("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES]
    + [identity("trust_anchor_secret %s" % why, "trust_anchor_secret", trust_anchor_secret=value)
       for value, why in BAD_NAMES[:4]]
    + [identity("values_secret %s" % why, "values_secret", values_secret=value) for value, why in BAD_NAMES[:4]]
    + [
        identity("one Secret for both", "values_secret", trust_anchor_secret="linkerd-identity",
                 values_secret="linkerd-identity"),
        identity("trust anchor valid 0 days", "trust_anchor_validity_days", trust_anchor_validity_days=0),
        identity("trust anchor valid -1 days", "trust_anchor_validity_days", trust_anchor_validity_days=-1),
        identity("trust anchor valid 1e9 days (overflowed)", "trust_anchor_validity_days",
                 trust_anchor_validity_days=10 ** 9),
        identity("issuer valid 0 days", "issuer_validity_days", issuer_validity_days=0),
        identity("issuer valid 1e9 days", "issuer_validity_days", issuer_validity_days=10 ** 9),
        identity("issuer outlives its anchor", "issuer_validity_days", issuer_validity_days=4000),
        identity("renewed before it was made", "renew_before_days", renew_before_days=365),
        identity("renew_before_days negative", "renew_before_days", renew_before_days=-1),
        identity("renew_before_days huge", "renew_before_days", renew_before_days=10 ** 9),
        identity("days not a number", "trust_anchor_validity_days", trust_anchor_validity_days="ten years"),
        identity("an unknown option", "anchor_days", anchor_days=10),
    ])

CANARY_CASES = (
    [canary("name %s" % why, "name", name=value) for value, why in BAD_NAMES]
    + [canary("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES[:5]]
    + [canary("wait_timeout %s" % why, "wait_timeout", wait_timeout=value) for value, why in BAD_WAITS[:4]]
    + [
        canary("absent without a name", "name", state="absent", name=None),
        canary("absent with a capital name", "name", state="absent", name="Podinfo"),
        canary("absent with an empty namespace", "namespace", state="absent", namespace=""),
        Case("canary", kube(loadtester_url="http://tester:%s@loadtester.test/" % PASSWORD, **CANARY),
             "loadtester_url", "credentials in the load tester's address"),
        canary("loadtester_url not http", "loadtester_url", loadtester_url="ftp://loadtester.test/"),
        canary("loadtester_url not an address", "loadtester_url", loadtester_url="loadtester"),
        Case("canary", kube(webhooks=[{"name": "smoke", "type": "pre-rollout",
                                       "url": "http://tester:%s@loadtester.test/" % PASSWORD}], **CANARY),
             "webhooks", "credentials in a webhook's address"),
        canary("interval in the wrong grammar", "interval", interval="1h30"),
        canary("interval under 10s", "interval", interval="5s"),
        canary("threshold 0", "threshold", threshold=0),
        canary("max_weight over 100", "max_weight", max_weight=1000),
        canary("step_weight 0", "step_weight", step_weight=0),
        canary("step_weights falling", "step_weights", step_weight=None, max_weight=None, step_weights=[50, 10]),
        canary("target with capitals", "target", target="Podinfo"),
        canary("service_port 70000", "service_port", service_port=70000),
        canary("service_port 0", "service_port", service_port=0),
        canary("a metric without a threshold", "metrics[0]", metrics=[{"name": "request-success-rate"}]),
        canary("a metric interval in English", "metrics[0].interval", metrics=[
            {"name": "request-success-rate", "threshold_min": 99, "interval": "5 minutes"}]),
        canary("a provider Flagger does not know", "provider", provider="istoi"),
        canary("a gate that is not one", "gates", gates=["approve"]),
        canary("progress_deadline negative", "progress_deadline", progress_deadline=-1),
        canary("a label key with a space", "labels", labels={"a b": "c"}),
        canary("a label value with a trailing line break", "labels", labels={"app": "web\n"}),
        canary("mirror_weight over 100", "mirror_weight", provider="istio", mirror=True, mirror_weight=101),
        canary("a v1alpha3 definition", "definition", definition={"apiVersion": "flagger.app/v1alpha3"}),
        canary("an unknown field in the definition", "definition", definition={"spec": {"unknown": 1}}),
        canary("a port name in the definition with capitals", "definition",
               definition={"spec": {"service": {"portName": "Http"}}}),
        canary("an unknown option", "analysis", analysis={}),
        canary("a name with a trailing line break", "name", name="podinfo\n"),
        canary("a target with a trailing line break", "target", target="podinfo\n"),
        canary("a provider with a trailing line break (gloo is matched by prefix)", "provider", provider="gloo\n"),
        canary("a webhook address with a line break", "webhooks[0]",
               webhooks=[{"name": "smoke", "type": "pre-rollout", "url": "http://loadtester.test/\nHost: x"}]),
    ])

CANARY_INFO = (
    [canary_info("name %s" % why, "name", name=value) for value, why in BAD_NAMES[:4]]
    + [canary_info("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES[:4]]
    + [canary_info("label_selectors %s" % why, "label_selectors", label_selectors=value)
       for value, why in BAD_SELECTORS[:3]]
    + [
        canary_info("events negative", "events", events=-1),
        canary_info("events huge", "events", events=10 ** 7),
        canary_info("events not a number", "events", events="many"),
        canary_info("name without namespace", "namespace", name="podinfo", namespace=None),
    ])

CANARY_GATE = (
    [gate("name %s" % why, "name", name=value) for value, why in BAD_NAMES[:5]]
    + [gate("namespace %s" % why, "namespace", namespace=value) for value, why in BAD_NAMESPACES[:4]]
    + [gate("wait_timeout %s" % why, "wait_timeout", wait_timeout=value) for value, why in BAD_WAITS]
    + [
        gate("action not a choice", "action", action="approve"),
        gate("no action", "action", action=None),
        gate("loadtester_url not http", "loadtester_url", loadtester_url="ftp://loadtester.test/"),
        gate("loadtester_url without a host, with credentials", "loadtester_url",
             loadtester_url="http://tester:%s@/" % PASSWORD),
        gate("loadtester_url port out of range", "loadtester_url", loadtester_url="http://127.0.0.1:99999/"),
        gate("loadtester_url with a space", "loadtester_url", loadtester_url="http://load tester/"),
        gate("loadtester_url empty", "loadtester_url", loadtester_url=""),
    ])

LOCAL_CLUSTER = (
    [cluster("name %s" % why, "name", name=value) for value, why in BAD_NAMES]
    + [
        cluster("name over 40 characters", "name", name="a" * 41),
        cluster("provider not a choice", "provider", provider="kind"),
        cluster("nodes negative", "nodes", nodes=-1),
        cluster("nodes a million", "nodes", nodes=10 ** 6),
        cluster("servers 0", "servers", provider="k3d", servers=0),
        cluster("servers 100", "servers", provider="k3d", servers=100),
        cluster("cpus 0", "cpus", provider="minikube", cpus=0),
        cluster("cpus 100000", "cpus", provider="minikube", cpus=10 ** 5),
        cluster("api_port 0", "api_port", api_port=0),
        cluster("api_port 70000", "api_port", api_port=70000),
        cluster("port_mappings not a mapping", "port_mappings", provider="k3d", port_mappings=["abc"]),
        cluster("port_mappings port out of range", "port_mappings", provider="k3d",
                port_mappings=["99999:80@loadbalancer"]),
        cluster("memory in words", "memory", provider="minikube", memory="lots"),
        cluster("memory 0", "memory", provider="minikube", memory="0"),
        cluster("driver with a shell", "driver", provider="minikube", driver="docker;rm -rf /"),
        cluster("kube_version a word", "kube_version", kube_version="latest"),
        cluster("image not a reference", "image", provider="k3d", image="Rancher/K3S:v1 33"),
        cluster("k3s_disable empty", "k3s_disable", provider="k3d", k3s_disable=[""]),
        cluster("binaries relative", "binaries", binaries=dict(KWOK_BINARIES, kwokctl="bin/kwokctl")),
        Case("local_cluster", options(CLUSTER, dict(binaries=dict(
            KWOK_BINARIES, etcd="https://mirror:%s@dl.example/etcd.tar.gz#etcd" % PASSWORD))),
            "binaries", "credentials in a download address"),
        cluster("binaries missing for kwok", "binaries", binaries={}),
        cluster("kubeconfig empty", "kubeconfig", kubeconfig=""),
        cluster("state_dir the root", "state_dir", state_dir="/"),
        cluster("state_dir the root written //.", "state_dir", state_dir="//."),
        cluster("state_dir the home directory", "state_dir", state_dir="~"),
        cluster("state_dir /etc", "state_dir", state_dir="/etc"),
        cluster("state_dir /var/ (trailing slash)", "state_dir", state_dir="/var/"),
        cluster("state_dir /usr/../root", "state_dir", state_dir="/usr/../root"),
        cluster("state_dir under /proc", "state_dir", state_dir="/proc/self/kwok"),
        cluster("state_dir relative", "state_dir", state_dir="state"),
        cluster("state_dir in .git", "state_dir", state_dir="/srv/platform/.git/kwok"),
        cluster("kubeconfig the home directory", "kubeconfig", kubeconfig="~/"),
        cluster("kubeconfig /etc", "kubeconfig", kubeconfig="/etc"),
        cluster("kubeconfig relative", "kubeconfig", kubeconfig="kubeconfig"),
        cluster("kubeconfig a directory", "kubeconfig", kubeconfig=FILES["top"]),
        cluster("kubeconfig under /dev", "kubeconfig", kubeconfig="/dev/shm/kubeconfig"),
        cluster("a name with a trailing line break", "name", name="battery\n"),
        cluster("kube_version with a trailing line break", "kube_version", kube_version="v1.33.13\n"),
        cluster("memory with a trailing line break", "memory", provider="minikube", memory="8g\n"),
        cluster("memory MAX (minikube's word is lower case)", "memory", provider="minikube", memory="MAX"),
        cluster("driver with a trailing line break", "driver", provider="minikube", driver="docker\n"),
        cluster("extra_args empty word", "extra_args", extra_args=[""]),
        cluster("wait_timeout 0", "wait_timeout", wait_timeout=0),
        cluster("wait_timeout 1e11", "wait_timeout", wait_timeout=1e11),
        cluster("an unknown option", "workers", workers=3),
    ])

SIM_BINARIES = [
    binaries("jobs 0", "jobs", jobs=0),
    binaries("jobs a million", "jobs", jobs=10 ** 6),
    binaries("progress_interval 0", "progress_interval", progress_interval=0),
    binaries("progress_interval a year", "progress_interval", progress_interval=10 ** 8),
    binaries("kubernetes_version a word", "kubernetes_version", kubernetes_version="latest"),
    binaries("etcd_version without a patch", "etcd_version", etcd_version="v3.5"),
    binaries("registry_version a branch (was never checked)", "registry_version", registry_version="main"),
    binaries("helm3_version with a shell", "helm3_version", helm3_version="v3.22.0; rm -rf ~"),
    binaries("flux_version climbing out", "flux_version", flux_version="../v2.9.3"),
    binaries("kwok_version with a line break", "kwok_version", kwok_version="v0.8.0\n"),
    binaries("flagger_version empty", "flagger_version", flagger_version=""),
    binaries("sources without a version", "sources", sources=["istio.io/api"]),
    binaries("sources at latest", "sources", sources=["istio.io/api@latest"]),
    binaries("sources climbing out", "sources", sources=["../x@v1.0.0"]),
    binaries("components not one", "components", components=["kubelet"]),
    binaries("cache_dir empty", "cache_dir", cache_dir=""),
    binaries("go empty", "go", go=""),
    binaries("an unknown option", "version", version="v1"),
]

SIM_IMAGE_TAG = [
    image_tag("credentials in the registry address", "registry_url",
              registry_url="http://pusher:%s@127.0.0.1:18305" % PASSWORD),
    image_tag("a token in the registry address", "registry_url", registry_url="http://%s@127.0.0.1:18305" % TOKEN),
    image_tag("registry_url not http", "registry_url", registry_url="ftp://127.0.0.1:18305"),
    image_tag("registry_url empty", "registry_url", registry_url=""),
    image_tag("registry_url without a scheme", "registry_url", registry_url="127.0.0.1:18305"),
    image_tag("registry_url port out of range", "registry_url", registry_url="http://127.0.0.1:99999"),
    image_tag("repository with capitals", "repository", repository="Stefan/Podinfo"),
    image_tag("repository empty", "repository", repository=""),
    image_tag("repository with a host and tag", "repository", repository="ghcr.io/x:1"),
    image_tag("repository climbing out", "repository", repository="../podinfo"),
    image_tag("tags empty", "tags", tags=[]),
    image_tag("a tag with a space", "tags", tags=["6.8.0 beta"]),
    image_tag("a tag over 128 characters", "tags", tags=["a" * 129]),
    image_tag("a tag starting with a dot", "tags", tags=[".hidden"]),
    image_tag("a tag with a colon", "tags", tags=["a:b"]),
    image_tag("an empty tag", "tags", tags=[""]),
    image_tag("timeout negative (crashed before)", "timeout", timeout=-1),
    image_tag("timeout 0", "timeout", timeout=0),
    image_tag("timeout 1e9", "timeout", timeout=10 ** 9),
    image_tag("an unknown option", "insecure", insecure=True),
    image_tag("repository with a trailing line break (crashed with InvalidURL)", "repository",
              repository="stefanprodan/podinfo\n"),
    image_tag("a tag with a trailing line break", "tags", tags=["6.8.0\n"]),
]

CASES = (FLUX_SUSPEND + FLUX_RECONCILE + FLUX_INFO + FLUX_DIFF + LINKERD_IDENTITY + CANARY_CASES + CANARY_INFO
         + CANARY_GATE + LOCAL_CLUSTER + SIM_BINARIES + SIM_IMAGE_TAG)


# Options that name Secrets, not secrets: the harness takes any option named *secret* for one.
SECRET_NAMES = ("trust_anchor_secret", "values_secret")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_up_front(case):
    if not any(option in case.args for option in SECRET_NAMES):
        check(case)
        return
    outcome = run(case)
    assert outcome.klass(case) == "refused", (outcome.msg, outcome.reached)
    names = [case.args.get(option) for option in SECRET_NAMES]
    assert not [secret for secret in secrets_of(case) if secret not in names and secret in outcome.output]


def test_the_battery_holds_at_least_140_cases_over_every_module():
    assert len(CASES) >= 140
    assert {case.target for case in CASES} == {
        "flux_suspend", "flux_reconcile", "flux_info", "flux_diff", "linkerd_identity", "canary", "canary_info",
        "canary_gate", "local_cluster", "sim_binaries", "sim_image_tag"}


# --- the dangerous selection: refused without its consent, reached with it -------------------

@pytest.mark.parametrize("namespace", [None, "flux-system"])
def test_selecting_every_object_names_all_and_passes_with_it(namespace):
    case = suspend("every Kustomization", "all", name=None, namespace=namespace)
    refused = run(case)
    assert "set all: true" in refused.msg and not refused.reached, refused.msg
    outcome = run(Case("flux_suspend", dict(case.args, all=True), "all"))
    assert outcome.klass(case) == "reached", (outcome.msg, outcome.reached)


# --- valid inputs still get past the checks -------------------------------------------------

VALID = [
    suspend("one by name", "name"),
    suspend("by labels in every namespace, with all", "label_selectors", name=None, namespace=None, all=True,
            label_selectors=["app.kubernetes.io/part-of=platform", "tier in (web, api),!legacy"], state="resumed"),
    suspend("by labels in one namespace", "label_selectors", name=None, label_selectors=["!nonexistent"]),
    suspend("short kinds", "kinds", kinds=["ks", "hr", "gitrepo"], wait_timeout=86400),
    reconcile("a SHA prefix", "revision", revision=SHA[:7]),
    reconcile("a Flux revision", "revision", revision="main@sha1:%s" % SHA, with_source=True),
    reconcile("an OCI digest", "revision", kind="OCIRepository", revision="v1.2.0@sha256:%s" % ("ab" * 32)),
    reconcile("a chart version", "revision", kind="HelmRelease", revision="6.8.0+build.1"),
    info("everything", "kinds", kinds=None, namespace=None),
    info("wait at a revision in a repository", "revision", wait=True, revision=SHA, revision_repo=FILES["top"],
         name="apps"),
    diff("a plain directory", "path"),
    diff("a command", "kustomize_command", kustomization=None, kustomize_command=["kubectl", "kustomize"]),
    identity("defaults", "namespace"),
    identity("an issuer as long as its anchor", "issuer_validity_days", trust_anchor_validity_days=365,
             issuer_validity_days=365, renew_before_days=0),
    canary("the options", "name"),
    canary("absent", "name", state="absent"),
    canary("gates", "gates", gates=["confirm-promotion"], loadtester_url="http://flagger-loadtester.test/"),
    canary_info("one canary", "name", name="podinfo", events=0),
    canary_info("by labels everywhere", "label_selectors", namespace=None, label_selectors=["app=podinfo"]),
    gate("credentials to reach the load tester are masked, not refused", "loadtester_url",
         loadtester_url="http://tester:%s@127.0.0.1:18888/" % PASSWORD),
    gate("reset", "action", action="reset", wait_timeout=86400),
    # In check mode: only the providers' status look-ups run (the closed world refuses them),
    # as a real run would first create state_dir, which the closed world refuses with a crash
    # (cluster/reconcile.py lets the PermissionError of makedirs through).
    cluster("kwok", "name", check_mode=True),
    cluster("kwok downloads", "binaries", check_mode=True, binaries=dict(
        KWOK_BINARIES, etcd="https://github.com/etcd-io/etcd/releases/download/v3.5.24/etcd.tar.gz#etcd")),
    cluster("k3d", "name", check_mode=True, provider="k3d", binaries={"k3d": "/usr/local/bin/k3d"},
            image="rancher/k3s:v1.33.5-k3s1", port_mappings=["8080:80@loadbalancer"], k3s_disable=["traefik"],
            servers=3, nodes=0),
    cluster("minikube", "name", check_mode=True, provider="minikube", binaries={}, memory="8g", cpus=2,
            kube_version="v1.33.13"),
    cluster("minikube with memory max", "memory", check_mode=True, provider="minikube", binaries={}, memory="max"),
    cluster("minikube with memory no-limit", "memory", check_mode=True, provider="minikube", binaries={},
            memory="no-limit"),
    cluster("state in the home directory", "state_dir", check_mode=True, state_dir="~/.cache/battery-kwok",
            kubeconfig="~/.kube/battery.yaml"),
    cluster("state under /var", "state_dir", check_mode=True, state_dir="/var/lib/battery-kwok"),
    image_tag("two tags", "tags", tags=["6.8.0", "6.8.1-rc.1"], timeout=3600),
]


@pytest.mark.parametrize("case", VALID, ids=str)
def test_valid_inputs_get_past_the_checks(case):
    outcome = run(case)
    # A check-mode look that finds nothing (kwok's PID files) is done without reaching out.
    assert outcome.klass(case) in (("reached", "accepted") if case.check_mode else ("reached",)), \
        (outcome.msg, outcome.reached)
    assert PASSWORD not in outcome.output


def test_valid_sim_binaries_options_are_only_told_it_runs_as_an_action_plugin():
    outcome = run(binaries("defaults", "components"))
    assert outcome.failed and not outcome.reached
    assert outcome.msg == "gitops.progressive.sim_binaries runs as an action plugin on the controller"


def test_credentials_in_an_address_are_masked_in_the_message_and_the_logged_arguments():
    case = gate("credentials", "loadtester_url", loadtester_url="http://tester:%s@/" % PASSWORD)
    outcome = run(case)
    assert PASSWORD not in outcome.output and "tester:%s" % PASSWORD not in outcome.output
    assert "loadtester_url" in outcome.msg
