# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger Canary specs: built from structured options, validated before anything is written.

Every error names the field by its path in the Canary (``analysis.stepWeight``,
``analysis.metrics[1].templateRef``) and the object (namespace/name), so a failed task
says what to fix without a look at Flagger's logs.
"""

from __future__ import annotations

import copy
import re

API_VERSION = "flagger.app/v1beta1"
KIND = "Canary"
BUILTIN_METRICS = ("request-success-rate", "request-duration")
WEBHOOK_TYPES = ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
                 "confirm-promotion", "post-rollout", "rollback", "event")
GATE_WEBHOOKS = {
    "confirm-rollout": "/gate/check",
    "confirm-traffic-increase": "/gate/check",
    "confirm-promotion": "/gate/check",
    "rollback": "/rollback/check",
}
PROVIDERS = ("istio", "linkerd", "appmesh", "contour", "gloo", "nginx", "skipper", "traefik",
             "apisix", "osm", "kuma", "knative", "gatewayapi", "kubernetes")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


class CanarySpecError(ValueError):
    """Invalid input; ``errors`` lists each problem with its field path."""

    def __init__(self, obj, errors):
        self.errors = errors
        super().__init__("Canary %s is invalid: %s" % (obj, "; ".join(errors)))


def _drop_empty(value):
    if isinstance(value, dict):
        cleaned = {key: _drop_empty(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [_drop_empty(item) for item in value]
    return value


def metric_from_option(metric):
    """One entry of the module's ``metrics`` option as Flagger's analysis.metrics item."""
    threshold = {}
    if metric.get("threshold_min") is not None:
        threshold["min"] = metric["threshold_min"]
    if metric.get("threshold_max") is not None:
        threshold["max"] = metric["threshold_max"]
    item = {"name": metric["name"], "interval": metric.get("interval") or "1m", "thresholdRange": threshold}
    if metric.get("template"):
        namespace, _slash, name = metric["template"].rpartition("/")
        item["templateRef"] = {"name": name}
        if namespace:
            item["templateRef"]["namespace"] = namespace
    if metric.get("template_variables"):
        item["templateVariables"] = metric["template_variables"]
    return item


def gate_webhooks(gates, loadtester_url):
    """Webhooks for Flagger's manual gates, pointed at the load tester's gate endpoints."""
    base = (loadtester_url or "").rstrip("/")
    return [{"name": "gate-%s" % gate, "type": gate, "url": base + GATE_WEBHOOKS[gate]} for gate in gates]


def build_canary(params):
    """The Canary object for the module's options; ``definition`` is the base when given."""
    canary = copy.deepcopy(params.get("definition") or {})
    canary.setdefault("apiVersion", API_VERSION)
    canary.setdefault("kind", KIND)
    metadata = canary.setdefault("metadata", {})
    if params.get("name"):
        metadata["name"] = params["name"]
    if params.get("namespace"):
        metadata["namespace"] = params["namespace"]
    for key in ("labels", "annotations"):
        if params.get(key):
            metadata.setdefault(key, {}).update(params[key])
    spec = canary.setdefault("spec", {})
    if params.get("provider"):
        spec["provider"] = params["provider"]
    if params.get("target"):
        spec["targetRef"] = {"apiVersion": "apps/v1", "kind": params.get("target_kind") or "Deployment",
                             "name": params["target"]}
    if params.get("autoscaler"):
        spec["autoscalerRef"] = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                 "name": params["autoscaler"]}
    if params.get("progress_deadline") is not None:
        spec["progressDeadlineSeconds"] = params["progress_deadline"]
    if params.get("skip_analysis") is not None:
        spec["skipAnalysis"] = params["skip_analysis"]
    service = spec.setdefault("service", {})
    for option, field in (("service_port", "port"), ("service_target_port", "targetPort"),
                          ("service_port_name", "portName"), ("gateways", "gateways"), ("hosts", "hosts")):
        if params.get(option) not in (None, []):
            service[field] = params[option]
    analysis = spec.setdefault("analysis", {})
    for option, field in (("interval", "interval"), ("threshold", "threshold"), ("max_weight", "maxWeight"),
                          ("step_weight", "stepWeight"), ("step_weights", "stepWeights"),
                          ("iterations", "iterations"), ("match", "match"), ("mirror", "mirror"),
                          ("mirror_weight", "mirrorWeight"), ("alerts", "alerts")):
        if params.get(option) not in (None, []):
            analysis[field] = params[option]
    if params.get("metrics"):
        analysis["metrics"] = [metric_from_option(metric) for metric in params["metrics"]]
    webhooks = list(analysis.get("webhooks") or [])
    if params.get("gates"):
        webhooks += gate_webhooks(params["gates"], params.get("loadtester_url"))
    if params.get("load_test_cmd"):
        webhooks.append({"name": "load-test", "type": "rollout",
                         "url": (params.get("loadtester_url") or "").rstrip("/") + "/",
                         "metadata": {"cmd": params["load_test_cmd"]}})
    webhooks += params.get("webhooks") or []
    if webhooks:
        analysis["webhooks"] = webhooks
    return _drop_empty(canary)


