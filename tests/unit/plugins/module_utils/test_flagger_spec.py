import ast
import copy
import hashlib
import json
import os
import re
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import build, spec

HERE = os.path.dirname(os.path.abspath(__file__))
DELETE = object()


def params(**overrides):
    base = dict(name="podinfo", namespace="test", target="podinfo", target_kind="Deployment",
                service_port=9898, interval="10s", threshold=3, max_weight=50, step_weight=10)
    base.update(overrides)
    return base


def errors_of(canary, lookup=None, target_exists=None):
    with pytest.raises(spec.CanarySpecError) as error:
        spec.validate_canary(canary, lookup, target_exists)
    return error.value.errors


def valid_canary():
    """A Canary as Flagger's docs write one: weights up to 50 %, one built-in check."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "gateways": ["mesh"]},
            "analysis": {
                "interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                "metrics": [{"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}}],
                "webhooks": [{"name": "load-test", "type": "rollout", "url": "http://flagger-loadtester.test/",
                              "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}}],
            },
        },
    }


def _segments(path):
    for part in path.split("."):
        match = re.match(r"^([^\[]+)((\[\d+\])*)$", part)
        yield match.group(1)
        for index in re.findall(r"\[(\d+)\]", match.group(2)):
            yield int(index)


def changed(canary, changes):
    """A copy of ``canary`` with each dotted path (``spec.analysis.metrics[0].interval``) set or deleted."""
    canary = copy.deepcopy(canary)
    for path, value in changes.items():
        keys = list(_segments(path))
        node = canary
        for key in keys[:-1]:
            node = node[key]
        if value is DELETE:
            del node[keys[-1]]
        elif isinstance(node, list) and keys[-1] == len(node):
            node.append(value)
        else:
            node[keys[-1]] = value
    return canary


def test_a_valid_canary_passes():
    canary = valid_canary()
    assert spec.validate_canary(canary, lambda namespace, name: True, lambda *reference: True) is canary


def test_structured_options_build_a_canary():
    canary = spec.build_canary(params(gateways=["mesh"], metrics=[
        {"name": "request-success-rate", "threshold_min": 70, "interval": "15s"}],
        gates=["confirm-promotion"], loadtester_url="http://127.0.0.1:18888/"))
    assert canary["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}
    assert canary["spec"]["service"] == {"port": 9898, "gateways": ["mesh"]}
    analysis = canary["spec"]["analysis"]
    assert (analysis["maxWeight"], analysis["stepWeight"], analysis["interval"]) == (50, 10, "10s")
    assert analysis["metrics"] == [{"name": "request-success-rate", "interval": "15s", "thresholdRange": {"min": 70}}]
    assert analysis["webhooks"] == [{"name": "gate-confirm-promotion", "type": "confirm-promotion",
                                     "url": "http://127.0.0.1:18888/gate/check"}]
    assert spec.validate_canary(canary) is canary


def test_options_are_laid_over_a_raw_definition():
    definition = {"spec": {"service": {"port": 80}, "analysis": {"interval": "1m", "threshold": 2, "iterations": 5}}}
    canary = spec.build_canary(dict(name="web", namespace="prod", target="web", definition=definition))
    assert canary["spec"]["service"]["port"] == 80
    assert spec.strategy_of(canary["spec"]["analysis"]) == "blue-green"
    assert spec.validate_canary(canary)
    assert definition == {"spec": {"service": {"port": 80}, "analysis": {"interval": "1m", "threshold": 2,
                                                                         "iterations": 5}}}


def errors_with_origins(options):
    """The errors of the Canary the canary module builds from ``options``, as the module reports them."""
    with pytest.raises(spec.CanarySpecError) as error:
        spec.validate_canary(spec.build_canary(options), origins=build.field_origins(options))
    return error.value.errors


@pytest.mark.parametrize("overrides, expected", [
    (dict(max_weight=1000), "spec.analysis.maxWeight (option max_weight) must be between 1 and 100, got 1000"),
    (dict(interval="1h30"), "spec.analysis.interval (option interval) '1h30' is refused by the Canary CRD"),
    (dict(target="Podinfo"), "spec.targetRef.name (option target) 'Podinfo' must be a DNS-1123 subdomain"),
    (dict(target="podinfo\n"), "spec.targetRef.name (option target) 'podinfo\\n' must be a DNS-1123 subdomain"),
    (dict(service_port=0), "spec.service.port (option service_port) must be a port number"),
    (dict(progress_deadline=-1), "spec.progressDeadlineSeconds (option progress_deadline) must be between 1"),
    (dict(provider="gloo\n"), "spec.provider (option provider) 'gloo\\n' may not hold spaces or line breaks"),
    (dict(metrics=[{"name": "request-success-rate", "threshold_min": 99, "interval": "5 minutes"}]),
     "spec.analysis.metrics[0].interval (option metrics[0].interval) '5 minutes' is refused"),
    (dict(metrics=[{"name": "request-success-rate", "interval": "1m"}]),
     "spec.analysis.metrics[0] (option metrics[0]) has no threshold"),
    (dict(labels={"app": "web\n"}), "metadata.labels.app (option labels) value 'web\\n' is not a valid label value"),
    (dict(gates=["confirm-promotion"], loadtester_url="ftp://loadtester.test/"),
     "spec.analysis.webhooks[0].url (option loadtester_url) must be an http(s) address"),
    (dict(webhooks=[{"name": "smoke", "type": "pre-rollout", "url": "http://loadtester.test/\nHost: x"}],
          definition={"spec": {"analysis": {"webhooks": [{"name": "load-test", "type": "rollout",
                                                          "url": "http://flagger-loadtester.test/"}]}}}),
     "spec.analysis.webhooks[1].url (option webhooks[0]) must be an http(s) address without spaces"),
])
def test_a_problem_names_the_option_its_field_came_from(overrides, expected):
    errors = errors_with_origins(params(**overrides))
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_problem_in_the_definition_says_so_and_a_shared_parent_names_neither():
    options = params(max_weight=None, definition={"spec": {"unknown": 1, "analysis": {"maxWeight": 1000}}})
    assert errors_with_origins(options) == [
        "spec.unknown (in definition) is not a field of the Canary CRD: the API server would drop it without a word "
        "(known: provider, metricsServer, progressDeadlineSeconds, targetRef, autoscalerRef, ingressRef, routeRef, "
        "upstreamRef, service, skipAnalysis, revertOnDeletion, suspend, analysis)",
        "spec.analysis.maxWeight (in definition) must be between 1 and 100, got 1000"]
    # spec.analysis came from both: a field missing from it is named by its path alone.
    errors = errors_with_origins(params(threshold=None, definition={"spec": {"analysis": {"iterations": 5}}},
                                        max_weight=None, step_weight=None))
    assert errors == ["spec.analysis.threshold is required by the Canary CRD: the number of failed checks before a "
                      "rollback (option threshold)"]
    # Labels the options add to the definition's: either may hold the key.
    errors = errors_with_origins(params(labels={"a b": "c"}, definition={"metadata": {"labels": {"team": "a"}}}))
    assert errors[0].startswith("metadata.labels (option labels, or in definition) key 'a b'")


def test_a_field_an_option_replaces_is_no_longer_the_definitions():
    definition = {"spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                           "analysis": {"metrics": [{"name": "a"}, {"name": "b"}]}}}
    origins = build.field_origins(params(definition=definition, metrics=[{"name": "request-success-rate"}]))
    assert origins["spec.targetRef.name"] == "option target"
    assert origins["spec.analysis.metrics"] == "option metrics"
    assert "spec.analysis.metrics[1]" not in origins and origins["spec.analysis.metrics[0].name"] == \
        "option metrics[0].name"
    assert origins["spec"] is None and origins["spec.analysis"] is None


def test_a_canary_pasted_from_the_server_needs_no_name_or_namespace_option():
    pasted = valid_canary()
    pasted["metadata"].update(resourceVersion="4711", uid="0b5e", generation=3, creationTimestamp="2026-01-01T00:00:00Z",
                              managedFields=[{"manager": "kubectl"}], labels={"app": "podinfo"})
    pasted["status"] = {"phase": "Succeeded", "lastAppliedSpec": "7bd6dc7ffd"}
    options = dict(definition=pasted, name=None, namespace=None, target=None)
    assert spec.canary_identity(options) == ("test", "podinfo")
    assert spec.identity_errors(options) == []
    canary = spec.build_canary(options)
    assert canary["metadata"] == {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"}}
    assert "status" not in canary
    assert spec.validate_canary(canary)
    assert pasted["status"]["phase"] == "Succeeded"


def test_options_win_over_the_definitions_metadata():
    options = dict(definition=valid_canary(), name="other", namespace="prod")
    assert spec.canary_identity(options) == ("prod", "other")
    assert spec.build_canary(options)["metadata"] == {"name": "other", "namespace": "prod"}


def test_no_name_anywhere_names_both_places_to_give_it():
    options = dict(definition={"spec": {}}, name=None, namespace=None)
    assert spec.canary_identity(options) == (None, None)
    assert spec.identity_errors(options) == [
        "metadata.name is required: give the option name or metadata.name in definition",
        "metadata.namespace is required: give the option namespace or metadata.namespace in definition"]
    errors = errors_of(spec.build_canary(dict(options, target="podinfo", service_port=9898, interval="1m",
                                              threshold=1, step_weight=10)))
    assert errors == spec.identity_errors(options)


def test_step_weight_above_max_weight_names_the_field():
    errors = errors_of(spec.build_canary(params(step_weight=60)))
    assert errors == ["spec.analysis.stepWeight must be <= maxWeight (60 > 50)"]


def test_missing_target_names_the_field():
    errors = errors_of(spec.build_canary(params(target=None)))
    assert "spec.targetRef is required by the Canary CRD: name the Deployment the canary takes over (option target)" \
        in errors


def test_unknown_metric_template_is_refused():
    canary = spec.build_canary(params(metrics=[{"name": "error-budget", "threshold_max": 1}]))
    assert any("spec.analysis.metrics[0]: unknown metric template 'error-budget'" in error
               for error in errors_of(canary))


def test_metric_template_reference_is_checked_on_the_server():
    canary = spec.build_canary(params(metrics=[{"name": "latency", "template": "ops/latency", "threshold_max": 500}]))
    asked = []

    def lookup(namespace, name):
        asked.append((namespace, name))
        return False

    assert errors_of(canary, lookup) == ["spec.analysis.metrics[0].templateRef: MetricTemplate ops/latency not found"]
    assert asked == [("ops", "latency")]
    assert spec.validate_canary(canary, lambda namespace, name: True)


def test_the_target_is_looked_up_on_the_server():
    asked = []

    def target_exists(kind, namespace, name):
        asked.append((kind, namespace, name))
        return False

    errors = errors_of(valid_canary(), target_exists=target_exists)
    assert errors == ["spec.targetRef: Deployment test/podinfo not found: Flagger would have nothing to take over"]
    assert asked == [("Deployment", "test", "podinfo")]


def test_a_malformed_target_is_not_looked_up():
    def target_exists(*reference):
        raise AssertionError("looked up %r" % (reference,))

    errors = errors_of(changed(valid_canary(), {"spec.targetRef.name": "Podinfo"}), target_exists=target_exists)
    assert len(errors) == 1 and errors[0].startswith("spec.targetRef.name 'Podinfo'")


def test_strategies_cannot_be_mixed():
    errors = errors_of(spec.build_canary(params(iterations=5)))
    assert any(error.startswith("spec.analysis.iterations is given with stepWeight: the Canary CRD accepts exactly "
                                "one of iterations, stepWeight, stepWeights") for error in errors)


def test_ab_testing_needs_iterations_and_a_match_on_something():
    ab = spec.build_canary(params(max_weight=None, step_weight=None, iterations=10,
                                  match=[{"headers": {"x-user": {"exact": "testuser"}}}]))
    assert spec.strategy_of(ab["spec"]["analysis"]) == "ab-testing"
    assert spec.validate_canary(ab)
    bad = spec.build_canary(params(max_weight=None, step_weight=None, iterations=10, match=[{"weight": 1}]))
    errors = errors_of(bad)
    assert errors[0] == "spec.analysis.match[0] must match on headers, queryParams or sourceLabels"
    assert errors[1].startswith("spec.analysis.match[0].weight is not a field of the Canary CRD")
    assert len(errors) == 2


def test_every_problem_is_reported_at_once():
    canary = spec.build_canary(params(service_port=0, interval="soon", threshold=0, step_weight=60))
    errors = errors_of(canary)
    assert len(errors) == 4
    assert [error.split(" ")[0] for error in errors] == [
        "spec.service.port", "spec.analysis.interval", "spec.analysis.threshold", "spec.analysis.stepWeight"]
    with pytest.raises(spec.CanarySpecError, match="Canary test/podinfo is invalid"):
        spec.validate_canary(canary)


def test_spec_errors_share_the_collections_error_base():
    from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError

    with pytest.raises(CollectionError) as error:
        spec.validate_canary(spec.build_canary(params(threshold=0)))
    assert error.value.details["errors"] == ["spec.analysis.threshold must be at least 1, got 0 "
                                             "(Flagger would silently use 1)"]


def test_gates_without_a_load_tester_address_are_refused():
    canary = spec.build_canary(params(gates=["confirm-rollout"]))
    assert any("spec.analysis.webhooks[0].url must be an http(s) address" in error for error in errors_of(canary))


def test_step_weights_must_rise():
    canary = spec.build_canary(params(max_weight=None, step_weight=None, step_weights=[50, 20]))
    assert any("spec.analysis.stepWeights must rise" in error for error in errors_of(canary))


@pytest.mark.parametrize("changes", [
    {},
    {"spec.analysis.interval": "10s"},
    {"spec.analysis.interval": "1m30s"},
    {"spec.analysis.maxWeight": DELETE},  # Flagger goes up to 100
    {"spec.analysis.maxWeight": DELETE, "spec.analysis.stepWeight": DELETE, "spec.analysis.stepWeights": [1, 10, 50]},
    {"spec.analysis.maxWeight": DELETE, "spec.analysis.stepWeight": DELETE, "spec.analysis.iterations": 10,
     "spec.analysis.match": [{"headers": {"x-canary": {"regex": ".*insider.*"}}},
                             {"headers": {"cookie": {"suffix": "canary"}}, "queryParams": {"beta": {}}}]},
    {"spec.analysis.maxWeight": DELETE, "spec.analysis.stepWeight": DELETE, "spec.analysis.iterations": 10,
     "spec.provider": "kubernetes"},
    {"spec.analysis.maxWeight": DELETE, "spec.analysis.stepWeight": DELETE, "spec.analysis.iterations": 10,
     "spec.analysis.mirror": True},
    {"spec.analysis.mirror": True, "spec.analysis.mirrorWeight": 100},
    {"spec.analysis.metrics[0].thresholdRange": DELETE, "spec.analysis.metrics[0].threshold": 99},
    {"spec.analysis.metrics[0]": {"name": "p99", "query": "histogram_quantile(0.99, x)", "thresholdRange": {"max": 1}}},
    {"spec.analysis.metrics[0]": {"name": "latency", "templateRef": {"name": "latency", "namespace": "istio-system"},
                                  "thresholdRange": {"max": 500}, "interval": "30s",
                                  "templateVariables": {"reference": "podinfo"}}},
    {"spec.analysis.webhooks[0].type": ""},
    {"spec.analysis.webhooks[0].timeout": "1m30s"},
    {"spec.provider": "gatewayapi:v1", "spec.service.gatewayRefs": [{"name": "gateway", "namespace": "istio"}]},
    {"spec.provider": "smi:v1alpha3:linkerd"},
    {"spec.provider": "appmesh:v1beta2"},
    {"spec.progressDeadlineSeconds": 60},
    {"spec.targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "podinfo"},
     "spec.provider": "knative"},
    {"spec.service.name": "frontend", "spec.targetRef.name": "podinfo.v2"},
    {"spec.service.targetPort": "http", "spec.service.portName": "http-web"},
    {"spec.autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo",
                            "primaryScalerReplicas": {"minReplicas": 2, "maxReplicas": 4}}},
    {"spec.analysis.alerts": [{"name": "on-call", "severity": "error", "providerRef": {"name": "slack"}}]},
    {"spec.analysis.sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 21600}},
    {"metadata.labels": {"app.kubernetes.io/name": "podinfo", "tier": ""},
     "metadata.annotations": {"example.com/owner": "team-a"}},
    {"status": {"phase": "Succeeded"}},
])
def test_canaries_flagger_takes_pass(changes):
    canary = changed(valid_canary(), changes)
    assert spec.validate_canary(canary, lambda namespace, name: True, lambda *reference: True) is canary


NO_STRATEGY = {"spec.analysis.maxWeight": DELETE, "spec.analysis.stepWeight": DELETE}
BLUE_GREEN = dict(NO_STRATEGY, **{"spec.analysis.iterations": 5})
LONG_NAME = "a" * 56

# (changes to the valid canary, the field path the error must start with, a part of its message)
MALFORMED = [
    ({"spec.analysis.interval": "1h"}, "spec.analysis.interval", "write 60m"),
    ({"spec.analysis.interval": "1.5m"}, "spec.analysis.interval", "write 90s"),
    ({"spec.analysis.interval": "90"}, "spec.analysis.interval", "write 90s"),
    ({"spec.analysis.interval": "5s"}, "spec.analysis.interval", "Flagger raises any analysis interval under 10s"),
    ({"spec.analysis.interval": "10ms"}, "spec.analysis.interval", "under 10s"),
    ({"spec.analysis.interval": "5mx"}, "spec.analysis.interval", "not a duration Flagger can parse"),
    ({"spec.analysis.interval": 60}, "spec.analysis.interval", "must be a duration string"),
    ({"spec.analysis.interval": DELETE}, "spec.analysis.interval", "is required"),
    ({"spec.analysis.threshold": DELETE}, "spec.analysis.threshold", "is required"),
    ({"spec.analysis.threshold": 0}, "spec.analysis.threshold", "at least 1"),
    ({"spec.analysis.threshold": 2.5}, "spec.analysis.threshold", "whole number"),
    ({"spec.analysis.iterations": 5}, "spec.analysis.iterations", "is given with stepWeight"),
    ({"spec.analysis.stepWeights": [10, 20]}, "spec.analysis.stepWeight", "is given with stepWeights"),
    (dict(BLUE_GREEN, **{"spec.analysis.maxWeight": 50}), "spec.analysis.maxWeight", "ignored with"),
    (dict(NO_STRATEGY, **{"spec.analysis.stepWeights": [10, 50], "spec.analysis.maxWeight": 50}),
     "spec.analysis.maxWeight", "ignored with spec.analysis.stepWeights"),
    (dict(NO_STRATEGY, **{"spec.analysis.stepWeights": [50, 20]}), "spec.analysis.stepWeights", "rise strictly"),
    (dict(NO_STRATEGY, **{"spec.analysis.stepWeights": [20, 20]}), "spec.analysis.stepWeights", "rise strictly"),
    (dict(NO_STRATEGY, **{"spec.analysis.stepWeights": [0, 50]}), "spec.analysis.stepWeights", "between 1 and 100"),
    ({"spec.analysis.stepWeight": 60}, "spec.analysis.stepWeight", "<= maxWeight (60 > 50)"),
    ({"spec.analysis.stepWeight": 0}, "spec.analysis.stepWeight", "between 1 and 100"),
    ({"spec.analysis.maxWeight": 150}, "spec.analysis.maxWeight", "between 1 and 100"),
    (NO_STRATEGY, "spec.analysis", "has none of iterations, stepWeight, stepWeights"),
    (dict(NO_STRATEGY, **{"spec.analysis.iterations": 0}), "spec.analysis.iterations", "at least 1"),
    (dict(BLUE_GREEN, **{"spec.provider": "kubernetes",
                         "spec.analysis.match": [{"headers": {"x-user": {"exact": "test"}}}]}),
     "spec.analysis.match", "kubernetes provider"),
    ({"spec.provider": "kubernetes"}, "spec.analysis.stepWeight", "run 10 iterations"),
    ({"spec.analysis.match": [{"headers": {"x-user": {"exact": "test"}}}]}, "spec.analysis.match",
     "needs spec.analysis.iterations"),
    (dict(BLUE_GREEN, **{"spec.analysis.match": [{"headers": {"x-user": {"exact": "a", "prefix": "b"}}}]}),
     "spec.analysis.match[0].headers.x-user", "exactly one of exact, prefix, suffix, regex"),
    (dict(BLUE_GREEN, **{"spec.analysis.match": [{"headers": {"x-user": {}}}]}),
     "spec.analysis.match[0].headers.x-user", "exactly one"),
    (dict(BLUE_GREEN, **{"spec.analysis.match": [{"uri": {"prefix": "/beta"}}]}), "spec.analysis.match[0]",
     "must match on headers"),
    (dict(BLUE_GREEN, **{"spec.analysis.match": [{"headers": {"x": {"exact": "1"}}, "uri": {"prefix": "/"}}]}),
     "spec.analysis.match[0].uri", "not a field"),
    (dict(BLUE_GREEN, **{"spec.service.gateways": ["public-gateway"],
                         "spec.analysis.match": [{"sourceLabels": {"app": "frontend"}}]}),
     "spec.analysis.match[0].sourceLabels", "in-mesh"),
    ({"spec.analysis.metrics[0].thresholdRange": DELETE}, "spec.analysis.metrics[0]", "has no threshold"),
    ({"spec.analysis.metrics[0].thresholdRange": {}}, "spec.analysis.metrics[0]", "has no threshold"),
    ({"spec.analysis.metrics[0].thresholdRange": {"min": 99, "max": 90}}, "spec.analysis.metrics[0].thresholdRange.min",
     "<= max"),
    ({"spec.analysis.metrics[0].thresholdRange": {"min": "99"}}, "spec.analysis.metrics[0].thresholdRange.min",
     "must be a number"),
    ({"spec.analysis.metrics[0].threshold": 99}, "spec.analysis.metrics[0].threshold", "ignored when thresholdRange"),
    ({"spec.analysis.metrics[0].interval": "1h"}, "spec.analysis.metrics[0].interval", "write 60m"),
    ({"spec.analysis.metrics[0].name": "error-budget"}, "spec.analysis.metrics[0]", "unknown metric template"),
    ({"spec.analysis.metrics[0].name": DELETE}, "spec.analysis.metrics[0].name", "is required"),
    ({"spec.analysis.metrics[0].templateRef": {"namespace": "ops"}}, "spec.analysis.metrics[0].templateRef.name",
     "is required"),
    ({"spec.analysis.metrics[0].templateRef": "latency"}, "spec.analysis.metrics[0].templateRef", "must be a mapping"),
    ({"spec.analysis.metrics[0].templateVariables": {"limit": 5}}, "spec.analysis.metrics[0].templateVariables.limit",
     "must be a string"),
    ({"spec.analysis.metrics[0].thresholdrange": {"min": 1}}, "spec.analysis.metrics[0].thresholdrange",
     "did you mean thresholdRange"),
    ({"spec.analysis.mirror": True, "spec.analysis.mirrorWeight": 101}, "spec.analysis.mirrorWeight",
     "between 0 and 100"),
    ({"spec.analysis.mirror": True, "spec.analysis.mirrorWeight": -1}, "spec.analysis.mirrorWeight",
     "between 0 and 100"),
    ({"spec.analysis.mirrorWeight": 50}, "spec.analysis.mirrorWeight", "ignored without spec.analysis.mirror"),
    ({"spec.analysis.mirror": True, "spec.provider": "linkerd"}, "spec.analysis.mirror",
     "ignored by the linkerd provider"),
    ({"spec.progressDeadlineSeconds": -1}, "spec.progressDeadlineSeconds", "between 1 and"),
    ({"spec.progressDeadlineSeconds": 0}, "spec.progressDeadlineSeconds", "between 1 and"),
    ({"spec.progressDeadlineSeconds": 60.5}, "spec.progressDeadlineSeconds", "whole number"),
    ({"metadata.name": "PodInfo"}, "metadata.name", "DNS-1123 subdomain"),
    ({"metadata.name": "a" * 254}, "metadata.name", "at most 253"),
    ({"metadata.name": "pod_info"}, "metadata.name", "DNS-1123 subdomain"),
    ({"metadata.namespace": "my.team"}, "metadata.namespace", "DNS-1123 label"),
    ({"metadata.namespace": "-test"}, "metadata.namespace", "DNS-1123 label"),
    ({"metadata.namespace": DELETE}, "metadata.namespace", "is required"),
    ({"metadata.name": DELETE}, "metadata.name", "is required"),
    ({"spec.targetRef.name": "Podinfo"}, "spec.targetRef.name", "DNS-1123 subdomain"),
    ({"spec.targetRef.name": "1podinfo"}, "spec.targetRef.name", "DNS-1035 label"),
    ({"spec.targetRef.name": "podinfo.v2"}, "spec.targetRef.name", "DNS-1035 label"),
    ({"spec.targetRef.name": LONG_NAME}, "spec.targetRef.name", "at most 55"),
    ({"spec.service.name": "my.svc"}, "spec.service.name", "DNS-1035 label"),
    ({"spec.targetRef.kind": "StatefulSet"}, "spec.targetRef.kind", "is not one of DaemonSet, Deployment, Service"),
    ({"spec.targetRef.apiVersion": "apps/v1beta1"}, "spec.targetRef.apiVersion", "use apps/v1"),
    ({"spec.targetRef.apiVersion": DELETE}, "spec.targetRef.apiVersion", "is required"),
    ({"spec.targetRef": DELETE}, "spec.targetRef", "is required by the Canary CRD"),
    ({"apiVersion": "flagger.app/v1alpha3"}, "apiVersion", "use flagger.app/v1beta1"),
    ({"spec.canaryAnalysis": {"interval": "1m", "threshold": 5, "stepWeight": 10}, "spec.analysis": DELETE},
     "spec.canaryAnalysis", "use spec.analysis"),
    ({"kind": "Rollout"}, "kind", "must be Canary"),
    ({"spec.analysis": DELETE}, "spec.analysis", "is required"),
    ({"spec.service.port": 70000}, "spec.service.port", "1-65535"),
    ({"spec.service.port": 0}, "spec.service.port", "1-65535"),
    ({"spec.service.port": "9898"}, "spec.service.port", "must be a number"),
    ({"spec.service.port": 98.5}, "spec.service.port", "1-65535"),
    ({"spec.service": DELETE}, "spec.service.port", "is required"),
    ({"spec.service.targetPort": 0}, "spec.service.targetPort", "1-65535"),
    ({"spec.service.targetPort": "http_port"}, "spec.service.targetPort", "port name"),
    ({"spec.service.portName": "HTTP"}, "spec.service.portName", "DNS-1123 label"),
    ({"spec.service.gateway": ["mesh"]}, "spec.service.gateway", "did you mean gateways"),
    ({"spec.analysis.webhooks[0].type": "pre-deploy"}, "spec.analysis.webhooks[0].type", "is not one of"),
    ({"spec.analysis.webhooks[0].url": "flagger-loadtester.test/"}, "spec.analysis.webhooks[0].url", "http(s)"),
    ({"spec.analysis.webhooks[0].timeout": "1h"}, "spec.analysis.webhooks[0].timeout", "write 60m"),
    ({"spec.analysis.webhooks[0].metadata": {"cmd": 1}}, "spec.analysis.webhooks[0].metadata.cmd", "must be a string"),
    ({"spec.analysis.webhooks[0].name": DELETE}, "spec.analysis.webhooks[0].name", "is required"),
    ({"spec.analysis.webhooks[1]": {"name": "load-test", "url": "http://flagger-loadtester.test/"}},
     "spec.analysis.webhooks[1].name", "used twice"),
    ({"spec.analysis.alerts": [{"name": "on-call", "severity": "critical", "providerRef": {"name": "slack"}}]},
     "spec.analysis.alerts[0].severity", "is not one of '', info, warn, error"),
    ({"spec.analysis.alerts": [{"name": "on-call"}]}, "spec.analysis.alerts[0].providerRef", "is required"),
    ({"spec.analysis.alerts": [{"name": "on-call", "providerRef": {"name": ""}}]},
     "spec.analysis.alerts[0].providerRef.name", "must name an AlertProvider"),
    ({"spec.provider": "gatewayapi"}, "spec.provider", "write gatewayapi:v1"),
    ({"spec.provider": "smi"}, "spec.provider", "smi:v1alpha3:<mesh>"),
    ({"spec.provider": "nginx-ingress"}, "spec.provider", "route it as istio"),
    ({"spec.analysis.stepweight": 10}, "spec.analysis.stepweight", "did you mean stepWeight"),
    ({"spec.target": "podinfo"}, "spec.target", "not a field of the Canary CRD"),
    ({"spec.autoscalerRef": {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
                             "name": "podinfo"}}, "spec.autoscalerRef.kind",
     "is not one of HorizontalPodAutoscaler, ScaledObject"),
    ({"spec.autoscalerRef": {"kind": "HorizontalPodAutoscaler", "name": "podinfo"}}, "spec.autoscalerRef.apiVersion",
     "is required"),
    ({"spec.autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo",
                             "primaryScalerReplicas": {"minReplicas": 0}}},
     "spec.autoscalerRef.primaryScalerReplicas.minReplicas", "at least 1"),
    ({"spec.analysis.primaryReadyThreshold": 150}, "spec.analysis.primaryReadyThreshold", "between 0 and 100"),
    ({"spec.analysis.canaryReadyThreshold": -5}, "spec.analysis.canaryReadyThreshold", "between 0 and 100"),
    ({"spec.analysis.stepWeightPromotion": 0}, "spec.analysis.stepWeightPromotion", "between 1 and 100"),
    ({"spec.analysis.sessionAffinity": {"maxAge": 60}}, "spec.analysis.sessionAffinity.cookieName", "is required"),
    ({"metadata.labels": {"team": "a b"}}, "metadata.labels.team", "not a valid label value"),
    ({"metadata.labels": {"tier": 5}}, "metadata.labels.tier", "must be a string"),
    ({"metadata.annotations": {"bad key": "x"}}, "metadata.annotations", "not a valid Kubernetes key"),
    ({"spec.skipAnalysis": "yes"}, "spec.skipAnalysis", "true or false"),
    ({"spec.ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Route", "name": "podinfo"}},
     "spec.ingressRef.kind", "is not one of Ingress"),
    ({"statusx": {}}, "statusx", "not a field"),
]


@pytest.mark.parametrize("changes,path,words", MALFORMED,
                         ids=["%s=%s" % ("+".join(changes), path) for changes, path, _words in MALFORMED])
def test_a_malformed_canary_is_refused_naming_the_field(changes, path, words):
    canary = changed(valid_canary(), changes)
    with pytest.raises(spec.CanarySpecError) as raised:
        spec.validate_canary(canary, lambda namespace, name: True, lambda *reference: True)
    errors = raised.value.errors
    named = [error for error in errors if error.startswith(path + " ") or error.startswith(path + ".")
             or error.startswith(path + ":")]
    assert named, "no error names %s: %s" % (path, errors)
    assert any(words in error for error in named), "%r not in %s" % (words, named)
    metadata = canary.get("metadata") or {}
    obj = "%s/%s" % (metadata.get("namespace") or "<no namespace>", metadata.get("name") or "<no name>")
    assert str(raised.value).startswith("Canary %s is invalid: " % obj)


def test_there_are_at_least_forty_distinct_malformed_inputs():
    assert len({repr(sorted((key, repr(value)) for key, value in changes.items())) for changes, _p, _w in MALFORMED}) \
        == len(MALFORMED) >= 40


# -- waiting for Flagger ----------------------------------------------------------------

KEY = "test/podinfo"


def fixture(name):
    with open(os.path.join(HERE, "fixtures", name + ".yaml")) as handle:
        return yaml.safe_load(handle)


def with_status(**status):
    canary = fixture("canary_initialized")
    canary["status"] = status
    return canary


def test_a_canary_flagger_has_not_seen_yet_is_waited_for():
    predicate = spec.initialised_predicate(KEY)
    fresh = with_status()
    del fresh["status"]
    verdict = predicate({KEY: fresh})
    assert not verdict.done and verdict.data["phase"] == "Pending"
    verdict = predicate({KEY: with_status(phase="Initializing", lastAppliedSpec="7bd6dc7ffd")})
    assert not verdict.done and verdict.message == "Initializing"


def test_initialized_ends_the_wait():
    verdict = spec.initialised_predicate(KEY)({KEY: fixture("canary_initialized")})
    assert verdict.done and verdict.ok and verdict.data["phase"] == "Initialized"
    assert verdict.data["canary"]["status"]["lastAppliedSpec"] == "7bd6dc7ffd"


@pytest.mark.parametrize("phase", ["Succeeded", "Progressing", "WaitingPromotion", "Failed"])
def test_a_canary_taken_over_before_is_initialised_in_any_later_phase(phase):
    """Failed with a promoted revision is a rolled-back release: the primary serves."""
    verdict = spec.initialised_predicate(KEY)({KEY: with_status(phase=phase, lastAppliedSpec="a1",
                                                                lastPromotedSpec="b2")})
    assert verdict.done and verdict.ok and verdict.data["phase"] == phase


def test_a_failed_initialisation_ends_the_wait_at_once():
    verdict = spec.initialised_predicate(KEY)({KEY: with_status(phase="Failed", lastAppliedSpec="a1")})
    assert verdict.done and not verdict.ok and "could not initialise" in verdict.message


@pytest.mark.parametrize("objects,message", [({}, "deleted"), ({KEY: with_status(phase="Terminating")}, "deleted")])
def test_a_canary_going_away_ends_the_wait(objects, message):
    verdict = spec.initialised_predicate(KEY)(objects)
    assert verdict.done and not verdict.ok and message in verdict.message


def test_the_deletion_wait_ends_when_the_canary_is_gone():
    predicate = spec.deleted_predicate(KEY)
    assert not predicate({KEY: with_status(phase="Terminating")}).done
    verdict = predicate({})
    assert verdict.done and verdict.ok


# -- the CRD's own schema ------------------------------------------------------------------------

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canary_crd, validate  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))


@pytest.mark.parametrize("changes,error", [
    ({"spec.service.gatewayRefs": [{"namespace": "istio"}]}, "spec.service.gatewayRefs[0].name is required by the "
                                                             "Canary CRD"),
    ({"spec.service.trafficPolicy": {"tls": {"mode": "STRICT"}}},
     "spec.service.trafficPolicy.tls.mode 'STRICT' is not one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL"),
    ({"spec.service.corsPolicy": {"allowOrigins": [{"exact": "a.test", "prefix": "b"}]}},
     "spec.service.corsPolicy.allowOrigins[0].exact is given with prefix: the Canary CRD accepts exactly one of "
     "exact, prefix, regex"),
    ({"spec.service.retries": {"attemps": 3}}, "spec.service.retries.attemps is not a field of the Canary CRD: the "
                                               "API server would drop it without a word (did you mean attempts?"),
    ({"spec.service.timeout": 30}, "spec.service.timeout must be a string, got 30"),
    ({"spec.service.trafficPolicy": {"loadBalancer": {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}}},
     "spec.service.trafficPolicy.loadBalancer fits more than one form"),
])
def test_what_only_the_crd_schema_knows_is_refused_by_it(changes, error):
    """The hand-written lists never went below these fields; the CRD's schema does."""
    errors = errors_of(changed(valid_canary(), changes), lambda *a: True, lambda *a: True)
    assert any(item.startswith(error) for item in errors), errors


