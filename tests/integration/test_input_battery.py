"""Hostile inputs through ansible-playbook against the real platform: each is refused naming
its option, and the cluster (resourceVersions), the git repository (HEAD, its config) and the
working copy are what they were before. The unit batteries (tests/unit/plugins/modules)
hold the other few hundred cases in a closed world; these prove the same on real parts,
where the old code wrote (flux_suspend selected every Kustomization, platform_repo wrote
git's own config, canary_rollout patched a reference that is none onto the Deployment).
"""

import json
import os
import subprocess
import time

import kubernetes
import pytest
import yaml
from conftest import run_playbook

SECRET = "hunter2-not-for-output"
NAMESPACE = "hostile-inputs"

KUSTOMIZATION_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "kustomizations.kustomize.toolkit.fluxcd.io"},
    "spec": {"group": "kustomize.toolkit.fluxcd.io", "scope": "Namespaced",
             "names": {"kind": "Kustomization", "plural": "kustomizations", "singular": "kustomization",
                       "listKind": "KustomizationList", "shortNames": ["ks"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def git(*args, cwd=None):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def world(sim_cluster, kube, tmp_path_factory):
    """A namespace with a Deployment and two Kustomizations (one in flux-system), and a git repository."""
    api = kubernetes.client.ApiextensionsV1Api(kube)
    core, apps = kubernetes.client.CoreV1Api(kube), kubernetes.client.AppsV1Api(kube)
    custom = kubernetes.client.CustomObjectsApi(kube)
    made_crd = False
    try:
        api.read_custom_resource_definition(KUSTOMIZATION_CRD["metadata"]["name"])
    except kubernetes.client.ApiException as error:
        assert error.status == 404
        api.create_custom_resource_definition(KUSTOMIZATION_CRD)
        made_crd = True
    for namespace in (NAMESPACE, "flux-system"):
        try:
            core.create_namespace({"metadata": {"name": namespace}})
        except kubernetes.client.ApiException as error:
            assert error.status == 409
    deadline_tries = 60
    kustomizations = []
    for namespace in (NAMESPACE, "flux-system"):
        body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "hostile-probe", "namespace": namespace},
                "spec": {"interval": "10m", "path": "./apps", "prune": True, "suspend": False,
                         "sourceRef": {"kind": "GitRepository", "name": "platform"}}}
        for attempt in range(deadline_tries):
            try:
                custom.create_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", namespace,
                                                       "kustomizations", body)
                break
            except kubernetes.client.ApiException as error:
                if error.status == 409:
                    break
                if error.status != 404 or attempt == deadline_tries - 1:
                    raise
                time.sleep(1)  # the new CRD is being established
        kustomizations.append(namespace)
    apps.create_namespaced_deployment(NAMESPACE, {
        "metadata": {"name": "podinfo", "labels": {"app": "podinfo"}},
        "spec": {"selector": {"matchLabels": {"app": "podinfo"}},
                 "template": {"metadata": {"labels": {"app": "podinfo"}},
                              "spec": {"containers": [{"name": "podinfo", "image": "podinfo:6.5.0"}]}}}})

    root = tmp_path_factory.mktemp("hostile-git")
    bare, seed = root / "platform.git", root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "apps").mkdir()
    (seed / "apps" / "kustomization.yaml").write_text("resources: []\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    try:
        yield dict(kubeconfig=sim_cluster["kubeconfig"], core=core, apps=apps, custom=custom,
                   bare=str(bare), workdir=str(root / "work"), root=root)
    finally:
        core.delete_namespace(NAMESPACE)
        custom.delete_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations",
                                               "hostile-probe")
        if made_crd:
            api.delete_custom_resource_definition(KUSTOMIZATION_CRD["metadata"]["name"])


def _written(metadata, body):
    """What a client's write changes (spec or data, labels, annotations, generation), not what a
    controller's status update does (that bumps the resourceVersion too: Flux's and KWOK's
    controllers may report on these objects while the battery runs)."""
    return json.dumps([metadata.get("generation"), metadata.get("labels"), metadata.get("annotations"), body],
                      sort_keys=True, default=str)


def snapshot(world):
    """What a write would change: the objects here, git's HEAD and config, the working copy."""
    versions = {}
    for namespace in (NAMESPACE, "flux-system"):
        found = world["custom"].list_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", namespace,
                                                              "kustomizations")
        versions.update({("ks", namespace, item["metadata"]["name"]): _written(item["metadata"], item.get("spec"))
                         for item in found["items"]})
    client = world["apps"].api_client
    for item in world["apps"].list_namespaced_deployment(NAMESPACE).items:
        plain = client.sanitize_for_serialization(item)
        versions[("deploy", NAMESPACE, item.metadata.name)] = _written(plain["metadata"], plain.get("spec"))
    for item in world["core"].list_namespaced_secret(NAMESPACE).items:
        plain = client.sanitize_for_serialization(item)
        versions[("secret", NAMESPACE, item.metadata.name)] = _written(plain["metadata"], plain.get("data"))
    head = git("rev-parse", "main", cwd=world["bare"])
    with open(os.path.join(world["bare"], "config")) as handle:
        config = handle.read()
    work = sorted(os.listdir(world["workdir"])) if os.path.isdir(world["workdir"]) else None
    return versions, head, config, work


