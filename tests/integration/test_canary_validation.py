"""Malformed canaries are refused by the real canary module, naming the field, and change nothing.

Real kube-apiserver and real Flagger (the session's simulated platform). The namespace
``validation`` holds an app and its canary, initialised by Flagger; every malformed input
is sent through ``gitops.progressive.canary`` in one playbook run (a loop), and afterwards
the existing Canary and Deployment have the resourceVersions they had before, and no
Canary appeared anywhere. A Canary given only as ``definition`` is then created and
waited for.
"""

import copy
import re
import time

import pytest
from conftest import assert_ok, run_playbook

NAMESPACE = "validation"
DEFINITION_NAMESPACE = "validation-definition"
DELETE = object()


def _read_canary(kube, namespace, name):
    import kubernetes

    try:
        return kubernetes.client.CustomObjectsApi(kube).get_namespaced_custom_object(
            "flagger.app", "v1beta1", namespace, "canaries", name)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise


def _poll(what, check, timeout=180, every=0.5):
    """Poll ``check()`` until it returns something true; set up and checked without the code under test."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(every)


def _phase(kube, namespace, name):
    return ((_read_canary(kube, namespace, name) or {}).get("status") or {}).get("phase")


def _snapshot(kube):
    """The existing Deployment's resourceVersion and, for every Canary in the cluster, what a write changes.

    In this test's namespace that is the resourceVersion (nothing else touches the settled
    canary there); elsewhere the generation, which a spec write bumps and Flagger's status
    updates of other tests' releases do not.
    """
    import kubernetes

    deployment = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("podinfo", NAMESPACE)
    canaries = kubernetes.client.CustomObjectsApi(kube).list_cluster_custom_object(
        "flagger.app", "v1beta1", "canaries")["items"]
    return {"deployment": deployment.metadata.resource_version,
            "canaries": {"%s/%s" % (item["metadata"]["namespace"], item["metadata"]["name"]):
                         item["metadata"]["resourceVersion"] if item["metadata"]["namespace"] == NAMESPACE
                         else "generation %s" % item["metadata"].get("generation")
                         for item in canaries}}


@pytest.fixture(scope="module")
def existing(platform, kube):
    """An app and its canary in NAMESPACE, initialised by Flagger and settled."""
    variables = dict(platform["vars"], app_name="podinfo", app_namespace=NAMESPACE, canary_max_weight=50,
                     canary_step_weight=10)
    assert_ok(run_playbook("app.yml", variables))
    _poll("Flagger to initialise %s/podinfo" % NAMESPACE, lambda: _phase(kube, NAMESPACE, "podinfo") == "Initialized")
    # Flagger scales the target to zero while it initialises; wait for the controllers to be done with it.
    seen = []

    def settled():
        seen.append(_snapshot(kube))
        return len(seen) >= 4 and seen[-1] == seen[-2] == seen[-3] == seen[-4]

    _poll("the Deployment and Canary of %s to settle" % NAMESPACE, settled, timeout=90, every=1)
    return variables


def valid_definition():
    """The existing canary with other weights: applied, it would change the Canary."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "maxWeight": 60, "stepWeight": 20,
                         "metrics": [{"name": "request-success-rate", "interval": "10s",
                                      "thresholdRange": {"min": 70}}]},
        },
    }


def _segments(path):
    for part in path.split("."):
        match = re.match(r"^([^\[]+)((\[\d+\])*)$", part)
        yield match.group(1)
        for index in re.findall(r"\[(\d+)\]", match.group(2)):
            yield int(index)


def definition_with(**changes):
    """The valid definition with each dotted path (``spec.analysis.metrics[0].interval``) set or deleted."""
    canary = valid_definition()
    for path, value in changes.items():
        keys = [int(key) if isinstance(key, str) and key.isdigit() else key
                for key in _segments(path.replace("__", "."))]
        node = canary
        for key in keys[:-1]:
            node = node[key]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = copy.deepcopy(value)
    return canary