def test_the_crd_requires_interval_and_threshold_with_every_strategy():
    """The v1.41.0 CRD has no `required` list on spec.analysis, but its oneOf requires both in each branch
    (flagger commit 43662582, "required fields: spec.analysis.interval and spec.analysis.threshold"); the API
    server refuses a Canary without them, so they are refused here too."""
    branches = canary_crd.SCHEMA["properties"]["spec"]["properties"]["analysis"]["oneOf"]
    assert branches == [{"required": ["interval", "threshold", strategy]}
                        for strategy in ("iterations", "stepWeight", "stepWeights")]
    without = changed(valid_canary(), {"spec.analysis.interval": DELETE, "spec.analysis.threshold": DELETE})
    assert validate.schema_errors(without) == [
        "spec.analysis.interval is required by the Canary CRD: the time between analysis steps, for example 1m "
        "(option interval)",
        "spec.analysis.threshold is required by the Canary CRD: the number of failed checks before a rollback "
        "(option threshold)"]


def test_a_schema_error_is_not_said_twice():
    errors = errors_of(changed(valid_canary(), {"spec.analysis.interval": "1h", "spec.service.port": "80"}))
    assert errors == [
        "spec.service.port must be a number, got '80'",
        "spec.analysis.interval '1h' is refused by the Canary CRD (pattern ^[0-9]+(m|s): whole seconds or minutes): "
        "write 60m"]


