"""The simulated platform's network: loopback only, and in-cluster addresses that work.

Real Flagger and load tester (built with the listen-address patch), real kube-apiserver;
the in-cluster proxy is the traffic simulator started by the flagger role.
"""

import json
import os
import shutil
import socket
import subprocess

import pytest
from conftest import assert_ok, run_playbook
from listeners import describe, listening_sockets, not_on_loopback

NAMESPACE = "simnet"
CURL = shutil.which("curl")


def role_pids(platform):
    """The PIDs of the role's processes now, from their PID files (other tests restart some)."""
    from ansible_collections.gitops.progressive.plugins.module_utils.host import process

    facts = platform["run"].results("Publish where Flagger's load tester, Prometheus and the in-cluster proxy answer")
    names = facts[0]["ansible_facts"]["flagger_processes_pids"]
    state = os.path.join(platform["vars"]["cluster_state_dir"], platform["vars"]["cluster_name"], "flagger")
    return {name: process.read_pidfile(os.path.join(state, name + ".pid"))[0] for name in names}


def test_no_process_the_role_started_listens_beyond_loopback(platform):
    pids = role_pids(platform)
    assert set(pids) == {"traffic-simulator", "prometheus", "loadtester", "flagger"}
    sockets = listening_sockets(pids.values(), include_children=True)
    assert not not_on_loopback(sockets), describe(not_on_loopback(sockets))
    by_process = {name: {(item.address, item.port) for item in sockets if item.pid == pid}
                  for name, pid in pids.items()}
    variables = platform["vars"]
    # Each listens where the role says, and nowhere else.
    assert by_process == {
        "flagger": {("127.0.0.1", variables["flagger_port"])},
        "loadtester": {("127.0.0.1", variables["flagger_loadtester_port"])},
        "prometheus": {("127.0.0.1", variables["flagger_prometheus_port"])},
        "traffic-simulator": {("127.0.0.1", variables["flagger_traffic_port"])},
    }


def test_the_listener_check_would_see_a_wildcard_socket():
    """The check above is not vacuous: a socket on every interface is reported."""
    with socket.socket() as wildcard:
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        found = not_on_loopback(listening_sockets([os.getpid()]))
        assert ("0.0.0.0", wildcard.getsockname()[1]) in {(item.address, item.port) for item in found}


def test_the_patched_binaries_have_a_listen_address_flag_defaulting_to_loopback(platform):
    binaries = platform["run"].results("Build Flagger, its load tester and hey, and fetch its charts and CRDs (cached by version)")[0]
    for name in ("flagger", "loadtester"):
        usage = subprocess.run([binaries["binaries"][name], "-h"], capture_output=True, text=True, timeout=30,
                               check=False)
        assert "-listen-address" in usage.stderr and '(default "127.0.0.1")' in usage.stderr


@pytest.fixture(scope="module")
def app(platform):
    variables = dict(platform["vars"], app_name="podinfo", app_namespace=NAMESPACE)
    assert_ok(run_playbook("sim_network_app.yml", variables))
    return variables


def through_proxy(platform, url, data=None):
    """curl through the in-cluster proxy, as the load tester's commands do (http_proxy)."""
    assert CURL, "curl is needed on PATH (the load tester's conformance commands use it)"
    env = dict(os.environ, http_proxy="http://127.0.0.1:%d" % platform["vars"]["flagger_traffic_port"],
               no_proxy="127.0.0.1,localhost")
    command = [CURL, "-s", "-o", "-", "-w", "\n%{http_code}", url] + (["-d", data] if data is not None else [])
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    body, _newline, status = completed.stdout.rpartition("\n")
    return int(status), body


def test_in_cluster_addresses_answer_through_the_proxy(platform, app):
    status, body = through_proxy(platform, "http://podinfo-primary.%s:9898/version" % NAMESPACE)
    answer = json.loads(body)
    assert status == 200 and answer["workload"] == "podinfo-primary" and answer["namespace"] == NAMESPACE
    assert answer["image"] == "ghcr.io/stefanprodan/podinfo:6.7.0" and answer["version"] == "6.7.0"
    status, body = through_proxy(platform, "http://podinfo-primary.%s.svc.cluster.local:9898/token" % NAMESPACE,
                                 data="test")
    assert status == 200 and json.loads(body)["token"]
    # Between releases Flagger scales the canary to zero: its Service selects nothing.
    status, body = through_proxy(platform, "http://podinfo-canary.%s:9898/" % NAMESPACE)
    assert status == 503 and "Service %s/podinfo-canary selects no ready pod" % NAMESPACE in body
    status, body = through_proxy(platform, "http://podinfo.nowhere:9898/")
    assert status == 502 and "no Service 'podinfo' in namespace 'nowhere'" in body
    status, body = through_proxy(platform, "http://podinfo-primary.%s:8080/" % NAMESPACE)
    assert status == 502 and "has no port 8080 (its ports: 9898)" in body
    # The load tester by its in-cluster name, in any namespace, with no Service for it.
    assert through_proxy(platform, "http://flagger-loadtester.%s/healthz" % NAMESPACE)[0] == 200
    assert through_proxy(platform, "http://flagger-loadtester.elsewhere.svc/healthz")[0] == 200


def canary_events(kube, name="podinfo"):
    import kubernetes

    events = kubernetes.client.CoreV1Api(kube).list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=Canary,involvedObject.name=%s" % name).items
    return [event.message for event in sorted(events, key=lambda event: event.metadata.creation_timestamp)]


def release(app, error_fraction, image):
    return run_playbook("rollout.yml", dict(app, rollout_images={"app": image},
                                            rollout_env={"ERROR_FRACTION": error_fraction}))


def result_of(run):
    return run.results("Start the release and follow it to its verdict")[0]


def test_a_healthy_release_passes_the_conformance_webhook_and_is_promoted(app, kube):
    run = release(app, "0", "ghcr.io/stefanprodan/podinfo:6.7.1")
    result = result_of(assert_ok(run))
    assert result["verdict"] == "promoted" and result["phase"] == "Succeeded"
    messages = canary_events(kube)
    assert "Pre-rollout check conformance passed" in messages
    assert not [message for message in messages if "pre-rollout check conformance failed" in message]


def test_a_release_that_fails_the_conformance_webhook_is_rolled_back(app, kube):
    import kubernetes

    run = release(app, "100", "ghcr.io/stefanprodan/podinfo:6.7.2")
    assert run.returncode != 0
    result = result_of(run)
    assert result["verdict"] == "failed" and result["phase"] == "Failed"
    failed = [message for message in canary_events(kube)
              if message.startswith("Halt podinfo.%s advancement pre-rollout check conformance failed" % NAMESPACE)]
    assert failed, canary_events(kube)
    # Rolled back: the primary still runs the version before.
    primary = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo-primary", NAMESPACE)
    env = {item.name: item.value for item in primary.spec.template.spec.containers[0].env}
    assert env["ERROR_FRACTION"] == "0"
    assert primary.spec.template.spec.containers[0].image != "ghcr.io/stefanprodan/podinfo:6.7.2"