def by_definition(field, **changes):
    """A case sent as ``definition`` alone (name and namespace from its metadata)."""
    return field, {"definition": definition_with(**changes)}


def by_options(field, **options):
    """A case sent as the module's options over the existing canary's settings."""
    args = dict(name="podinfo", namespace=NAMESPACE, target="podinfo", service_port=9898, interval="10s",
                threshold=2, max_weight=60, step_weight=20,
                metrics=[{"name": "request-success-rate", "threshold_min": 70, "interval": "10s"}])
    args.update(options)
    return field, {key: value for key, value in args.items() if value is not None}


NO_STRATEGY = {"spec__analysis__maxWeight": DELETE, "spec__analysis__stepWeight": DELETE}
HEADER_MATCH = [{"headers": {"x-user": {"exact": "tester"}}}]

# id: (the field path the failure must name, the module's arguments)
CASES = {
    "interval in hours": by_definition("spec.analysis.interval", spec__analysis__interval="1h"),
    "interval with a fraction": by_definition("spec.analysis.interval", spec__analysis__interval="1.5m"),
    "interval without a unit": by_definition("spec.analysis.interval", spec__analysis__interval="90"),
    "interval under 10s": by_definition("spec.analysis.interval", spec__analysis__interval="5s"),
    "interval missing": by_definition("spec.analysis.interval", spec__analysis__interval=DELETE),
    "threshold missing": by_definition("spec.analysis.threshold", spec__analysis__threshold=DELETE),
    "threshold zero": by_definition("spec.analysis.threshold", spec__analysis__threshold=0),
    "iterations with stepWeight": by_definition("spec.analysis.iterations", spec__analysis__iterations=5),
    "iterations with maxWeight": by_definition("spec.analysis.maxWeight", spec__analysis__stepWeight=DELETE,
                                               spec__analysis__iterations=5),
    "stepWeights with maxWeight": by_definition("spec.analysis.maxWeight", spec__analysis__stepWeight=DELETE,
                                                spec__analysis__stepWeights=[10, 40]),
    "stepWeights falling": by_definition("spec.analysis.stepWeights", spec__analysis__maxWeight=DELETE,
                                         spec__analysis__stepWeight=DELETE, spec__analysis__stepWeights=[50, 20]),
    "stepWeight above maxWeight": by_definition("spec.analysis.stepWeight", spec__analysis__stepWeight=70),
    "no strategy": by_definition("spec.analysis", **NO_STRATEGY),
    "A/B match with the kubernetes provider": by_definition(
        "spec.analysis.match", spec__provider="kubernetes", spec__analysis__maxWeight=DELETE,
        spec__analysis__stepWeight=DELETE, spec__analysis__iterations=5, spec__analysis__match=HEADER_MATCH),
    "weights with the kubernetes provider": by_definition("spec.analysis.stepWeight", spec__provider="kubernetes"),
    "match without iterations": by_definition("spec.analysis.match", spec__analysis__match=HEADER_MATCH),
    "header match with two matchers": by_definition(
        "spec.analysis.match[0].headers.x-user", spec__analysis__maxWeight=DELETE, spec__analysis__stepWeight=DELETE,
        spec__analysis__iterations=5, spec__analysis__match=[{"headers": {"x-user": {"exact": "a", "prefix": "b"}}}]),
    "metric without threshold": by_definition("spec.analysis.metrics[0]",
                                              spec__analysis__metrics__0__thresholdRange=DELETE),
    "metric min above max": by_definition("spec.analysis.metrics[0].thresholdRange.min",
                                          spec__analysis__metrics__0__thresholdRange={"min": 99, "max": 90}),
    "metric interval in hours": by_definition("spec.analysis.metrics[0].interval",
                                              spec__analysis__metrics__0__interval="1h"),
    "metric unknown template": by_definition("spec.analysis.metrics[0]", spec__analysis__metrics__0__name="budget"),
    "metric template not on the server": by_definition(
        "spec.analysis.metrics[0].templateRef", spec__analysis__metrics__0__name="latency",
        spec__analysis__metrics__0__templateRef={"name": "nowhere"}),
    "mirrorWeight over 100": by_definition("spec.analysis.mirrorWeight", spec__analysis__mirror=True,
                                           spec__analysis__mirrorWeight=101),
    "mirrorWeight negative": by_definition("spec.analysis.mirrorWeight", spec__analysis__mirror=True,
                                           spec__analysis__mirrorWeight=-1),
    "negative progressDeadlineSeconds": by_definition("spec.progressDeadlineSeconds",
                                                      spec__progressDeadlineSeconds=-1),
    "name with capitals": by_definition("metadata.name", metadata__name="PodInfo"),
    "namespace with a dot": by_definition("metadata.namespace", metadata__namespace="validation.prod"),
    "target name not a service name": by_definition("spec.targetRef.name", spec__targetRef__name="1podinfo"),
    "target not on the server": by_definition("spec.targetRef", spec__targetRef__name="nothere"),
    "legacy apiVersion": by_definition("apiVersion", apiVersion="flagger.app/v1alpha3"),
    "legacy canaryAnalysis": by_definition(
        "spec.canaryAnalysis", spec__analysis=DELETE,
        spec__canaryAnalysis={"interval": "10s", "threshold": 2, "maxWeight": 60, "stepWeight": 20}),
    "service port out of range": by_definition("spec.service.port", spec__service__port=70000),
    "unknown webhook type": by_definition("spec.analysis.webhooks[0].type", spec__analysis__webhooks=[
        {"name": "smoke", "type": "pre-deploy", "url": "http://flagger-loadtester.test/"}]),
    "webhook address without a scheme": by_definition("spec.analysis.webhooks[0].url", spec__analysis__webhooks=[
        {"name": "smoke", "type": "pre-rollout", "url": "flagger-loadtester.test/"}]),
    "provider without its version": by_definition("spec.provider", spec__provider="gatewayapi"),
    "misspelt analysis field": by_definition("spec.analysis.stepweight", spec__analysis__stepweight=10),
    "target kind not in the CRD": by_definition("spec.targetRef.kind", spec__targetRef__kind="StatefulSet"),
    "target apiVersion that serves no Deployment": by_definition("spec.targetRef.apiVersion",
                                                                 spec__targetRef__apiVersion="apps/v1beta1"),
    "alert severity not in the CRD": by_definition("spec.analysis.alerts[0].severity", spec__analysis__alerts=[
        {"name": "on-call", "severity": "critical", "providerRef": {"name": "slack"}}]),
    "label value with a space": by_definition("metadata.labels.team", metadata__labels={"team": "a b"}),
    "port name with capitals": by_definition("spec.service.portName", spec__service__portName="HTTP"),
    "session affinity without a cookie": by_definition("spec.analysis.sessionAffinity.cookieName",
                                                       spec__analysis__sessionAffinity={"maxAge": 60}),
    "no name anywhere": ("metadata.name", {"definition": {"spec": valid_definition()["spec"]}}),
    "wait_timeout zero": by_options("wait_timeout", wait=True, wait_timeout=0),
    "option interval in hours": by_options("spec.analysis.interval", interval="2h"),
    "option gates without a load tester": by_options("spec.analysis.webhooks[0].url", gates=["confirm-promotion"]),
    "option progress deadline zero": by_options("spec.progressDeadlineSeconds", progress_deadline=0),
    "option mirror weight over 100": by_options("spec.analysis.mirrorWeight", mirror=True, mirror_weight=150),
    "option metric without threshold": by_options("spec.analysis.metrics[0]",
                                                  metrics=[{"name": "request-success-rate", "interval": "10s"}]),
    "option target port name invalid": by_options("spec.service.targetPort", service_target_port="http_port"),
    "option new canary on a missing target": by_options("spec.targetRef", name="other", target="other"),
}