def test_without_jsonschema_the_flagger_checks_still_run(monkeypatch):
    """The module's host may lack jsonschema: the API server's strict dry run checks the schema then."""
    monkeypatch.setattr(validate, "jsonschema", None)
    assert validate.schema_errors(changed(valid_canary(), {"spec.service.retries": {"attemps": 3}})) == []
    assert errors_of(spec.build_canary(params(step_weight=60))) == [
        "spec.analysis.stepWeight must be <= maxWeight (60 > 50)"]


def _go_module_cache():
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        try:
            cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, timeout=30,
                                   check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            cache = os.path.join(os.path.expanduser("~"), "go", "pkg", "mod")
    return cache


def _without_descriptions(node):
    if isinstance(node, dict):
        return {key: _without_descriptions(value) for key, value in node.items()
                if not (key == "description" and isinstance(value, str))}
    if isinstance(node, list):
        return [_without_descriptions(value) for value in node]
    return node


def test_the_vendored_schema_is_the_one_the_flagger_role_installs():
    with open(os.path.join(ROOT, "roles", "flagger", "defaults", "main.yml")) as handle:
        assert yaml.safe_load(handle)["flagger_version"] == canary_crd.FLAGGER_VERSION, \
            "flagger_version moved: vendor that Flagger's Canary schema into flagger/canary_crd.py"


