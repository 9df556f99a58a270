"""The modules' work, moved out of plugins/modules into module_utils: each task on a fake Kube.

Each test says what the module did before the move (its messages are asserted by the
integration tests too), so a module stays a thin argspec + docs + one call.
"""

import sys

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries, ensure, gates
from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects, suspend
from ansible_collections.gitops.progressive.plugins.module_utils.host import managed_process, process
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict, WaitTimeout
from ansible_collections.gitops.progressive.plugins.module_utils.mesh import identity


def never_connect():
    pytest.fail("connected to the cluster")


def canary(name, namespace="test", phase="Succeeded"):
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": name, "namespace": namespace},
            "spec": {"targetRef": {"name": name},
                     "analysis": {"interval": "1m", "threshold": 2, "stepWeight": 10, "maxWeight": 50}},
            "status": {"phase": phase}}


class FakeKube:
    """Canaries, events and deletions in memory, through the calls canaries.py makes."""

    def __init__(self, items=(), events=()):
        self.items = {(item["metadata"]["namespace"], item["metadata"]["name"]): item for item in items}
        self.events, self.deleted, self.requests = list(events), [], []

    def get(self, resource, namespace, name):
        self.requests.append(("get", resource.kind, namespace, name))
        if resource.kind == "Event":
            return None
        return self.items.get((namespace, name))

    def list(self, resource, namespace=None, label_selector=None, **_params):
        self.requests.append(("list", resource.kind, namespace, label_selector))
        if resource.kind == "Event":
            return list(self.events), "1"
        return [item for (item_namespace, _name), item in self.items.items()
                if namespace in (None, item_namespace)], "1"

    def delete(self, resource, namespace, name, dry_run=False):
        self.deleted.append((namespace, name, dry_run))
        return True


def event(name, message, kind="Canary", namespace="test", event_type="Normal", stamp="2026-01-01T00:00:00Z"):
    return {"involvedObject": {"kind": kind, "name": name, "namespace": namespace}, "message": message,
            "type": event_type, "reason": "Synced", "lastTimestamp": stamp, "metadata": {"name": "%s.1" % name}}


# -- canary (flagger/ensure.py) ------------------------------------------------------------

def canary_params(**overrides):
    params = dict(name="podinfo", namespace="test", state="present", definition=None, wait=False, wait_timeout=180)
    params.update(overrides)
    return params


def test_a_canary_is_named_from_the_options_or_its_definition():
    assert ensure.describe(canary_params()) == "Canary test/podinfo"
    assert ensure.describe(canary_params(name=None, namespace=None, definition={
        "metadata": {"name": "web", "namespace": "shop"}})) == "Canary shop/web"
    assert ensure.describe(canary_params(name=None, namespace=None)) == "Canary <no namespace>/<no name>"


def test_deleting_a_canary_without_a_name_fails_before_connecting_listing_what_is_missing():
    with pytest.raises(CollectionError) as error:
        ensure.ensure_canary(never_connect, canary_params(name=None, state="absent"))
    assert str(error.value) == ("Canary test/<no name>: metadata.name is required: give the option name or "
                                "metadata.name in definition")
    assert error.value.details == dict(errors=["metadata.name is required: give the option name or metadata.name "
                                               "in definition"])


def test_deleting_a_canary_reports_the_diff_and_changes_nothing_in_check_mode():
    kube = FakeKube([canary("podinfo")])
    result = ensure.ensure_canary(lambda: kube, canary_params(state="absent", wait=True), check_mode=True, diff=True)
    assert result["changed"] is True and "phase" not in result
    assert result["diff"]["after"] == {} and result["diff"]["before"]["metadata"]["name"] == "podinfo"
    assert kube.deleted == [("test", "podinfo", True)]


def test_deleting_a_missing_canary_is_ok():
    assert ensure.ensure_canary(FakeKube, canary_params(state="absent")) == dict(changed=False)


def test_a_deletion_that_outlasts_wait_timeout_names_what_was_waited_for(monkeypatch):
    def wait_canary(kube, namespace, name, predicate, timeout):
        raise WaitTimeout("not done within 180 s: still there (phase Terminating)")

    monkeypatch.setattr(ensure, "wait_canary", wait_canary)
    with pytest.raises(WaitTimeout, match="^waiting for the deletion of Canary test/podinfo: not done within 180 s"):
        ensure.ensure_canary(lambda: FakeKube([canary("podinfo")]), canary_params(state="absent", wait=True))