def _object_of(args):
    """The "namespace/name" a failure must name, as the module works it out."""
    metadata = (args.get("definition") or {}).get("metadata") or {}
    return "%s/%s" % (args.get("namespace") or metadata.get("namespace") or "<no namespace>",
                      args.get("name") or metadata.get("name") or "<no name>")


def test_malformed_canaries_are_refused_naming_the_field_and_change_nothing(existing, kube):
    assert len(CASES) >= 40
    before = _snapshot(kube)
    cases = [{"id": case_id, "args": args} for case_id, (_field, args) in CASES.items()]
    started = time.monotonic()
    run = assert_ok(run_playbook("validation.yml", dict(existing, validation_cases=cases)))
    seconds = time.monotonic() - started
    results = run.results("Apply each malformed canary")[0]["results"]
    assert [result["item"]["id"] for result in results] == list(CASES)
    problems = []
    for result in results:
        case_id = result["item"]["id"]
        field, args = CASES[case_id]
        message = result.get("msg") or ""
        if not result.get("failed"):
            problems.append("%s: not refused (changed=%s)" % (case_id, result.get("changed")))
        elif field not in message:
            problems.append("%s: the message does not name %s: %s" % (case_id, field, message))
        elif _object_of(args) not in message:
            problems.append("%s: the message does not name the canary %s: %s" % (case_id, _object_of(args), message))
        elif field != "wait_timeout" and not any(error.startswith(field) for error in result.get("errors") or []):
            problems.append("%s: no error starts with %s: %s" % (case_id, field, result.get("errors")))
    assert not problems, "\n".join(problems)
    after = _snapshot(kube)
    assert after["deployment"] == before["deployment"]
    assert after["canaries"] == before["canaries"], "canaries changed or appeared"
    # One playbook run for every case: seconds each, not a cluster round trip per test.
    assert seconds < 4 * len(CASES), "%d cases took %.0fs" % (len(CASES), seconds)