def test_the_vendored_schema_matches_the_pinned_modules_crd():
    crd = os.path.join(_go_module_cache(), "github.com", "fluxcd", "flagger@%s" % canary_crd.FLAGGER_VERSION,
                       "artifacts", "flagger", "crd.yaml")
    if not os.path.exists(crd):
        pytest.skip("the Go module cache has no flagger@%s (hack/run.sh setup fetches it)" % canary_crd.FLAGGER_VERSION)
    with open(crd, "rb") as handle:
        raw = handle.read()
    assert hashlib.sha256(raw).hexdigest() == canary_crd.SOURCE_SHA256
    document = next(doc for doc in yaml.safe_load_all(raw) if doc and doc["spec"]["names"]["kind"] == "Canary")
    version = next(item for item in document["spec"]["versions"] if item["name"] == "v1beta1")
    assert _without_descriptions(version["schema"]["openAPIV3Schema"]) == canary_crd.SCHEMA


def _schema_node(path):
    """The schema node of a dotted field path (``spec.analysis.metrics[].interval``), or None."""
    node = canary_crd.SCHEMA
    for part in re.findall(r"[^.\[\]]+|\[\]", path):
        if part == "[]":
            node = node.get("items")
        else:
            # A key of a map (a header name, a template variable) lives under additionalProperties.
            node = (node.get("properties") or {}).get(part) or node.get("additionalProperties")
        if not isinstance(node, dict):
            return None
    return node