def test_a_failed_initialisation_carries_the_tasks_result_and_flaggers_words(monkeypatch):
    failed = canary("podinfo", phase="Failed")
    monkeypatch.setattr(ensure, "wait_canary", lambda *args: Verdict(
        done=True, ok=False, message="Flagger could not initialise it (phase Failed)",
        data={"phase": "Failed", "canary": failed}))
    kube = FakeKube(events=[event("podinfo", "podinfo-primary.test not ready: waiting for rollout",
                                  event_type="Warning")])
    result = dict(changed=True, canary=canary("podinfo", phase=""), strategy="canary")
    with pytest.raises(ensure.InitialisationError) as error:
        ensure.wait_initialised(kube, canary_params(wait=True), result)
    assert str(error.value) == ("Canary test/podinfo: Flagger could not initialise it (phase Failed): "
                                "podinfo-primary.test not ready: waiting for rollout")
    assert error.value.details == dict(changed=True, canary=failed, strategy="canary", phase="Failed")


def test_an_initialisation_that_outlasts_wait_timeout_says_the_phase_it_stopped_at(monkeypatch):
    def wait_canary(*args):
        raise WaitTimeout("ran out", last=Verdict(done=False, message="Initializing",
                                                  data={"phase": "Initializing", "canary": None}))

    monkeypatch.setattr(ensure, "wait_canary", wait_canary)
    with pytest.raises(ensure.InitialisationError) as error:
        ensure.wait_initialised(FakeKube(), canary_params(wait=True), dict(changed=True, canary={}, strategy="canary"))
    assert str(error.value) == ("Canary test/podinfo: Flagger had not initialised it after 180s (phase Initializing): "
                                "no events from Flagger")
    assert error.value.details["phase"] == "Initializing" and error.value.details["changed"] is True


# -- canary_info (flagger/canaries.py report) ----------------------------------------------

def test_the_report_is_sorted_and_keeps_the_last_events_of_each_canary():
    kube = FakeKube([canary("web", "shop"), canary("podinfo", "test"), canary("api", "shop")],
                    events=[event("api", "first", namespace="shop", stamp="2026-01-01T00:00:01Z"),
                            event("api", "second", namespace="shop", stamp="2026-01-01T00:00:02Z"),
                            event("api", "third", namespace="shop", stamp="2026-01-01T00:00:03Z")])
    report = canaries.report(kube, events=2)
    assert [(entry["namespace"], entry["name"]) for entry in report] == [("shop", "api"), ("shop", "web"),
                                                                         ("test", "podinfo")]
    assert [item["message"] for item in report[0]["events"]] == ["second", "third"]
    assert report[1]["events"] == []


def test_a_report_without_events_sends_no_events_request():
    kube = FakeKube([canary("podinfo")])
    report = canaries.report(kube, "test", "podinfo", events=0)
    assert [entry["name"] for entry in report] == ["podinfo"] and report[0]["events"] == []
    assert kube.requests == [("get", "Canary", "test", "podinfo")]


def test_a_missing_canary_is_an_empty_report_without_an_events_request():
    kube = FakeKube()
    assert canaries.report(kube, "test", "podinfo") == []
    assert len(kube.requests) == 1


# -- canary_gate (flagger/gates.py work_gate) ----------------------------------------------

def test_every_gate_failure_starts_with_the_action():
    with pytest.raises(CollectionError, match="^promote: canary test/podinfo not found$"):
        gates.work_gate(FakeKube, "test", "podinfo", "promote")

    def unreachable():
        raise ApiError("connecting to the API server: it did not answer")

    with pytest.raises(CollectionError, match="^hold: connecting to the API server: it did not answer$"):
        gates.work_gate(unreachable, "test", "podinfo", "hold")


def test_a_gate_failure_keeps_its_details():
    def refused():
        raise ApiError("reading Canary test/podinfo: the API server answered 403: forbidden", status=403)

    with pytest.raises(CollectionError) as error:
        gates.work_gate(refused, "test", "podinfo", "reset")
    assert error.value.details == dict(status=403)