def strategy_of(analysis):
    """canary (weights), ab-testing (iterations + match), blue-green (iterations), or None."""
    analysis = analysis or {}
    if analysis.get("iterations"):
        return "ab-testing" if analysis.get("match") else "blue-green"
    if analysis.get("stepWeight") or analysis.get("stepWeights") or analysis.get("maxWeight"):
        return "canary"
    return None


def validate_canary(canary, metric_template_exists=None):
    """Check a Canary object; raise CanarySpecError listing every problem.

    ``metric_template_exists(namespace, name)`` looks a MetricTemplate up on the server.
    """
    errors = []
    metadata = canary.get("metadata") or {}
    obj = "%s/%s" % (metadata.get("namespace") or "<no namespace>", metadata.get("name") or "<no name>")
    if not metadata.get("name"):
        errors.append("metadata.name is required")
    spec = canary.get("spec") or {}
    target = spec.get("targetRef") or {}
    if not target.get("name"):
        errors.append("spec.targetRef.name is missing: name the Deployment the canary takes over (option target)")
    elif target.get("kind") not in ("Deployment", "DaemonSet", "Service"):
        errors.append("spec.targetRef.kind must be Deployment, DaemonSet or Service, got %r" % target.get("kind"))
    port = (spec.get("service") or {}).get("port")
    if not isinstance(port, int) or not 0 < port < 65536:
        errors.append("service.port must be a port number (1-65535), got %r" % (port,))
    if spec.get("provider") and spec["provider"].split(":")[0] not in PROVIDERS:
        errors.append("spec.provider %r is not one Flagger knows (%s)" % (spec["provider"], ", ".join(PROVIDERS)))
    errors += _validate_analysis(spec.get("analysis") or {}, metadata.get("namespace"), metric_template_exists)
    if errors:
        raise CanarySpecError(obj, errors)
    return canary