def _semantic_field_paths():
    """Every ``spec....`` field path the hand-written layer names in its messages."""
    with open(validate.__file__) as handle:
        tree = ast.parse(handle.read())
    paths = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in re.findall(r"\bspec(?:\.[A-Za-z]+|\[%d\])+", node.value):
                paths.add(match.replace("[%d]", "[]"))
    return paths


def test_every_field_the_semantic_layer_names_is_in_the_pinned_crd():
    """Read from its source: each spec.* path written into a message."""
    # spec.canaryAnalysis is named only to say that the v1beta1 CRD does not know it.
    paths = _semantic_field_paths() - {"spec.canaryAnalysis"}
    assert len(paths) > 20
    assert [path for path in sorted(paths) if _schema_node(path) is None] == []


def test_every_field_the_semantic_layer_reports_on_is_in_the_pinned_crd():
    """Seen at work: the path of every error it gives on the malformed canaries above."""
    reported = set()
    for changes, _path, _words in MALFORMED:
        for error in validate.semantic_errors(changed(valid_canary(), changes), lambda *a: False, lambda *a: False):
            if error.startswith("spec"):
                reported.add(re.sub(r"\[\d+\]", "[]", re.match(r"^[^ :]*", error).group(0)))
    assert len(reported) > 25
    assert [path for path in sorted(reported) if _schema_node(path) is None] == []