def test_a_message_that_starts_with_the_action_is_not_prefixed_twice():
    with pytest.raises(gates.GateError, match="^hold: canary test/podinfo has no gate webhook"):
        gates.work_gate(lambda: FakeKube([canary("podinfo")]), "test", "podinfo", "hold")


def test_a_gate_action_returns_the_tasks_result():
    result = gates.work_gate(lambda: FakeKube([canary("podinfo")]), "test", "podinfo", "retry")
    assert result == dict(changed=False, phase="Succeeded", final_phase="Succeeded",
                          message="nothing to retry: the canary is Succeeded")


# -- flux (objects.py, suspend.py) ---------------------------------------------------------

def test_a_wrong_kind_is_a_collection_error_and_still_a_value_error():
    with pytest.raises(objects.KindError) as error:
        objects.kinds_of(["ks", "Deployment"])
    assert isinstance(error.value, CollectionError) and isinstance(error.value, ValueError)
    assert str(error.value).startswith("kinds[1]: 'Deployment' is not a Flux kind")


@pytest.mark.parametrize("kinds, namespace, name, expected", [
    (["Kustomization"], "flux-system", "apps", "Kustomization flux-system/apps"),
    (["ks", "hr"], "flux-system", "apps", "ks or hr flux-system/apps"),
    (["Kustomization", "HelmRelease"], "apps", None, "Kustomization, HelmRelease objects in namespace apps"),
    (["Kustomization"], None, None, "Kustomization objects in all namespaces"),
])
def test_what_a_flux_task_selects_is_named_for_messages(kinds, namespace, name, expected):
    assert objects.describe_selection(kinds, namespace, name) == expected


def test_suspend_refuses_a_name_with_label_selectors_and_no_kinds_before_connecting():
    with pytest.raises(CollectionError, match="^flux_suspend Kustomization flux-system/apps: name and label_selectors "
                                              "are exclusive"):
        suspend.suspend_task(never_connect, ["Kustomization"], "flux-system", "apps", ["team=a"])
    with pytest.raises(CollectionError, match="kinds must name at least one Flux kind"):
        suspend.suspend_task(never_connect, [], "flux-system", select_all=True)
    with pytest.raises(CollectionError, match="kinds\\[0\\]: 'Deployment' is not a Flux kind"):
        suspend.suspend_task(never_connect, ["Deployment"], "flux-system", select_all=True)


def test_suspend_never_selects_everything_by_leaving_options_out():
    with pytest.raises(CollectionError) as error:
        suspend.suspend_task(never_connect, ["Kustomization"])
    assert str(error.value) == (
        "flux_suspend Kustomization objects in all namespaces: name: neither name nor label_selectors is given, so "
        "every Kustomization in all namespaces (flux-system's own sync included) would be suspended; set all: true "
        "if that is meant")
    for namespace, name in (("", None), ("flux-system", ""), ("", "")):
        with pytest.raises(CollectionError, match="may not be empty"):
            suspend.suspend_task(never_connect, ["Kustomization"], namespace, name, select_all=True)
    with pytest.raises(CollectionError, match="all selects every object of kinds .*; it goes without name"):
        suspend.suspend_task(never_connect, ["Kustomization"], "flux-system", "apps", select_all=True)


@pytest.mark.parametrize("selector", ["!nonexistent", "x notin (y)", "app=web"])
def test_suspend_by_label_in_every_namespace_needs_all(selector):
    # A selector of absent labels matches every object, flux-system's own sync included.
    with pytest.raises(CollectionError) as error:
        suspend.suspend_task(never_connect, ["Kustomization"], label_selectors=[selector])
    assert str(error.value) == (
        "flux_suspend Kustomization objects in all namespaces: namespace: label_selectors without a namespace select "
        "in all namespaces, flux-system's own sync included (a selector such as !x or x notin (y) matches every "
        "Kustomization); set all: true if that is meant")


class Connected(Exception):
    """Raised by a connect() that proves the options were accepted."""


def connected():
    raise Connected()


@pytest.mark.parametrize("namespace, select_all", [("apps", False), (None, True), ("apps", True)])
def test_suspend_by_label_in_a_namespace_or_with_all_is_accepted(namespace, select_all):
    with pytest.raises(Connected):
        suspend.suspend_task(connected, ["Kustomization"], namespace, label_selectors=["!nonexistent"],
                             select_all=select_all)


