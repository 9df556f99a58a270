# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Flagger Canary built from the canary module's structured options.

The options are laid over ``definition`` when one is given; what comes out is checked
by :mod:`validate` before anything is written, and :func:`field_origins` tells it which
option (or the definition) each field came from, so that a problem names what the user wrote.
"""

from __future__ import annotations

import copy

API_VERSION = "flagger.app/v1beta1"
KIND = "Canary"
GATE_WEBHOOKS = {
    "confirm-rollout": "/gate/check",
    "confirm-traffic-increase": "/gate/check",
    "confirm-promotion": "/gate/check",
    "rollback": "/rollback/check",
}
# What a pasted `kubectl get -o yaml` carries that an apply must not send.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                    "deletionTimestamp", "deletionGracePeriodSeconds")


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


def canary_identity(params):
    """``(namespace, name)`` from the options, else from ``definition``'s metadata (None when neither has it)."""
    metadata = (params.get("definition") or {}).get("metadata") or {}
    return (params.get("namespace") or metadata.get("namespace") or None,
            params.get("name") or metadata.get("name") or None)


def identity_errors(params):
    """The errors for a Canary that cannot be named: the options and the definition both lack it."""
    namespace, name = canary_identity(params)
    errors = []
    if not name:
        errors.append("metadata.name is required: give the option name or metadata.name in definition")
    if not namespace:
        errors.append("metadata.namespace is required: give the option namespace or metadata.namespace in definition")
    return errors


# The flat options build_canary copies as they are into spec.service and spec.analysis: option -> field.
SERVICE_OPTIONS = (("service_port", "port"), ("service_target_port", "targetPort"),
                   ("service_port_name", "portName"), ("gateways", "gateways"), ("hosts", "hosts"))
ANALYSIS_OPTIONS = (("interval", "interval"), ("threshold", "threshold"), ("max_weight", "maxWeight"),
                    ("step_weight", "stepWeight"), ("step_weights", "stepWeights"), ("iterations", "iterations"),
                    ("match", "match"), ("mirror", "mirror"), ("mirror_weight", "mirrorWeight"),
                    ("alerts", "alerts"))
# A metric option's keys -> the fields of the analysis.metrics item built from it.
_METRIC_FIELDS = (("name", "name"), ("interval", "interval"), ("threshold_min", "thresholdRange.min"),
                  ("threshold_max", "thresholdRange.max"), ("template", "templateRef"),
                  ("template_variables", "templateVariables"))


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _paths(node, path, found):
    """Every field path in ``node`` (``spec.analysis.metrics[0].interval`` style), ``path`` itself first."""
    if path:
        found.append(path)
    if isinstance(node, dict):
        for key, value in node.items():
            _paths(value, "%s.%s" % (path, key) if path else str(key), found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _paths(value, "%s[%d]" % (path, index), found)
    return found


def field_origins(params):
    """Where each field of ``build_canary(params)`` came from, so that a problem names what the user wrote.

    ``{field path: "option <name>" or "in definition"}``; a path the options and the
    definition both fill maps to None (neither alone). A field not listed takes the origin of
    its nearest listed parent (validate.py ``validate_canary``).
    """
    origins = {}
    definition = _mapping(params.get("definition"))
    for path in _paths(definition, "", []):
        origins[path] = "in definition"

    def option(path, name):
        # What the option writes replaces the definition's field; the fields around it are shared.
        for known in [known for known in origins if known.startswith(path + ".") or known.startswith(path + "[")]:
            del origins[known]
        origins[path] = "option %s" % name
        parent = path
        while "." in parent or "[" in parent:
            parent = parent[:max(parent.rfind("."), parent.rfind("["))]
            if origins.get(parent) == "in definition":
                origins[parent] = None

    # The same conditions as build_canary's.
    for name, path in (("name", "metadata.name"), ("namespace", "metadata.namespace"), ("provider", "spec.provider"),
                       ("target", "spec.targetRef"), ("autoscaler", "spec.autoscalerRef")):
        if params.get(name):
            option(path, name)
    if params.get("target"):
        option("spec.targetRef.name", "target")
        option("spec.targetRef.kind", "target_kind")
    for name in ("labels", "annotations"):
        for key in params.get(name) or {}:
            option("metadata.%s.%s" % (name, key), name)
        if params.get(name):
            shared = _mapping(definition.get("metadata")).get(name)
            origins["metadata.%s" % name] = "option %s%s" % (name, ", or in definition" if shared else "")
    for name, path in (("progress_deadline", "spec.progressDeadlineSeconds"), ("skip_analysis", "spec.skipAnalysis")):
        if params.get(name) is not None:
            option(path, name)
    for options, parent in ((SERVICE_OPTIONS, "spec.service"), (ANALYSIS_OPTIONS, "spec.analysis")):
        for name, field in options:
            if params.get(name) not in (None, []):
                option("%s.%s" % (parent, field), name)
    if params.get("metrics"):
        option("spec.analysis.metrics", "metrics")
    for index, metric in enumerate(params.get("metrics") or []):
        option("spec.analysis.metrics[%d]" % index, "metrics[%d]" % index)
        for key, field in _METRIC_FIELDS:
            if metric.get(key) not in (None, {}):
                option("spec.analysis.metrics[%d].%s" % (index, field), "metrics[%d].%s" % (index, key))
    index = len(_mapping(_mapping(definition.get("spec")).get("analysis")).get("webhooks") or [])
    added = ["gates[%d]" % number for number in range(len(params.get("gates") or []))]
    added += ["load_test_cmd"] if params.get("load_test_cmd") else []
    for name in added:
        option("spec.analysis.webhooks[%d]" % index, name)
        option("spec.analysis.webhooks[%d].url" % index, "loadtester_url")
        index += 1
    for number in range(len(params.get("webhooks") or [])):
        option("spec.analysis.webhooks[%d]" % (index + number), "webhooks[%d]" % number)
    return origins


def build_canary(params):
    """The Canary object for the module's options; ``definition`` is the base when given.

    A definition pasted from ``kubectl get -o yaml`` works as it is: its status and the
    metadata the server fills in (uid, resourceVersion, managedFields, ...) are dropped.
    """
    canary = copy.deepcopy(params.get("definition") or {})
    canary.pop("status", None)
    canary.setdefault("apiVersion", API_VERSION)
    canary.setdefault("kind", KIND)
    metadata = canary.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
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
    for option, field in SERVICE_OPTIONS:
        if params.get(option) not in (None, []):
            service[field] = params[option]
    analysis = spec.setdefault("analysis", {})
    for option, field in ANALYSIS_OPTIONS:
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