def test_the_semantic_layers_fixed_values_agree_with_the_pinned_crd():
    spec_schema = canary_crd.SCHEMA["properties"]["spec"]["properties"]
    analysis = spec_schema["analysis"]["properties"]
    assert set(validate.TARGET_API_VERSIONS) == set(spec_schema["targetRef"]["properties"]["kind"]["enum"])
    assert set(spec.GATE_WEBHOOKS) <= set(analysis["webhooks"]["items"]["properties"]["type"]["enum"])
    for duration in (analysis["interval"], analysis["metrics"]["items"]["properties"]["interval"],
                     analysis["webhooks"]["items"]["properties"]["timeout"]):
        assert duration["pattern"] == validate.CRD_DURATION_PATTERN
    # The strategies model.strategy_of and analysis_steps read are the CRD's oneOf choices.
    assert [branch["required"][-1] for branch in spec_schema["analysis"]["oneOf"]] == [
        "iterations", "stepWeight", "stepWeights"]
    assert {"match", "mirror", "maxWeight"} <= set(analysis)


# -- the strict dry run ----------------------------------------------------------------------------

class ApplyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._json(404, {"kind": "Status", "code": 404, "message": "not found"})

    def do_PATCH(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
        self._json(200, body)


@pytest.fixture
def kube_server():
    import kubernetes

    from ansible_collections.gitops.progressive.plugins.module_utils.kube import api

    class Dynamic:
        from kubernetes.dynamic.client import DynamicClient

        request = DynamicClient.request

        def __init__(self, client):
            self.client = client

    ApplyHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ApplyHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        yield api.Kube(Dynamic(kubernetes.client.ApiClient(configuration)))
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_apply_asks_the_api_server_for_strict_field_validation(kube_server, check_mode):
    """Without fieldValidation=Strict the API server prunes an unknown field and answers 200."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries

    changed_, before, _after = canaries.apply_canary(kube_server, valid_canary(), check_mode)
    assert changed_ and before is None
    assert [query.get("fieldValidation") for query in ApplyHandler.seen] == [["Strict"]] * (1 if check_mode else 2)
    assert ApplyHandler.seen[0]["dryRun"] == ["All"] and ApplyHandler.seen[0]["fieldManager"] == ["gitops.progressive"]
    if not check_mode:
        assert "dryRun" not in ApplyHandler.seen[1]