def test_suspend_refuses_a_kind_without_spec_suspend():
    with pytest.raises(CollectionError, match="kinds\\[0\\]: ImagePolicy has no spec.suspend"):
        suspend.suspend_task(never_connect, ["ImagePolicy"], "flux-system", select_all=True)


def test_suspend_with_all_selects_every_object_of_the_namespace():
    kube = FluxKube([{"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system"},
                      "spec": {}}])
    result = suspend.suspend_task(lambda: kube, ["Kustomization"], "flux-system", select_all=True, check_mode=True)
    assert result["matched"] == 1 and result["changed"] is True


class FluxKube:
    """Flux objects in memory: list and patch, as suspend.py sends them."""

    def __init__(self, items):
        self.items, self.patches = items, []

    def list(self, resource, namespace=None, label_selector=None):
        return [item for item in self.items if item["metadata"]["namespace"] == namespace or namespace is None], "1"

    def patch(self, resource, namespace, name, patch, dry_run=False, patch_type=None):
        self.patches.append((namespace, name, patch, dry_run))
        return {}


# -- linkerd_identity (mesh/identity.py) ---------------------------------------------------

def identity_params(**overrides):
    params = dict(namespace="flux-system", trust_anchor_secret="anchor", values_secret="values",
                  trust_anchor_validity_days=3650, issuer_validity_days=365, renew_before_days=30)
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides, message", [
    (dict(trust_anchor_validity_days=0), "trust_anchor_validity_days must be between 1 and 36500 days, got 0"),
    (dict(issuer_validity_days=-1), "issuer_validity_days must be between 1 and 36500 days, got -1"),
    (dict(renew_before_days=365), "renew_before_days must be between 0 and 364 days (less than issuer_validity_days, "
                                  "or the issuer would be renewed on every run), got 365"),
    (dict(renew_before_days=-1), "renew_before_days must be between 0 and 364 days"),
    (dict(trust_anchor_validity_days=10 ** 9), "trust_anchor_validity_days must be between 1 and 36500 days"),
    (dict(issuer_validity_days=4000), "issuer_validity_days (4000) must be at most trust_anchor_validity_days (3650)"),
    (dict(values_secret="anchor"), "trust_anchor_secret and values_secret both name Secret 'anchor'"),
    (dict(values_secret=""), "values_secret is required and may not be empty"),
    (dict(trust_anchor_secret="Anchor"), "trust_anchor_secret must be a DNS-1123 subdomain"),
    (dict(namespace="flux_system"), "namespace must be a DNS-1123 label"),
])
def test_identity_options_are_refused_before_connecting(overrides, message):
    with pytest.raises(CollectionError) as error:
        identity.ensure_identity(never_connect, identity_params(**overrides))
    assert str(error.value).startswith("linkerd_identity Secrets ")
    assert message in str(error.value)


def test_identity_options_within_bounds_pass():
    assert identity.check_options(identity_params()) is None
    assert identity.check_options(identity_params(issuer_validity_days=3650, renew_before_days=0)) is None


# -- sim_process (host/managed_process.py) -------------------------------------------------

def process_params(state_dir, **overrides):
    params = dict(name="sleeper", state="started", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                  state_dir=str(state_dir), env={}, chdir=None, ready_url=None, wait_timeout=60)
    params.update(overrides)
    return params


NAME_RULE = "name must be 1 to 64 letters, digits, '.', '_' and '-', starting with a letter or digit (it names " \
    "files in state_dir)"


@pytest.mark.parametrize("overrides, message", [
    (dict(name="a/b"), "sim_process 'a/b': %s, got 'a/b'" % NAME_RULE),
    (dict(name=".."), "sim_process '..': %s, got '..'" % NAME_RULE),
    (dict(wait_timeout=0), "sim_process 'sleeper': wait_timeout must be a positive number of seconds for process "
                           "'sleeper', got 0"),
])
def test_process_options_are_refused_before_anything_is_looked_at(tmp_path, overrides, message):
    with pytest.raises(CollectionError) as error:
        managed_process.ensure_process(process_params(tmp_path / "state", **overrides))
    assert str(error.value) == message
    assert not (tmp_path / "state").exists()