def cases(world):
    """(module, options, the option the error must name); the connection options added below."""
    kube_cases = [
        ("flux_suspend", dict(name="", namespace=""), "name"),
        ("flux_suspend", dict(namespace="flux-system", name="*"), "name"),
        ("flux_suspend", dict(namespace="", label_selectors=["app=x"]), "namespace"),
        ("flux_suspend", dict(namespace="flux-system", name="Hostile-Probe"), "name"),
        ("flux_suspend", dict(namespace=NAMESPACE, label_selectors=["app in (("]), "label_selectors"),
        ("flux_reconcile", dict(kind="ks", name="hostile-probe", namespace=NAMESPACE, revision="not a sha"),
         "revision"),
        ("flux_reconcile", dict(kind="ks", name="hostile-probe", namespace=NAMESPACE, wait_timeout=100000000000),
         "wait_timeout"),
        ("flux_reconcile", dict(kind="ks", name="../hostile-probe", namespace=NAMESPACE), "name"),
        ("linkerd_identity", dict(namespace=NAMESPACE, trust_anchor_secret="same", values_secret="same"),
         "values_secret"),
        ("linkerd_identity", dict(namespace=NAMESPACE, issuer_validity_days=-1), "issuer_validity_days"),
        ("linkerd_identity", dict(namespace="Hostile", ), "namespace"),
        ("canary", dict(name="podinfo", namespace=NAMESPACE, loadtester_url="http://u:%s@127.0.0.1:1/" % SECRET),
         "loadtester_url"),
        ("canary", dict(name="Podinfo", namespace=NAMESPACE, service_port=9898), "name"),
        ("canary_gate", dict(name="*", namespace=NAMESPACE, action="promote"), "name"),
        ("canary_rollout", dict(name="podinfo", namespace=NAMESPACE, images={"podinfo": "Bad Ref::!!"}), "images"),
        ("canary_rollout", dict(name="podinfo", namespace=NAMESPACE, images={"podinfo": "podinfo:" + "x" * 302}), "images"),
        ("canary_rollout", dict(name="podinfo", namespace=NAMESPACE, images={"podinfo": "podinfo:has space"}), "images"),
    ]
    git_options = dict(repo_url="file://" + world["bare"], workdir=world["workdir"])
    git_cases = [
        ("platform_repo", dict(git_options, files={".git/config": "[core]\n\tfsmonitor = touch /tmp/pwned\n"}),
         "files"),
        ("platform_repo", dict(git_options, files={"apps/../../escape.yaml": "x: 1\n"}), "files"),
        ("platform_repo", dict(git_options, files={"/etc/hostile.yaml": "x: 1\n"}), "files"),
        ("platform_repo", dict(git_options, files={"": "x: 1\n"}), "files"),
        ("platform_repo", dict(git_options, remove=[".git/HEAD"]), "remove"),
        ("platform_repo", dict(git_options, branch="main..evil", files={"apps/x.yaml": "x: 1\n"}), "branch"),
        ("platform_repo", dict(git_options, repo_url="http://git:%s@127.0.0.1:1/platform.git" % SECRET,
                               files={"apps/x.yaml": "x: 1\n"}), "repo_url"),
    ]
    connection = dict(kubeconfig=world["kubeconfig"])
    return [(module, dict(connection, **options), option) for module, options, option in kube_cases] + git_cases


def test_hostile_inputs_are_refused_naming_the_option_and_change_nothing(world, tmp_path):
    planned = cases(world)
    playbook = [{"name": "Hostile inputs", "hosts": "sim", "gather_facts": False,
                 "tasks": [{"name": "case %d: %s %s" % (index, module, option), "ignore_errors": True,
                            "gitops.progressive.%s" % module: options}
                           for index, (module, options, option) in enumerate(planned)]}]
    path = tmp_path / "hostile.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    before = snapshot(world)
    run = run_playbook(str(path))
    after = snapshot(world)

    results = {}
    for play in run.output.get("plays", []):
        for task in play["tasks"]:
            results[task["task"]["name"]] = next(iter(task["hosts"].values()))
    assert len(results) == len(planned), run.raw[-3000:]
    wrong = []
    for index, (module, options, option) in enumerate(planned):
        result = results["case %d: %s %s" % (index, module, option)]
        message = str(result.get("msg", ""))
        if not result.get("failed") or option not in message or "Traceback" in json.dumps(result):
            wrong.append("%s %s: failed=%s msg=%s" % (module, option, result.get("failed"), message[:300]))
    assert not wrong, "\n".join(wrong)
    # Nothing written anywhere: not in the cluster, not in git, not in the working copy.
    assert after[0] == before[0], "objects changed: %s" % {
        key: (before[0].get(key), value) for key, value in after[0].items() if before[0].get(key) != value}
    assert after[1:] == before[1:], "the git repository or the working copy changed"
    assert not os.path.exists("/tmp/pwned")
    # Not a vacuous comparison: the snapshot sees both Kustomizations and the Deployment.
    assert {("ks", NAMESPACE, "hostile-probe"), ("ks", "flux-system", "hostile-probe"),
            ("deploy", NAMESPACE, "podinfo")} <= set(before[0])
    # No credential from an address anywhere in what the run printed (results, logged arguments).
    assert SECRET not in run.raw


def test_the_snapshot_sees_a_write(world):
    """The comparison above can fail: a real suspend changes the Kustomization's resourceVersion."""
    before = snapshot(world)
    body = {"spec": {"suspend": True}}
    world["custom"].patch_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", NAMESPACE, "kustomizations",
                                                   "hostile-probe", body)
    try:
        assert snapshot(world)[0] != before[0]
    finally:
        world["custom"].patch_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", NAMESPACE,
                                                       "kustomizations", "hostile-probe", {"spec": {"suspend": False}})
