# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger Canary specs: built from structured options, validated before anything is written.

Validation follows what Flagger v1.41.0 itself does with a Canary, so that nothing is
written that the API server would refuse (the CRD schema in
``artifacts/flagger/crd.yaml``) or that Flagger would quietly change or ignore (its
types in ``pkg/apis/flagger/v1beta1/canary.go`` and its scheduler and routers):
unknown fields the server prunes, an interval Flagger raises to 10 s, weights the
``kubernetes`` provider replaces with ten iterations, a metric with nothing to compare
against. Every error names the field by its full path in the Canary
(``spec.analysis.stepWeight``, ``spec.analysis.metrics[1].templateRef``) and the object
(namespace/name), so a failed task says what to fix without a look at Flagger's logs.
"""

from __future__ import annotations

import copy
import difflib
import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import Verdict

API_VERSION = "flagger.app/v1beta1"
KIND = "Canary"
BUILTIN_METRICS = ("request-success-rate", "request-duration")
# The CRD's webhook type enum; "" is taken as "rollout" (scheduler.go runAnalysis).
WEBHOOK_TYPES = ("confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
                 "confirm-promotion", "post-rollout", "rollback", "event")
GATE_WEBHOOKS = {
    "confirm-rollout": "/gate/check",
    "confirm-traffic-increase": "/gate/check",
    "confirm-promotion": "/gate/check",
    "rollback": "/rollback/check",
}
# pkg/router/factory.go MeshRouter: these exact names, or the prefixed forms below. Anything
# else (also a bare "gatewayapi" or "smi") falls through to the Istio router without a word.
PROVIDERS = ("istio", "linkerd", "appmesh", "appmesh:v1beta2", "contour", "gloo", "nginx", "skipper", "traefik",
             "apisix", "osm", "kuma", "knative", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes",
             "smi:v1alpha1:<mesh>", "smi:v1alpha2:<mesh>", "smi:v1alpha3:<mesh>")
_PROVIDER_NAMES = ("istio", "linkerd", "appmesh", "contour", "nginx", "skipper", "traefik", "apisix", "osm",
                   "kuma", "knative", "kubernetes")
_PROVIDER_PREFIXES = ("gloo", "appmesh:v1beta2", "gatewayapi:v1")
_SMI_PROVIDER = re.compile(r"^smi:v1alpha[123]:.+$")
# Providers whose routers mirror traffic (istio.go, gateway_api.go, gateway_api_v1beta1.go).
_MIRRORING_PROVIDERS = ("istio", "gatewayapi")
# The Istio router's sourceLabels apply only to in-mesh traffic (CRD: analysis.match.sourceLabels).
_MESH_GATEWAY = "mesh"

# Flagger's own minimum: GetAnalysisInterval returns 10s for anything shorter.
MIN_ANALYSIS_INTERVAL = 10
# The CRD pattern of analysis.interval, metrics[].interval and webhooks[].timeout. It is not
# anchored at the end: "1m30s" passes, "1h", "1.5m" and "90" do not.
_CRD_DURATION = re.compile(r"^[0-9]+(m|s)")
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}

# Kubernetes names (k8s.io/apimachinery/pkg/util/validation).
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_IANA_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Flagger names the services <apex>, <apex>-primary and <apex>-canary: a Service name is a
# DNS-1035 label of at most 63 characters, so the apex may have 63 - len("-primary").
MAX_APEX_NAME = 63 - len("-primary")
MAX_INT32 = 2147483647

# The fields the CRD schema knows; the API server prunes any other one without an error.
_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
_SPEC_FIELDS = ("provider", "metricsServer", "progressDeadlineSeconds", "targetRef", "autoscalerRef", "ingressRef",
                "routeRef", "upstreamRef", "service", "skipAnalysis", "revertOnDeletion", "suspend", "analysis")
_SERVICE_FIELDS = ("name", "port", "portName", "appProtocol", "targetPort", "portDiscovery", "headless", "timeout",
                   "meshName", "backends", "hosts", "delegation", "match", "retries", "rewrite", "mirror", "headers",
                   "gateways", "gatewayRefs", "corsPolicy", "trafficPolicy", "apex", "primary", "canary")
_ANALYSIS_FIELDS = ("interval", "iterations", "threshold", "maxWeight", "stepWeight", "stepWeights",
                    "stepWeightPromotion", "mirror", "mirrorWeight", "primaryReadyThreshold", "canaryReadyThreshold",
                    "match", "metrics", "alerts", "webhooks", "sessionAffinity")
_REFERENCE_FIELDS = ("apiVersion", "kind", "name")
_AUTOSCALER_FIELDS = _REFERENCE_FIELDS + ("primaryScalerQueries", "primaryScalerReplicas")
_METRIC_FIELDS = ("name", "interval", "threshold", "thresholdRange", "query", "templateRef", "templateVariables")
_WEBHOOK_FIELDS = ("name", "type", "muteAlert", "url", "timeout", "retries", "disableTLS", "metadata")
_ALERT_FIELDS = ("name", "severity", "providerRef")
_MATCH_FIELDS = ("headers", "queryParams", "sourceLabels")
_HEADER_MATCHERS = ("exact", "prefix", "suffix", "regex")
_QUERY_MATCHERS = ("exact", "prefix", "regex")
_SESSION_AFFINITY_FIELDS = ("cookieName", "primaryCookieName", "maxAge")
# Fields the CRD knows in its own (optional) reference objects, and the kinds it allows.
_OTHER_REFERENCES = {"ingressRef": ("Ingress",), "routeRef": ("ApisixRoute",), "upstreamRef": ("Upstream",)}
_AUTOSCALER_KINDS = ("HorizontalPodAutoscaler", "ScaledObject")
_TARGET_KINDS = ("Deployment", "DaemonSet", "Service")
_TARGET_API_VERSIONS = {"Deployment": ("apps/v1",), "DaemonSet": ("apps/v1",),
                        "Service": ("v1", "serving.knative.dev/v1")}
_ALERT_SEVERITIES = ("", "info", "warn", "error")
# What a pasted `kubectl get -o yaml` carries that an apply must not send.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                    "deletionTimestamp", "deletionGracePeriodSeconds")

# Phases in which Flagger has not (yet) taken the target over, or is letting go of it.
_NOT_INITIALISED = ("", "Initializing")
_LETTING_GO = ("Terminating", "Terminated")


class CanarySpecError(CollectionError, ValueError):
    """Invalid input; ``errors`` lists each problem with its field path."""

    def __init__(self, obj, errors):
        self.errors = errors
        super().__init__("Canary %s is invalid: %s" % (obj, "; ".join(errors)), errors=errors)


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


# -- small checks -----------------------------------------------------------------------

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def go_duration_seconds(text):
    """Seconds of a Go duration string (time.ParseDuration), or None when Go would refuse it."""
    if not isinstance(text, str) or not text:
        return None
    if text == "0":
        return 0.0
    total, position = 0.0, 0
    for part in _GO_DURATION_PART.finditer(text):
        number = part.group(1)
        if part.start() != position or number in ("", "."):
            return None
        total += float(number) * _GO_UNITS[part.group(2)]
        position = part.end()
    return total if position == len(text) else None


def _suggest_duration(value):
    """What to write instead of a duration the CRD refuses: 1h -> 60m, 1.5m -> 90s, 90 -> 90s."""
    text = str(value).strip()
    seconds = float(text) if re.match(r"^[0-9]+(\.[0-9]+)?$", text) else go_duration_seconds(text)
    if not seconds or seconds != int(seconds):
        return "for example 30s or 1m"
    seconds = int(seconds)
    return "write %dm" % (seconds // 60) if seconds % 60 == 0 else "write %ds" % seconds


def _duration_errors(path, value, what, minimum=None):
    if not isinstance(value, str):
        return ["%s must be a duration string like 30s or 1m, got %r" % (path, value)]
    if not _CRD_DURATION.match(value):
        return ["%s %r is refused by the Canary CRD (pattern ^[0-9]+(m|s): whole seconds or minutes): %s"
                % (path, value, _suggest_duration(value))]
    seconds = go_duration_seconds(value)
    if seconds is None:
        return ["%s %r is not a duration Flagger can parse (%s): write for example 30s or 1m30s" % (path, value, what)]
    if minimum is not None and seconds < minimum:
        return ["%s %r is under %ds: Flagger raises any analysis interval under %ds to %ds (GetAnalysisInterval); "
                "write %ds or more" % (path, value, minimum, minimum, minimum, minimum)]
    return []


def _unknown_field_errors(path, obj, known):
    errors = []
    for key in obj:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = "did you mean %s? " % close[0] if close else ""
            errors.append("%s is not a field of the Canary CRD: the API server would drop it without a word "
                          "(%sknown: %s)" % ("%s.%s" % (path, key) if path else key, hint, ", ".join(known)))
    return errors


def _int_errors(path, value, minimum=None, maximum=None, why=""):
    """A whole number within [minimum, maximum] (Flagger's Go types are int: 1.5 would not decode)."""
    if not _is_int(value):
        return ["%s must be a whole number, got %r" % (path, value)]
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bounds = "at least %d" % minimum
        elif minimum is None:
            bounds = "at most %d" % maximum
        else:
            bounds = "between %d and %d" % (minimum, maximum)
        return ["%s must be %s, got %r%s" % (path, bounds, value, why)]
    return []


def _type_errors(path, obj, types):
    """``types`` maps a field to bool, str, dict or list; None values count as absent."""
    names = {bool: "true or false", str: "a string", dict: "a mapping", list: "a list"}
    return ["%s.%s must be %s, got %r" % (path, key, names[kind], obj[key])
            for key, kind in types.items() if obj.get(key) is not None and not isinstance(obj[key], kind)]


def _string_map_errors(path, value):
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["%s must be a mapping of strings, got %r" % (path, value)]
    return ["%s.%s must be a string (quote it), got %r" % (path, key, item)
            for key, item in value.items() if not isinstance(item, str)]


def _name_errors(path, value, rule):
    """Kubernetes name rules: dns1123-label (63), dns1123-subdomain (253), dns1035-label (63)."""
    if not isinstance(value, str) or not value:
        return ["%s must be a non-empty string, got %r" % (path, value)]
    regex, limit, text = {
        "dns1123-label": (_DNS1123_LABEL, 63, "a DNS-1123 label (lower case letters, digits and '-', starting and "
                                              "ending with a letter or digit, at most 63 characters)"),
        "dns1123-subdomain": (_DNS1123_SUBDOMAIN, 253, "a DNS-1123 subdomain (lower case letters, digits, '-' and '.', "
                                                       "starting and ending with a letter or digit, at most 253 "
                                                       "characters)"),
        "dns1035-label": (_DNS1035_LABEL, 63, "a DNS-1035 label (lower case letters, digits and '-', starting with "
                                              "a letter, ending with a letter or digit, at most 63 characters)"),
    }[rule]
    if len(value) > limit or not regex.match(value):
        return ["%s %r must be %s" % (path, value, text)]
    return []


def _qualified_key_errors(path, key):
    """A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name of up to 63."""
    prefix, slash, name = str(key).rpartition("/")
    if (slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix))) \
            or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return ["%s key %r is not a valid Kubernetes key ([prefix/]name: name up to 63 letters, digits, '-', '_', "
                "'.', starting and ending with a letter or digit; prefix a DNS subdomain)" % (path, key)]
    return []