def test_a_process_is_started_once_restarted_when_its_command_changes_and_stopped(tmp_path):
    params = process_params(tmp_path / "state")
    planned = managed_process.ensure_process(params, check_mode=True)
    assert planned["changed"] is True and "pid" not in planned and not (tmp_path / "state").exists()
    started = managed_process.ensure_process(params)
    try:
        assert started["changed"] is True and started["restarted"] is False
        again = managed_process.ensure_process(params)
        assert again == dict(started, changed=False)
        changed = process_params(tmp_path / "state", argv=params["argv"] + ["again"])
        restarted = managed_process.ensure_process(changed)
        assert restarted["restarted"] is True and restarted["pid"] != started["pid"]
        assert not process.is_running(started["pid"])
    finally:
        stopped = managed_process.ensure_process(dict(params, state="absent"))
    assert stopped["changed"] is True and not process.pidfile_running(stopped["pidfile"])
    assert managed_process.ensure_process(dict(params, state="absent"))["changed"] is False


def test_a_program_that_cannot_start_is_named_with_the_tasks_result(tmp_path):
    params = process_params(tmp_path / "state", argv=[str(tmp_path / "missing-program")])
    with pytest.raises(managed_process.ProcessError) as error:
        managed_process.ensure_process(params)
    assert str(error.value).startswith("sim_process sleeper: cannot start %s: " % params["argv"][0])
    assert error.value.details["changed"] is True and error.value.details["pidfile"].endswith("sleeper.pid")


# -- canary and canary_info options (flagger/canaries.py) ----------------------------------

def full_canary_params(**overrides):
    from ansible_collections.gitops.progressive.plugins.modules.canary import argument_spec

    params = {name: spec.get("default") for name, spec in argument_spec().items()}
    params.update(name="podinfo", namespace="test", target="podinfo", interval="1m", threshold=5, step_weight=10,
                  max_weight=50, service_port=9898, wait=False, wait_timeout=180)
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides, message", [
    (dict(name="Podinfo"), "Canary test/Podinfo is invalid: metadata.name (option name) must be a DNS-1123 subdomain"),
    (dict(name="", definition={"metadata": {"name": "podinfo"}}),
     "metadata.name (option name) may not be empty (it does not fall back"),
    (dict(state="absent", namespace=None), "metadata.namespace is required"),
    (dict(loadtester_url="http://tester:hunter2-secret@loadtester.test/"),
     "(option loadtester_url) may not carry credentials"),
    (dict(webhooks=[{"name": "smoke", "url": "http://tester:hunter2-secret@loadtester.test/"}]),
     "(option webhooks[0].url) may not carry credentials"),
    (dict(interval="1h30"), "spec.analysis.interval (option interval) '1h30' is refused by the Canary CRD"),
    (dict(max_weight=1000), "spec.analysis.maxWeight (option max_weight) must be between 1 and 100"),
    (dict(definition={"spec": {"unknown": 1}}), "spec.unknown (in definition) is not a field of the Canary CRD"),
])
def test_canary_options_are_refused_before_connecting(overrides, message):
    with pytest.raises(CollectionError) as error:
        canaries.check_canary_options(full_canary_params(**overrides))
    assert message in str(error.value) and "hunter2-secret" not in str(error.value)


def test_valid_canary_options_pass_without_the_servers_lookups():
    assert canaries.check_canary_options(full_canary_params()) is None
    assert canaries.check_canary_options(full_canary_params(state="absent", interval=None)) is None


@pytest.mark.parametrize("overrides, message", [
    (dict(name=""), "name is required and may not be empty"),
    (dict(namespace=""), "namespace is required and may not be empty"),
    (dict(label_selectors=["app=*"]), "label_selectors[0] is not a label selector"),
    (dict(events=-1), "events must be between 0 and 1000, got -1"),
])
def test_canary_info_options_are_refused_before_connecting(overrides, message):
    params = dict(name=None, namespace="test", label_selectors=[], events=10)
    params.update(overrides)
    with pytest.raises(CollectionError, match="^canary_info ") as error:
        canaries.check_info_options(params)
    assert message in str(error.value)


# -- local_cluster's further options (cluster/inputs.py) -----------------------------------