def _validate_analysis(analysis, namespace, metric_template_exists):
    errors = []
    for field in ("interval",):
        if analysis.get(field) is not None and not _DURATION.match(str(analysis[field])):
            errors.append("analysis.%s must be a duration like 30s or 1m, got %r" % (field, analysis[field]))
    if not analysis.get("interval"):
        errors.append("analysis.interval is required (for example 1m)")
    if analysis.get("threshold") is not None and analysis["threshold"] < 1:
        errors.append("analysis.threshold must be at least 1, got %r" % analysis["threshold"])
    step, max_weight, steps = analysis.get("stepWeight"), analysis.get("maxWeight"), analysis.get("stepWeights")
    iterations = analysis.get("iterations")
    if iterations is not None and iterations < 1:
        errors.append("analysis.iterations must be at least 1, got %r" % iterations)
    if iterations and (step or steps):
        errors.append("analysis.iterations (A/B or blue/green) cannot be combined with analysis.stepWeight(s) (canary)")
    if step is not None and steps:
        errors.append("analysis.stepWeight and analysis.stepWeights are exclusive: give one")
    if max_weight is not None and not 0 < max_weight <= 100:
        errors.append("analysis.maxWeight must be between 1 and 100, got %r" % max_weight)
    if step is not None:
        if step <= 0:
            errors.append("analysis.stepWeight must be positive, got %r" % step)
        elif max_weight is not None and step > max_weight:
            errors.append("analysis.stepWeight must be <= maxWeight (%r > %r)" % (step, max_weight))
        elif max_weight is None:
            errors.append("analysis.maxWeight is required with analysis.stepWeight")
    if steps:
        if any(not 0 < weight <= 100 for weight in steps) or steps != sorted(steps):
            errors.append("analysis.stepWeights must rise between 1 and 100, got %r" % (steps,))
    if not iterations and not step and not steps:
        errors.append("analysis needs a strategy: stepWeight + maxWeight (canary), stepWeights, or iterations "
                      "(blue/green; with match for A/B testing)")
    if analysis.get("match") and not iterations:
        errors.append("analysis.match (A/B testing) needs analysis.iterations")
    for index, rule in enumerate(analysis.get("match") or []):
        if not isinstance(rule, dict) or not (rule.get("headers") or rule.get("sourceLabels") or rule.get("queryParams")):
            errors.append("analysis.match[%d] must match on headers, queryParams or sourceLabels" % index)
    if analysis.get("mirror") and not iterations and analysis.get("mirrorWeight") is None:
        errors.append("analysis.mirror needs analysis.iterations (blue/green) or analysis.mirrorWeight (canary)")
    errors += _validate_metrics(analysis.get("metrics") or [], namespace, metric_template_exists)
    errors += _validate_webhooks(analysis.get("webhooks") or [])
    return errors


def _validate_metrics(metrics, namespace, metric_template_exists):
    errors = []
    for index, metric in enumerate(metrics):
        path = "analysis.metrics[%d]" % index
        name = metric.get("name")
        if not name:
            errors.append("%s.name is required" % path)
            continue
        reference = metric.get("templateRef")
        if reference:
            template_namespace = reference.get("namespace") or namespace
            if not reference.get("name"):
                errors.append("%s.templateRef.name is required" % path)
            elif metric_template_exists and not metric_template_exists(template_namespace, reference["name"]):
                errors.append("%s.templateRef: MetricTemplate %s/%s not found"
                              % (path, template_namespace, reference["name"]))
        elif name not in BUILTIN_METRICS:
            errors.append("%s: unknown metric template %r: not built in (%s) and no templateRef" % (
                path, name, ", ".join(BUILTIN_METRICS)))
        threshold = metric.get("thresholdRange") or {}
        if "min" in threshold and "max" in threshold and threshold["min"] > threshold["max"]:
            errors.append("%s.thresholdRange.min must be <= max" % path)
        if metric.get("interval") and not _DURATION.match(str(metric["interval"])):
            errors.append("%s.interval must be a duration like 1m, got %r" % (path, metric["interval"]))
    return errors


def _validate_webhooks(webhooks):
    errors = []
    names = set()
    for index, hook in enumerate(webhooks):
        path = "analysis.webhooks[%d]" % index
        if not hook.get("name"):
            errors.append("%s.name is required" % path)
        elif hook["name"] in names:
            errors.append("%s.name %r is used twice" % (path, hook["name"]))
        names.add(hook.get("name"))
        if hook.get("type", "rollout") not in WEBHOOK_TYPES:
            errors.append("%s.type %r is not one of %s" % (path, hook.get("type"), ", ".join(WEBHOOK_TYPES)))
        url = hook.get("url") or ""
        if not re.match(r"^https?://[^/]+", url):
            errors.append("%s.url must be an http(s) address, got %r (set loadtester_url for gates and load tests)"
                          % (path, url))
    return errors