@pytest.fixture(scope="module")
def frontend(platform, kube):
    """A namespace and a Deployment for a canary of its own, created with the Kubernetes client."""
    import kubernetes

    core, apps = kubernetes.client.CoreV1Api(kube), kubernetes.client.AppsV1Api(kube)
    try:
        core.create_namespace({"metadata": {"name": DEFINITION_NAMESPACE}})
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
    labels = {"app": "frontend"}
    apps.create_namespaced_deployment(DEFINITION_NAMESPACE, {
        "metadata": {"name": "frontend", "namespace": DEFINITION_NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0",
                                                       "ports": [{"containerPort": 9898, "name": "http"}]}]}}}})
    return platform


def frontend_canary():
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "frontend", "namespace": DEFINITION_NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
            "service": {"port": 9898},
            "analysis": {"interval": "10s", "threshold": 2, "maxWeight": 50, "stepWeight": 25,
                         "metrics": [{"name": "request-success-rate", "interval": "10s",
                                      "thresholdRange": {"min": 70}}]},
        },
    }


def test_a_canary_given_only_as_a_definition_is_created_and_waited_for(frontend, kube):
    import kubernetes

    variables = dict(frontend["vars"], canary_definition=frontend_canary())
    result = assert_ok(run_playbook("canary_definition.yml", variables)).results(
        "Apply the canary definition and wait for Flagger")[0]
    assert result["changed"] and result["phase"] == "Initialized" and result["strategy"] == "canary"
    assert result["canary"]["metadata"]["name"] == "frontend"
    assert result["canary"]["status"]["lastAppliedSpec"]
    # The module returned once Flagger had taken over: the primary exists and the canary says so.
    server = _read_canary(kube, DEFINITION_NAMESPACE, "frontend")
    assert server["status"]["phase"] == "Initialized" and server["status"]["lastAppliedSpec"]
    primary = kubernetes.client.AppsV1Api(kube).read_namespaced_deployment("frontend-primary", DEFINITION_NAMESPACE)
    assert primary.spec.template.spec.containers[0].image == "ghcr.io/stefanprodan/podinfo:6.7.0"

    again = assert_ok(run_playbook("canary_definition.yml", variables)).results(
        "Apply the canary definition and wait for Flagger")[0]
    assert not again["changed"] and again["phase"] == "Initialized"