def cluster_params(**overrides):
    params = dict(provider="kwok", name="gitops", state="present", kubeconfig="/tmp/kubeconfig", state_dir="/tmp/kwok",
                  binaries={"kwokctl": "/opt/bin/kwokctl", "etcd": "https://dl.example/etcd.tar.gz#etcd"}, nodes=1,
                  servers=1, kube_version="v1.33.13", api_port=None, image=None, port_mappings=[], k3s_disable=[],
                  cpus=4, memory="8192", driver="docker", tunnel=False, extra_args=[], wait_timeout=120)
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides, message", [
    (dict(nodes=10 ** 6), "nodes must be at most 1000, got 1000000"),
    (dict(servers=10), "servers must be at most 9"),
    (dict(cpus=2000), "cpus must be at most 1024"),
    (dict(kubeconfig=""), "kubeconfig may not be empty"),
    (dict(state_dir="/"), "state_dir may not be the file system's root /"),
    (dict(state_dir="/srv/repo/.git/kwok"), "state_dir may not be in git's own directory .git"),
    (dict(kube_version="latest"), "kube_version must be a Kubernetes version like v1.33.13, got 'latest'"),
    (dict(image="Rancher/K3S"), "image is not an image reference"),
    (dict(memory="8 GB"), "memory must be MiB (8192), a number with a unit"),
    (dict(memory="8g\n"), "memory must be MiB (8192), a number with a unit"),
    (dict(kube_version="v1.33.13\n"), "kube_version must be a Kubernetes version"),
    (dict(driver="docker\n"), "driver must be a minikube driver name"),
    (dict(state_dir="//."), "state_dir may not be the file system's root /"),
    (dict(state_dir="state"), "state_dir must be an absolute path (or start with ~), got 'state'"),
    (dict(state_dir="~"), "state_dir may not be the home directory itself"),
    (dict(state_dir="/etc"), "state_dir may not be the system directory /etc"),
    (dict(state_dir="/usr/"), "state_dir may not be the system directory /usr"),
    (dict(state_dir="/sys/kernel/kwok"), "state_dir may not be under /sys, a file system of the kernel's"),
    (dict(kubeconfig="~/"), "kubeconfig may not be the home directory itself"),
    (dict(kubeconfig="/var"), "kubeconfig may not be the system directory /var"),
    (dict(kubeconfig="/tmp"), "kubeconfig must be a file, not the directory /tmp"),
    (dict(binaries={"kwokctl": "/tmp"}), "binaries.kwokctl must be a file, not the directory /tmp"),
    (dict(state_dir="/bin"), "state_dir may not be the system directory "),
    (dict(driver="Docker"), "driver must be a minikube driver name"),
    (dict(k3s_disable=["traefik", "*"]), "k3s_disable[1] must be a k3s component"),
    (dict(binaries={"kwokctl": "kwokctl"}), "binaries.kwokctl must be an absolute path"),
    (dict(binaries={"etcd": "https://u:hunter2-secret@dl.example/etcd"}), "binaries.etcd may not carry credentials"),
    (dict(extra_args=["--config", ""]), "extra_args[1] must be a non-empty argument"),
])
def test_cluster_options_are_refused_before_anything_runs(overrides, message):
    from ansible_collections.gitops.progressive.plugins.module_utils.cluster.inputs import check_options

    with pytest.raises(CollectionError, match="^local_cluster 'gitops': ") as error:
        check_options(cluster_params(**overrides))
    assert message in str(error.value) and "hunter2-secret" not in str(error.value)


def test_cluster_options_within_bounds_pass():
    from ansible_collections.gitops.progressive.plugins.module_utils.cluster.inputs import check_options

    assert check_options(cluster_params()) is None
    assert check_options(cluster_params(provider="k3d", image="rancher/k3s:v1.33.5-k3s1", servers=3, nodes=0,
                                        kube_version="v1.33.5+k3s1", memory="8g", k3s_disable=["traefik"])) is None
    for memory in ("max", "no-limit", "8GiB", "8192mb"):
        assert check_options(cluster_params(provider="minikube", memory=memory)) is None
    assert check_options(cluster_params(state_dir="~/.cache/kwok", kubeconfig="~/.kube/kwok.yaml")) is None
    assert check_options(cluster_params(state_dir="/var/lib/kwok/", kubeconfig="/etc/kwok/kubeconfig")) is None