# -- the Canary -------------------------------------------------------------------------

def validate_canary(canary, metric_template_exists=None, target_exists=None):
    """Check a Canary object; raise CanarySpecError listing every problem.

    ``metric_template_exists(namespace, name)`` looks a MetricTemplate up on the server;
    ``target_exists(kind, namespace, name)`` the target. Both are asked only when the
    reference itself is well-formed.
    """
    errors = []
    metadata = canary.get("metadata") or {}
    if not isinstance(metadata, dict):
        errors.append("metadata must be a mapping with name and namespace, got %r" % (metadata,))
        metadata = {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    obj = "%s/%s" % (namespace or "<no namespace>", name or "<no name>")
    errors += _unknown_field_errors("", canary, _TOP_FIELDS)
    errors += _validate_type_meta(canary)
    errors += _validate_metadata(metadata)
    spec = canary.get("spec") or {}
    if not isinstance(spec, dict):
        raise CanarySpecError(obj, errors + ["spec must be a mapping, got %r" % (spec,)])
    if "canaryAnalysis" in spec:
        errors.append("spec.canaryAnalysis is the flagger.app/v1alpha3 name; the v1beta1 CRD does not know it and "
                      "the API server would drop it: use spec.analysis")
    errors += _unknown_field_errors("spec", [key for key in spec if key != "canaryAnalysis"], _SPEC_FIELDS)
    errors += _type_errors("spec", spec, {"provider": str, "metricsServer": str, "skipAnalysis": bool,
                                          "revertOnDeletion": bool, "suspend": bool})
    provider = spec.get("provider") if isinstance(spec.get("provider"), str) else None
    if provider is not None:
        errors += _provider_errors(provider)
    if spec.get("progressDeadlineSeconds") is not None:
        # Flagger copies it onto the primary Deployment, where Kubernetes requires it above minReadySeconds (>= 0).
        errors += _int_errors("spec.progressDeadlineSeconds", spec["progressDeadlineSeconds"], 1, MAX_INT32,
                              " (Flagger copies it to the primary Deployment, which needs it positive)")
    errors += _validate_target(spec, namespace, target_exists)
    errors += _validate_references(spec)
    errors += _validate_service(spec)
    analysis = spec.get("analysis")
    if analysis is None:
        if "canaryAnalysis" not in spec:
            errors.append("spec.analysis is required by the Canary CRD (interval, threshold and a strategy)")
    elif not isinstance(analysis, dict):
        errors.append("spec.analysis must be a mapping, got %r" % (analysis,))
    else:
        errors += _validate_analysis(analysis, spec, namespace, metric_template_exists)
    if errors:
        raise CanarySpecError(obj, errors)
    return canary


def _validate_type_meta(canary):
    errors = []
    api_version = canary.get("apiVersion")
    if api_version == "flagger.app/v1alpha3":
        errors.append("apiVersion flagger.app/v1alpha3 is no longer served by Flagger's CRD: use flagger.app/v1beta1 "
                      "(and spec.analysis instead of spec.canaryAnalysis)")
    elif api_version != API_VERSION:
        errors.append("apiVersion must be %s, got %r" % (API_VERSION, api_version))
    if canary.get("kind") != KIND:
        errors.append("kind must be %s, got %r" % (KIND, canary.get("kind")))
    return errors


def _validate_metadata(metadata):
    errors = []
    if not metadata.get("name"):
        errors.append("metadata.name is required: give the option name or metadata.name in definition")
    else:
        # Custom resources are named like DNS subdomains (apiextensions-apiserver NameIsDNSSubdomain).
        errors += _name_errors("metadata.name", metadata["name"], "dns1123-subdomain")
    if not metadata.get("namespace"):
        errors.append("metadata.namespace is required: give the option namespace or metadata.namespace in definition")
    else:
        errors += _name_errors("metadata.namespace", metadata["namespace"], "dns1123-label")
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            errors.append("metadata.%s must be a mapping, got %r" % (field, values))
            continue
        for key, value in values.items():
            errors += _qualified_key_errors("metadata.%s" % field, key)
            if not isinstance(value, str):
                errors.append("metadata.%s.%s must be a string (quote it), got %r" % (field, key, value))
            elif field == "labels" and (len(value) > 63 or (value and not _QUALIFIED_NAME.match(value))):
                errors.append("metadata.labels.%s value %r is not a valid label value (up to 63 letters, digits, "
                              "'-', '_', '.', starting and ending with a letter or digit)" % (key, value))
    return errors


def _provider_errors(provider):
    if provider in _PROVIDER_NAMES or provider.startswith(_PROVIDER_PREFIXES) or _SMI_PROVIDER.match(provider):
        return []
    hint = {"gatewayapi": "write gatewayapi:v1 (or gatewayapi:v1beta1)",
            "smi": "write smi:v1alpha3:<mesh>"}.get(provider.split(":")[0], "")
    return ["spec.provider %r is not one Flagger knows: Flagger would route it as istio without a word (%s)%s"
            % (provider, ", ".join(PROVIDERS), "; " + hint if hint else "")]


def _validate_target(spec, namespace, target_exists):
    target = spec.get("targetRef")
    if not isinstance(target, dict) or not target.get("name"):
        return ["spec.targetRef.name is missing: name the Deployment the canary takes over (option target)"]
    errors = _unknown_field_errors("spec.targetRef", target, _REFERENCE_FIELDS)
    kind, api_version, name = target.get("kind"), target.get("apiVersion"), target["name"]
    if kind not in _TARGET_KINDS:
        errors.append("spec.targetRef.kind must be Deployment, DaemonSet or Service, got %r" % (kind,))
    elif not api_version:
        errors.append("spec.targetRef.apiVersion is required by the Canary CRD (%s for a %s)"
                      % (" or ".join(_TARGET_API_VERSIONS[kind]), kind))
    elif api_version not in _TARGET_API_VERSIONS[kind]:
        errors.append("spec.targetRef.apiVersion %r does not serve a %s: use %s"
                      % (api_version, kind, " or ".join(_TARGET_API_VERSIONS[kind])))
    # Deployments and DaemonSets are named like DNS subdomains; Services like DNS-1035 labels.
    rule = "dns1035-label" if kind == "Service" else "dns1123-subdomain"
    name_errors = _name_errors("spec.targetRef.name", name, rule)
    errors += name_errors
    if kind in ("Deployment", "DaemonSet") and not name_errors:
        service_name = (spec.get("service") or {}).get("name") if isinstance(spec.get("service"), dict) else None
        if not service_name:
            errors += _apex_errors("spec.targetRef.name", name, " (Flagger names the services after the target "
                                                                "when spec.service.name is not set)")
    if not errors and target_exists is not None and namespace and _DNS1123_LABEL.match(str(namespace)) \
            and not target_exists(kind, namespace, name):
        errors.append("spec.targetRef: %s %s/%s not found: Flagger would have nothing to take over" % (
            kind, namespace, name))
    return errors


def _apex_errors(path, name, why=""):
    """Flagger creates Services <name>, <name>-primary and <name>-canary (router/kubernetes_default.go)."""
    if not _DNS1035_LABEL.match(name) or len(name) > MAX_APEX_NAME:
        return ["%s %r cannot name Flagger's services %s, %s-primary and %s-canary: a Service name is a DNS-1035 "
                "label of at most 63 characters (lower case letters, digits and '-', starting with a letter), so "
                "this name may have at most %d%s" % (path, name, name, name, name, MAX_APEX_NAME, why)]
    return []


def _validate_references(spec):
    errors = []
    scaler = spec.get("autoscalerRef")
    if scaler is not None:
        errors += _reference_errors("spec.autoscalerRef", scaler, _AUTOSCALER_KINDS, _AUTOSCALER_FIELDS)
        replicas = scaler.get("primaryScalerReplicas") if isinstance(scaler, dict) else None
        if isinstance(replicas, dict):
            errors += _unknown_field_errors("spec.autoscalerRef.primaryScalerReplicas", replicas,
                                            ("minReplicas", "maxReplicas"))
            for field in ("minReplicas", "maxReplicas"):
                if replicas.get(field) is not None:
                    errors += _int_errors("spec.autoscalerRef.primaryScalerReplicas.%s" % field, replicas[field], 1)
            low, high = replicas.get("minReplicas"), replicas.get("maxReplicas")
            if _is_int(low) and _is_int(high) and low > high:
                errors.append("spec.autoscalerRef.primaryScalerReplicas.minReplicas must be <= maxReplicas "
                              "(%d > %d)" % (low, high))
    for field, kinds in _OTHER_REFERENCES.items():
        if spec.get(field) is not None:
            known = _REFERENCE_FIELDS + (("namespace",) if field == "upstreamRef" else ())
            errors += _reference_errors("spec.%s" % field, spec[field], kinds, known)
    return errors


def _reference_errors(path, reference, kinds, known):
    if not isinstance(reference, dict):
        return ["%s must be a mapping with apiVersion, kind and name, got %r" % (path, reference)]
    errors = _unknown_field_errors(path, reference, known)
    for field in _REFERENCE_FIELDS:
        if not reference.get(field):
            errors.append("%s.%s is required by the Canary CRD" % (path, field))
    if reference.get("kind") and reference["kind"] not in kinds:
        errors.append("%s.kind must be %s, got %r" % (path, " or ".join(kinds), reference["kind"]))
    return errors


def _validate_service(spec):
    service = spec.get("service")
    if service is None:
        return ["spec.service.port is required: the port of the services Flagger creates (option service_port)"]
    if not isinstance(service, dict):
        return ["spec.service must be a mapping, got %r" % (service,)]
    errors = _unknown_field_errors("spec.service", service, _SERVICE_FIELDS)
    port = service.get("port")
    if not _is_int(port) or not 0 < port < 65536:
        errors.append("spec.service.port must be a port number (1-65535), got %r" % (port,))
    target_port = service.get("targetPort")
    if target_port is not None:
        if _is_int(target_port):
            if not 0 < target_port < 65536:
                errors.append("spec.service.targetPort must be a port number (1-65535) or a port name, got %r"
                              % (target_port,))
        elif not isinstance(target_port, str) or len(target_port) > 15 or not _IANA_SERVICE_NAME.match(target_port) \
                or "--" in target_port or not re.search("[a-z]", target_port):
            errors.append("spec.service.targetPort %r must be a port number (1-65535) or a port name (up to 15 lower "
                          "case letters, digits and single '-', with at least one letter)" % (target_port,))
    if service.get("portName") is not None:
        # A Service port name is a DNS-1123 label (core/validation validateServicePort).
        errors += _name_errors("spec.service.portName", service["portName"], "dns1123-label")
    if service.get("name") is not None:
        errors += _apex_errors("spec.service.name", str(service["name"]))
    errors += _type_errors("spec.service", service, {"gateways": list, "hosts": list, "backends": list,
                                                     "portDiscovery": bool, "headless": bool, "delegation": bool,
                                                     "appProtocol": str, "timeout": str, "meshName": str})
    for field in ("gateways", "hosts", "backends"):
        if isinstance(service.get(field), list):
            errors += ["spec.service.%s[%d] must be a string, got %r" % (field, index, item)
                       for index, item in enumerate(service[field]) if not isinstance(item, str)]
    return errors


# -- the analysis -----------------------------------------------------------------------

def _validate_analysis(analysis, spec, namespace, metric_template_exists):
    path = "spec.analysis"
    errors = _unknown_field_errors(path, analysis, _ANALYSIS_FIELDS)
    errors += _type_errors(path, analysis, {"mirror": bool, "match": list, "metrics": list, "alerts": list,
                                            "webhooks": list, "stepWeights": list, "sessionAffinity": dict})
    if analysis.get("interval") is None:
        errors.append("spec.analysis.interval is required by the Canary CRD (for example 1m)")
    else:
        errors += _duration_errors("spec.analysis.interval", analysis["interval"],
                                   "it would run every 60s instead", MIN_ANALYSIS_INTERVAL)
    if analysis.get("threshold") is None:
        errors.append("spec.analysis.threshold is required by the Canary CRD: the number of failed checks before "
                      "a rollback (option threshold)")
    else:
        errors += _int_errors("spec.analysis.threshold", analysis["threshold"], 1, None,
                              " (Flagger would silently use 1)")
    errors += _strategy_errors(analysis, spec)
    for field in ("primaryReadyThreshold", "canaryReadyThreshold"):
        if analysis.get(field) is not None:
            errors += _int_errors("%s.%s" % (path, field), analysis[field], 0, 100, " (a percentage of pods)")
    if analysis.get("stepWeightPromotion") is not None:
        errors += _int_errors("%s.stepWeightPromotion" % path, analysis["stepWeightPromotion"], 1, 100)
    errors += _mirror_errors(analysis, spec)
    errors += _match_errors(analysis, spec)
    affinity = analysis.get("sessionAffinity")
    if isinstance(affinity, dict):
        errors += _unknown_field_errors("%s.sessionAffinity" % path, affinity, _SESSION_AFFINITY_FIELDS)
        if not affinity.get("cookieName"):
            errors.append("spec.analysis.sessionAffinity.cookieName is required by the Canary CRD")
        if affinity.get("maxAge") is not None:
            errors += _int_errors("spec.analysis.sessionAffinity.maxAge", affinity["maxAge"], 1)
    if isinstance(analysis.get("metrics"), list):
        errors += _validate_metrics(analysis["metrics"], namespace, metric_template_exists)
    if isinstance(analysis.get("webhooks"), list):
        errors += _validate_webhooks(analysis["webhooks"])
    if isinstance(analysis.get("alerts"), list):
        errors += _validate_alerts(analysis["alerts"])
    return errors


def _strategy_errors(analysis, spec):
    """One of iterations, stepWeight, stepWeights (the CRD's oneOf), each within its bounds."""
    errors = []
    iterations, step, steps = analysis.get("iterations"), analysis.get("stepWeight"), analysis.get("stepWeights")
    max_weight = analysis.get("maxWeight")
    given = [field for field in ("iterations", "stepWeight", "stepWeights") if analysis.get(field) is not None]
    if not given:
        errors.append("spec.analysis needs a strategy: stepWeight (+ maxWeight) or stepWeights for a canary with "
                      "traffic weights, or iterations (blue/green; with match for A/B testing)")
    elif "iterations" in given and len(given) > 1:
        errors.append("spec.analysis.iterations (A/B or blue/green) cannot be combined with "
                      "spec.analysis.stepWeight(s) (canary): the Canary CRD accepts exactly one of iterations, "
                      "stepWeight, stepWeights")
    elif step is not None and steps is not None:
        errors.append("spec.analysis.stepWeight and spec.analysis.stepWeights are exclusive (the Canary CRD accepts "
                      "exactly one): give one")
    if iterations is not None:
        errors += _int_errors("spec.analysis.iterations", iterations, 1)
        if max_weight is not None:
            errors.append("spec.analysis.maxWeight is ignored with spec.analysis.iterations (blue/green and A/B move "
                          "all traffic at once): remove it, or use stepWeight for a canary with weights")
    if max_weight is not None:
        errors += _int_errors("spec.analysis.maxWeight", max_weight, 1, 100)
    if step is not None:
        step_errors = _int_errors("spec.analysis.stepWeight", step, 1, 100)
        errors += step_errors
        if not step_errors and _is_int(max_weight) and step > max_weight:
            errors.append("spec.analysis.stepWeight must be <= maxWeight (%r > %r)" % (step, max_weight))
    if isinstance(steps, list):
        if max_weight is not None and iterations is None:
            errors.append("spec.analysis.maxWeight is ignored with spec.analysis.stepWeights (Flagger takes the last "
                          "of stepWeights as the maximum): remove it")
        if not steps or any(not _is_int(weight) or not 0 < weight <= 100 for weight in steps) \
                or any(low >= high for low, high in zip(steps, steps[1:])):
            errors.append("spec.analysis.stepWeights must rise strictly, each a whole number between 1 and 100, "
                          "got %r" % (steps,))
    if spec.get("provider") == "kubernetes" and iterations is None and given:
        errors.append("spec.analysis.%s: the kubernetes provider (spec.provider) cannot shift traffic by weight; "
                      "Flagger would ignore it and run 10 iterations instead: set spec.analysis.iterations "
                      "(blue/green)" % given[0])
    return errors


def _mirror_errors(analysis, spec):
    errors = []
    weight = analysis.get("mirrorWeight")
    if weight is not None:
        errors += _int_errors("spec.analysis.mirrorWeight", weight, 0, 100, " (a percentage of the traffic)")
        if not analysis.get("mirror"):
            errors.append("spec.analysis.mirrorWeight is ignored without spec.analysis.mirror: true (option mirror)")
    provider = spec.get("provider")
    if analysis.get("mirror") and isinstance(provider, str) and provider.split(":")[0] not in _MIRRORING_PROVIDERS:
        errors.append("spec.analysis.mirror is ignored by the %s provider (spec.provider): only istio and gatewayapi "
                      "mirror traffic" % provider)
    return errors


def _match_errors(analysis, spec):
    errors = []
    match = analysis.get("match")
    if not match or not isinstance(match, list):
        return errors
    if analysis.get("iterations") is None:
        errors.append("spec.analysis.match (A/B testing) needs spec.analysis.iterations")
    if spec.get("provider") == "kubernetes":
        errors.append("spec.analysis.match: the kubernetes provider (spec.provider) cannot route by header, query "
                      "or source; Flagger drops the match (\"A/B testing is not supported when using the kubernetes "
                      "provider\"): use istio, or drop match for blue/green")
    gateways = (spec.get("service") or {}).get("gateways") if isinstance(spec.get("service"), dict) else None
    for index, rule in enumerate(match):
        path = "spec.analysis.match[%d]" % index
        if not isinstance(rule, dict) or not any(rule.get(field) for field in _MATCH_FIELDS):
            errors.append("%s must match on headers, queryParams or sourceLabels" % path)
            continue
        errors += _unknown_field_errors(path, rule, _MATCH_FIELDS)
        # Header conditions need exactly one matcher (CRD oneOf); query parameters at most one.
        for field, matchers, exactly_one in (("headers", _HEADER_MATCHERS, True),
                                             ("queryParams", _QUERY_MATCHERS, False)):
            conditions = rule.get(field)
            if conditions is not None and not isinstance(conditions, dict):
                errors.append("%s.%s must be a mapping of names to conditions, got %r" % (path, field, conditions))
                continue
            for key, condition in (conditions or {}).items():
                given = [name for name in matchers if isinstance(condition, dict) and name in condition]
                if not isinstance(condition, dict) or (exactly_one and len(given) != 1) or len(given) > 1 \
                        or set(condition) - set(matchers):
                    errors.append("%s.%s.%s must have %s of %s, got %r" % (
                        path, field, key, "exactly one" if exactly_one else "at most one", ", ".join(matchers),
                        condition))
        errors += _string_map_errors("%s.sourceLabels" % path, rule.get("sourceLabels"))
        if rule.get("sourceLabels") and gateways and _MESH_GATEWAY not in gateways:
            errors.append("%s.sourceLabels only applies to in-mesh traffic and is ignored unless spec.service.gateways "
                          "includes %r" % (path, _MESH_GATEWAY))
    return errors


def _validate_metrics(metrics, namespace, metric_template_exists):
    errors = []
    for index, metric in enumerate(metrics):
        path = "spec.analysis.metrics[%d]" % index
        if not isinstance(metric, dict):
            errors.append("%s must be a mapping, got %r" % (path, metric))
            continue
        errors += _unknown_field_errors(path, metric, _METRIC_FIELDS)
        name = metric.get("name")
        if not name:
            errors.append("%s.name is required" % path)
            continue
        reference = metric.get("templateRef")
        if reference is not None and not isinstance(reference, dict):
            errors.append("%s.templateRef must be a mapping with name (and namespace), got %r" % (path, reference))
        elif reference:
            errors += _unknown_field_errors("%s.templateRef" % path, reference, ("name", "namespace"))
            template_namespace = reference.get("namespace") or namespace
            if not reference.get("name"):
                errors.append("%s.templateRef.name is required" % path)
            elif metric_template_exists and template_namespace \
                    and not metric_template_exists(template_namespace, reference["name"]):
                errors.append("%s.templateRef: MetricTemplate %s/%s not found"
                              % (path, template_namespace, reference["name"]))
        elif name not in BUILTIN_METRICS and not metric.get("query"):
            errors.append("%s: unknown metric template %r: not built in (%s) and no templateRef" % (
                path, name, ", ".join(BUILTIN_METRICS)))
        errors += _threshold_errors(path, metric)
        if metric.get("interval") is not None:
            errors += _duration_errors("%s.interval" % path, metric["interval"], "the query window")
        errors += _string_map_errors("%s.templateVariables" % path, metric.get("templateVariables"))
    return errors


def _threshold_errors(path, metric):
    """A check needs a bound: without one Flagger compares against 0 (scheduler_metrics.go)."""
    errors = []
    bounds = metric.get("thresholdRange")
    legacy = metric.get("threshold")
    if bounds is not None and not isinstance(bounds, dict):
        return ["%s.thresholdRange must be a mapping with min and/or max, got %r" % (path, bounds)]
    bounds = bounds or {}
    errors += _unknown_field_errors("%s.thresholdRange" % path, bounds, ("min", "max"))
    for field in ("min", "max"):
        if bounds.get(field) is not None and not _is_number(bounds[field]):
            errors.append("%s.thresholdRange.%s must be a number, got %r" % (path, field, bounds[field]))
    if legacy is not None and not _is_number(legacy):
        errors.append("%s.threshold must be a number, got %r" % (path, legacy))
    has_range = bounds.get("min") is not None or bounds.get("max") is not None
    if not has_range and legacy is None:
        errors.append("%s has no threshold: set thresholdRange.min and/or thresholdRange.max (options threshold_min, "
                      "threshold_max); without one Flagger compares against 0, so the check never fails (or, for "
                      "request-duration, always fails)" % path)
    elif has_range and legacy is not None:
        errors.append("%s.threshold is ignored when thresholdRange is set: give one of them" % path)
    low, high = bounds.get("min"), bounds.get("max")
    if _is_number(low) and _is_number(high) and low > high:
        errors.append("%s.thresholdRange.min must be <= max" % path)
    return errors


def _validate_webhooks(webhooks):
    errors = []
    names = set()
    for index, hook in enumerate(webhooks):
        path = "spec.analysis.webhooks[%d]" % index
        if not isinstance(hook, dict):
            errors.append("%s must be a mapping, got %r" % (path, hook))
            continue
        errors += _unknown_field_errors(path, hook, _WEBHOOK_FIELDS)
        if not hook.get("name"):
            errors.append("%s.name is required" % path)
        elif hook["name"] in names:
            errors.append("%s.name %r is used twice" % (path, hook["name"]))
        names.add(hook.get("name"))
        hook_type = hook.get("type") or ""
        if hook_type and hook_type not in WEBHOOK_TYPES:
            errors.append("%s.type %r is not one of %s" % (path, hook_type, ", ".join(WEBHOOK_TYPES)))
        url = hook.get("url") or ""
        if not isinstance(url, str) or not re.match(r"^https?://[^/]+", url):
            errors.append("%s.url must be an http(s) address, got %r (set loadtester_url for gates and load tests)"
                          % (path, url))
        if hook.get("timeout") is not None:
            errors += _duration_errors("%s.timeout" % path, hook["timeout"], "the webhook call would fail")
        if hook.get("retries") is not None:
            errors += _int_errors("%s.retries" % path, hook["retries"], 0)
        errors += _type_errors(path, hook, {"muteAlert": bool, "disableTLS": bool})
        errors += _string_map_errors("%s.metadata" % path, hook.get("metadata"))
    return errors


def _validate_alerts(alerts):
    errors = []
    for index, alert in enumerate(alerts):
        path = "spec.analysis.alerts[%d]" % index
        if not isinstance(alert, dict):
            errors.append("%s must be a mapping, got %r" % (path, alert))
            continue
        errors += _unknown_field_errors(path, alert, _ALERT_FIELDS)
        if not alert.get("name"):
            errors.append("%s.name is required by the Canary CRD" % path)
        provider = alert.get("providerRef")
        if not isinstance(provider, dict) or not provider.get("name"):
            errors.append("%s.providerRef.name is required by the Canary CRD (an AlertProvider)" % path)
        if alert.get("severity") is not None and alert["severity"] not in _ALERT_SEVERITIES:
            errors.append("%s.severity must be info, warn or error, got %r" % (path, alert["severity"]))
    return errors


# -- waiting for Flagger ----------------------------------------------------------------

def initialised_predicate(key):
    """A wait-engine predicate: done once Flagger has taken canary ``key`` ("namespace/name") over.

    Flagger reports ``Initialized`` (a new canary) and records ``lastAppliedSpec`` and
    ``lastPromotedSpec``; an existing canary is past that already (``Succeeded``, or a
    release in flight, or ``Failed`` after a rolled-back release: the primary serves).
    ``Failed`` before anything was ever promoted means the initialisation itself failed
    (the primary never became ready): that ends the wait at once, not ok.
    """

    def predicate(objects):
        canary = objects.get(key)
        if canary is None:
            return Verdict(done=True, ok=False, message="canary %s was deleted" % key, data={"phase": None})
        status = canary.get("status") or {}
        phase = status.get("phase") or ""
        data = {"phase": phase or "Pending", "canary": canary}
        promoted = bool(status.get("lastPromotedSpec"))
        if phase == "Failed" and not promoted:
            return Verdict(done=True, ok=False, data=data, message="Flagger could not initialise it (phase Failed)")
        if phase in _LETTING_GO:
            return Verdict(done=True, ok=False, data=data, message="the canary is being deleted (phase %s)" % phase)
        if phase not in _NOT_INITIALISED and status.get("lastAppliedSpec") and promoted:
            return Verdict(done=True, ok=True, data=data, message=phase)
        return Verdict(done=False, data=data, message=phase or "Pending")

    return predicate


def deleted_predicate(key):
    """Done once canary ``key`` is gone (Flagger's finalizer, with revertOnDeletion, may hold it a while)."""

    def predicate(objects):
        if key in objects:
            phase = ((objects[key].get("status") or {}).get("phase")) or "Pending"
            return Verdict(done=False, message="still there (phase %s)" % phase, data={"phase": phase})
        return Verdict(done=True, ok=True, message="deleted", data={"phase": None})

    return predicate
