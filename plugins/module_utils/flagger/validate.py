# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Canary checked before anything is written: Flagger's CRD schema, then Flagger's semantics.

Two layers, each reporting every problem it finds, by the field's full path in the
Canary (``spec.analysis.metrics[1].interval``) after the object (namespace/name):

1. **The CRD's own schema.** The Canary is validated with ``jsonschema`` against the
   ``openAPIV3Schema`` of Flagger's pinned CRD (:mod:`canary_crd`), as the API server
   validates it: types, required fields (``spec.analysis`` needs ``interval``,
   ``threshold`` and exactly one of ``iterations``, ``stepWeight``, ``stepWeights``, the
   CRD's ``oneOf``), enums, patterns. The schema is made strict first: a field it does
   not know is an error here, where the API server would prune it without a word.
   Without ``jsonschema`` on the host this layer is left to the API server: the apply's
   dry run asks for ``fieldValidation=Strict`` (canaries.apply_canary).
2. **What the schema cannot say** (:func:`semantic_errors`): Kubernetes' rules for names
   and labels, and what Flagger v1.41.0 would quietly change or ignore: an interval Go
   cannot parse or under 10 s, Go ``int`` fields given as 2.5, weights with the
   ``kubernetes`` provider, a metric with nothing to compare against, a webhook URL
   Flagger cannot call, a target or MetricTemplate that does not exist.

A problem the schema reports is not reported again by the second layer.
"""

from __future__ import annotations

import copy
import difflib
import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canary_crd
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.build import API_VERSION, KIND
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (
    MIN_ANALYSIS_INTERVAL,
    DurationError,
    go_duration_seconds,
)

try:
    import jsonschema
except ImportError:  # pragma: no cover - the API server's strict dry run checks the schema then
    jsonschema = None

BUILTIN_METRICS = ("request-success-rate", "request-duration")
# pkg/router/factory.go MeshRouter: these exact names, or the prefixed forms below. Anything
# else (also a bare "gatewayapi" or "smi") falls through to the Istio router without a word.
PROVIDERS = ("istio", "linkerd", "appmesh", "appmesh:v1beta2", "contour", "gloo", "nginx", "skipper", "traefik",
             "apisix", "osm", "kuma", "knative", "gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes",
             "smi:v1alpha1:<mesh>", "smi:v1alpha2:<mesh>", "smi:v1alpha3:<mesh>")
_PROVIDER_NAMES = ("istio", "linkerd", "appmesh", "contour", "nginx", "skipper", "traefik", "apisix", "osm",
                   "kuma", "knative", "kubernetes")
_PROVIDER_PREFIXES = ("gloo", "appmesh:v1beta2", "gatewayapi:v1")
_SMI_PROVIDER = re.compile(r"^smi:v1alpha[123]:.+\Z")
# Providers whose routers mirror traffic (istio.go, gateway_api.go, gateway_api_v1beta1.go).
_MIRRORING_PROVIDERS = ("istio", "gatewayapi")
# The Istio router's sourceLabels apply only to in-mesh traffic (CRD: analysis.match.sourceLabels).
_MESH_GATEWAY = "mesh"
# The apiVersions that serve each kind the CRD allows as a target (targetRef.kind's enum).
TARGET_API_VERSIONS = {"Deployment": ("apps/v1",), "DaemonSet": ("apps/v1",),
                       "Service": ("v1", "serving.knative.dev/v1")}

# The CRD's pattern of analysis.interval, metrics[].interval and webhooks[].timeout. It is not
# anchored at the end: "1m30s" passes, "1h", "1.5m" and "90" do not.
CRD_DURATION_PATTERN = "^[0-9]+(m|s)"

# Kubernetes names (k8s.io/apimachinery/pkg/util/validation).
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_IANA_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")
# Flagger names the services <apex>, <apex>-primary and <apex>-canary: a Service name is a
# DNS-1035 label of at most 63 characters, so the apex may have 63 - len("-primary").
MAX_APEX_NAME = 63 - len("-primary")
MAX_INT32 = 2147483647

# What to add to the schema's words for a field the Canary module has an option for.
_REQUIRED_HINTS = {
    "spec.targetRef": "name the Deployment the canary takes over (option target)",
    "spec.analysis": "interval, threshold and a strategy",
    "spec.analysis.interval": "the time between analysis steps, for example 1m (option interval)",
    "spec.analysis.threshold": "the number of failed checks before a rollback (option threshold)",
    "spec.service.port": "the port of the services Flagger creates (option service_port)",
}
_ONE_OF_HINTS = {
    "spec.analysis": "iterations for blue/green (with match: A/B testing), stepWeight (with maxWeight) or "
                     "stepWeights for a canary with traffic weights; options interval, threshold, iterations, "
                     "step_weight, step_weights",
}
_TYPE_NAMES = {"string": "a string", "number": "a number", "integer": "a whole number", "boolean": "true or false",
               "object": "a mapping", "array": "a list"}


class CanarySpecError(CollectionError, ValueError):
    """Invalid input; ``errors`` lists each problem with its field path."""

    def __init__(self, obj, errors):
        self.errors = errors
        super().__init__("Canary %s is invalid: %s" % (obj, "; ".join(errors)), errors=errors)


def validate_canary(canary, metric_template_exists=None, target_exists=None, origins=None):
    """Check a Canary object; raise CanarySpecError listing every problem, else return it.

    ``metric_template_exists(namespace, name)`` looks a MetricTemplate up on the server;
    ``target_exists(kind, namespace, name)`` the target. Both are asked only when the
    reference itself is well-formed. ``origins`` (build.py ``field_origins``) names, after
    each problem's field path, the option or the definition the field came from:
    ``spec.analysis.maxWeight (option max_weight) must be ...``.
    """
    metadata = canary.get("metadata") if isinstance(canary.get("metadata"), dict) else {}
    obj = "%s/%s" % (metadata.get("namespace") or "<no namespace>", metadata.get("name") or "<no name>")
    findings = _schema_findings(canary)
    errors = [message for _path, _kind, message in findings]
    reported = {path for path, _kind, _message in findings}
    wrong_type = [path for path, kind, _message in findings if kind == "type"]
    for error in semantic_errors(canary, metric_template_exists, target_exists):
        path = _path_of(error)
        # Said once: the schema's word on a field wins, and below a field of the wrong type nothing more is said.
        if path not in reported and not any(path.startswith(parent + ".") or path.startswith(parent + "[")
                                            for parent in wrong_type):
            errors.append(error)
    if errors:
        raise CanarySpecError(obj, [_with_origin(error, origins or {}) for error in _in_document_order(canary, errors)])
    return canary


def _with_origin(error, origins):
    """``error`` with where its field came from after the path: its nearest listed field's origin (see
    build.py ``field_origins``); unchanged when nothing is listed, or the options and the definition share it."""
    path = _path_of(error)
    field = path
    while field and field not in origins:
        field = _parent(field)
    origin = origins.get(field) if field else None
    if not origin:
        return error
    return "%s (%s)%s" % (path, origin, error[len(path):])


# -- 1. the CRD's schema ----------------------------------------------------------------------

def strict_schema(schema=None):
    """The Canary CRD's schema, with every object that lists its fields closed to other fields.

    The API server prunes unknown fields (a structural schema); this makes them errors.
    Only the nodes fields live in are closed (not ``oneOf`` branches, which list fields to
    require, not to allow). ``status`` is left open: an apply never writes it.
    """
    schema = copy.deepcopy(canary_crd.SCHEMA if schema is None else schema)

    def close(node):
        if not isinstance(node, dict):
            return
        if isinstance(node.get("properties"), dict):
            node.setdefault("additionalProperties", False)
            for child in node["properties"].values():
                close(child)
        if isinstance(node.get("items"), dict):
            close(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            close(node["additionalProperties"])

    close(schema)
    schema["properties"]["status"] = {}
    return schema


_VALIDATOR = []


def _validator():
    if not _VALIDATOR:
        _VALIDATOR.append(jsonschema.Draft4Validator(strict_schema()))
    return _VALIDATOR[0]


def schema_errors(canary):
    """The Canary CRD schema's objections to ``canary``, each starting with the field's path.

    None without jsonschema: the API server's strict dry run is then the check.
    """
    return [message for _path, _kind, message in _schema_findings(canary)]


def _schema_findings(canary):
    """``(path, kind, message)`` for each objection of the schema (``kind``: the JSON schema keyword)."""
    if jsonschema is None:
        return []
    return [(_path_of(message), error.validator, message)
            for error in _validator().iter_errors(canary) for message in _schema_messages(error)]


def field_path(parts):
    """``("spec", "analysis", "metrics", 0, "interval")`` as ``spec.analysis.metrics[0].interval``."""
    text = ""
    for part in parts:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text


def _schema_messages(error):
    path = field_path(error.absolute_path)
    instance, value, node = error.instance, error.validator_value, error.schema
    kind = error.validator
    if kind == "additionalProperties":
        known = list((node.get("properties") or {}).keys())
        return [_unknown_field(path, key, known) for key in instance if key not in known]
    if kind == "required":
        return [_required(field_path(list(error.absolute_path) + [field])) for field in value if field not in instance]
    if kind == "type":
        if node.get("pattern") == CRD_DURATION_PATTERN:
            return ["%s must be a duration string like 30s or 1m, got %r" % (path, instance)]
        expected = value if isinstance(value, list) else [value]
        return ["%s must be %s, got %r" % (path, " or ".join(_TYPE_NAMES.get(name, name) for name in expected),
                                           instance)]
    if kind == "pattern":
        if value == CRD_DURATION_PATTERN:
            return ["%s %r is refused by the Canary CRD (pattern %s: whole seconds or minutes): %s"
                    % (path, instance, value, _suggest_duration(instance))]
        return ["%s %r does not match the Canary CRD's pattern %s" % (path, instance, value)]
    if kind == "enum":
        return ["%s %r is not one of %s (the Canary CRD's values)" % (
            path, instance, ", ".join(repr(item) if item == "" else str(item) for item in value))]
    if kind == "oneOf":
        return _one_of_messages(error.absolute_path, instance, value, error.message)
    if kind in ("minimum", "maximum"):
        return ["%s must be %s %s, got %r" % (path, "at least" if kind == "minimum" else "at most", value, instance)]
    return ["%s: %s (the Canary CRD's %s)" % (path or "the Canary", error.message, kind)]


def _required(path):
    hint = _REQUIRED_HINTS.get(path)
    return "%s is required by the Canary CRD%s" % (path, ": " + hint if hint else "")


def _unknown_field(path, key, known):
    where = "%s.%s" % (path, key) if path else str(key)
    if where == "spec.canaryAnalysis":
        return ("spec.canaryAnalysis is the flagger.app/v1alpha3 name; the v1beta1 CRD does not know it and the API "
                "server would drop it: use spec.analysis")
    close = difflib.get_close_matches(str(key), known, n=1)
    return ("%s is not a field of the Canary CRD: the API server would drop it without a word (%sknown: %s)" % (
        where, "did you mean %s? " % close[0] if close else "", ", ".join(known)))


def _required_sets(branches):
    """For a ``oneOf`` of ``required`` lists (and "none of them", a ``not anyOf``): the lists, and
    whether none is allowed; None when a branch says more than that."""
    sets, none_allowed = [], False
    for branch in branches:
        if set(branch) == {"required"}:
            sets.append(list(branch["required"]))
        elif set(branch) == {"not"} and set(branch["not"]) == {"anyOf"} \
                and all(set(item) == {"required"} for item in branch["not"]["anyOf"]):
            none_allowed = True
        else:
            return None, False
    return sets, none_allowed


def _one_of_messages(parts, instance, branches, fallback):
    """The CRD's ``oneOf`` in words: a field every choice requires is named as required; then
    which of the alternatives is missing or given twice."""
    path = field_path(parts)
    sets, none_allowed = _required_sets(branches)
    where = path or "the Canary"
    if not sets or not isinstance(instance, dict):
        shapes = ["with %s" % " and ".join(branch["required"]) if branch.get("required") else "another shape"
                  for branch in branches]
        return ["%s %s: the Canary CRD accepts exactly one of its forms (%s)" % (
            where, "fits more than one form" if "valid under each of" in fallback else "fits none of its forms",
            "; ".join(shapes))]
    common = [field for field in sets[0] if all(field in fields for fields in sets)]
    messages = [_required(field_path(list(parts) + [field])) for field in common if field not in instance]
    choices = [[field for field in fields if field not in common] for fields in sets]
    names = [" and ".join(fields) for fields in choices]
    given_choices = [fields for fields in choices if fields and all(field in instance for field in fields)]
    given = [" and ".join(fields) for fields in given_choices]
    if len(given) > 1:
        # Named by the first field given, so the message starts with a field path like every other.
        where = field_path(list(parts) + [given_choices[0][0]])
        problem = "is given with %s" % " and ".join(given[1:])
    elif not given and not none_allowed:
        problem = "has none of %s" % ", ".join(names)
    else:
        return messages
    hint = _ONE_OF_HINTS.get(path)
    messages.append("%s %s: the Canary CRD accepts %s of %s%s" % (
        where, problem, "at most one" if none_allowed else "exactly one", ", ".join(names),
        " (%s)" % hint if hint else ""))
    return messages


def _suggest_duration(value):
    """What to write instead of a duration the CRD refuses: 1h -> 60m, 1.5m -> 90s, 90 -> 90s."""
    text = str(value).strip()
    try:
        seconds = float(text) if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text) else go_duration_seconds(text)
    except DurationError:
        seconds = None
    if not seconds or seconds != int(seconds):
        return "for example 30s or 1m"
    seconds = int(seconds)
    return "write %dm" % (seconds // 60) if seconds % 60 == 0 else "write %ds" % seconds


def _path_of(error):
    """The field path an error message starts with."""
    return re.match(r"^[^ :]*", error).group(0)


def _parent(path):
    """``spec.analysis.metrics[0]`` for ``spec.analysis.metrics[0].interval``; "" for a top-level field."""
    match = re.match(r"^(.*)(\.[^.\[\]]*|\[[0-9]+\])\Z", path)
    return match.group(1) if match else ""


def _in_document_order(canary, errors):
    """``errors`` sorted by where their field is in ``canary`` (a missing field: where its parent is)."""
    order = {}

    def walk(node, path):
        order.setdefault(path, len(order))
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, "%s.%s" % (path, key) if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, "%s[%d]" % (path, index))

    walk(canary, "")

    def position(error):
        path = _path_of(error)
        while path and path not in order:
            path = _parent(path)
        return order.get(path, 0)

    return sorted(errors, key=position)


# -- 2. what the schema cannot say ----------------------------------------------------------

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_errors(path, value, minimum=None, maximum=None, why=""):
    """A whole number within [minimum, maximum] (Flagger's Go types are int: 1.5 would not decode).

    Not a number at all is the schema's to report.
    """
    if not _is_number(value):
        return []
    if not _is_int(value):
        return ["%s must be a whole number, got %r (Flagger reads it as a Go int and could not decode the Canary)"
                % (path, value)]
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bounds = "at least %d" % minimum
        elif minimum is None:
            bounds = "at most %d" % maximum
        else:
            bounds = "between %d and %d" % (minimum, maximum)
        return ["%s must be %s, got %r%s" % (path, bounds, value, why)]
    return []


def _duration_errors(path, value, what, minimum=None):
    """Go's reading of a duration the CRD's pattern let through (the pattern is not anchored at the end)."""
    if not isinstance(value, str) or not re.match(CRD_DURATION_PATTERN, value):
        return []
    try:
        seconds = go_duration_seconds(value)
    except DurationError:
        return ["%s %r is not a duration Flagger can parse (%s): write for example 30s or 1m30s" % (path, value, what)]
    if minimum is not None and seconds < minimum:
        return ["%s %r is under %ds: Flagger raises any analysis interval under %ds to %ds (GetAnalysisInterval); "
                "write %ds or more" % (path, value, minimum, minimum, minimum, minimum)]
    return []


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


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _items(value):
    return value if isinstance(value, list) else []


def semantic_errors(canary, metric_template_exists=None, target_exists=None):
    """What Kubernetes and Flagger v1.41.0 make of ``canary`` beyond its CRD schema, each error starting
    with the field's path. Fields of the wrong type are skipped: the schema reports them."""
    errors = _type_meta_errors(canary)
    metadata = canary.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        errors.append("metadata must be a mapping with name and namespace, got %r" % (metadata,))
    metadata = _mapping(metadata)
    errors += _metadata_errors(metadata)
    namespace = metadata.get("namespace")
    spec = _mapping(canary.get("spec"))
    provider = spec.get("provider") if isinstance(spec.get("provider"), str) else None
    if provider is not None:
        errors += _provider_errors(provider)
    if spec.get("progressDeadlineSeconds") is not None:
        # Flagger copies it onto the primary Deployment, where Kubernetes requires it above minReadySeconds (>= 0).
        errors += _int_errors("spec.progressDeadlineSeconds", spec["progressDeadlineSeconds"], 1, MAX_INT32,
                              " (Flagger copies it to the primary Deployment, which needs it positive)")
    errors += _target_errors(spec, namespace, target_exists)
    errors += _autoscaler_errors(_mapping(spec.get("autoscalerRef")))
    errors += _service_errors(spec)
    analysis = spec.get("analysis")
    if isinstance(analysis, dict):
        errors += _analysis_errors(analysis, spec, namespace, metric_template_exists)
    return errors


def _type_meta_errors(canary):
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


def _metadata_errors(metadata):
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
    if re.search(r"\s", provider):
        # Flagger matches gloo and gatewayapi by prefix: "gloo\n" would pass as gloo and be stored as it is.
        return ["spec.provider %r may not hold spaces or line breaks" % (provider,)]
    if provider in _PROVIDER_NAMES or provider.startswith(_PROVIDER_PREFIXES) or _SMI_PROVIDER.match(provider):
        return []
    hint = {"gatewayapi": "write gatewayapi:v1 (or gatewayapi:v1beta1)",
            "smi": "write smi:v1alpha3:<mesh>"}.get(provider.split(":")[0], "")
    return ["spec.provider %r is not one Flagger knows: Flagger would route it as istio without a word (%s)%s"
            % (provider, ", ".join(PROVIDERS), "; " + hint if hint else "")]


def _target_errors(spec, namespace, target_exists):
    target = _mapping(spec.get("targetRef"))
    kind, api_version, name = target.get("kind"), target.get("apiVersion"), target.get("name")
    if not isinstance(name, str):
        return []  # missing or not a string: the schema says so
    errors = []
    if kind in TARGET_API_VERSIONS and isinstance(api_version, str) and api_version \
            and api_version not in TARGET_API_VERSIONS[kind]:
        errors.append("spec.targetRef.apiVersion %r does not serve a %s: use %s"
                      % (api_version, kind, " or ".join(TARGET_API_VERSIONS[kind])))
    # Deployments and DaemonSets are named like DNS subdomains; Services like DNS-1035 labels.
    rule = "dns1035-label" if kind == "Service" else "dns1123-subdomain"
    name_errors = _name_errors("spec.targetRef.name", name, rule)
    errors += name_errors
    if kind in ("Deployment", "DaemonSet") and not name_errors:
        service_name = _mapping(spec.get("service")).get("name")
        if not service_name:
            errors += _apex_errors("spec.targetRef.name", name, " (Flagger names the services after the target "
                                                                "when spec.service.name is not set)")
    if not errors and kind in TARGET_API_VERSIONS and api_version and target_exists is not None and namespace \
            and _DNS1123_LABEL.match(str(namespace)) and not target_exists(kind, namespace, name):
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


def _autoscaler_errors(scaler):
    replicas = _mapping(scaler.get("primaryScalerReplicas"))
    low, high = replicas.get("minReplicas"), replicas.get("maxReplicas")
    if _is_int(low) and _is_int(high) and low > high:
        return ["spec.autoscalerRef.primaryScalerReplicas.minReplicas must be <= maxReplicas (%d > %d)" % (low, high)]
    return []


def _service_errors(spec):
    service = spec.get("service")
    if service is None:
        # The CRD lets a Canary without a service through; Flagger then creates services on port 0, which fails.
        return ["spec.service.port is required: the port of the services Flagger creates (option service_port)"]
    if not isinstance(service, dict):
        return []
    errors = []
    port = service.get("port")
    if _is_number(port) and (not _is_int(port) or not 0 < port < 65536):
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
    if isinstance(service.get("portName"), str):
        # A Service port name is a DNS-1123 label (core/validation validateServicePort).
        errors += _name_errors("spec.service.portName", service["portName"], "dns1123-label")
    if isinstance(service.get("name"), str):
        errors += _apex_errors("spec.service.name", service["name"])
    return errors


def _analysis_errors(analysis, spec, namespace, metric_template_exists):
    errors = _duration_errors("spec.analysis.interval", analysis.get("interval"), "it would run every 60s instead",
                              MIN_ANALYSIS_INTERVAL)
    if analysis.get("threshold") is not None:
        errors += _int_errors("spec.analysis.threshold", analysis["threshold"], 1, None,
                              " (Flagger would silently use 1)")
    errors += _strategy_errors(analysis, spec)
    for field in ("primaryReadyThreshold", "canaryReadyThreshold"):
        if analysis.get(field) is not None:
            errors += _int_errors("spec.analysis.%s" % field, analysis[field], 0, 100, " (a percentage of pods)")
    if analysis.get("stepWeightPromotion") is not None:
        errors += _int_errors("spec.analysis.stepWeightPromotion", analysis["stepWeightPromotion"], 1, 100)
    errors += _mirror_errors(analysis, spec)
    errors += _match_errors(analysis, spec)
    affinity = _mapping(analysis.get("sessionAffinity"))
    if affinity.get("maxAge") is not None:
        errors += _int_errors("spec.analysis.sessionAffinity.maxAge", affinity["maxAge"], 1)
    errors += _metric_errors(_items(analysis.get("metrics")), namespace, metric_template_exists)
    errors += _webhook_errors(_items(analysis.get("webhooks")))
    errors += _alert_errors(_items(analysis.get("alerts")))
    return errors


def _strategy_errors(analysis, spec):
    """Each strategy field within Flagger's bounds; which one is given is the CRD's oneOf."""
    errors = []
    iterations, step, steps = analysis.get("iterations"), analysis.get("stepWeight"), analysis.get("stepWeights")
    max_weight = analysis.get("maxWeight")
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
        if not step_errors and _is_int(step) and _is_int(max_weight) and step > max_weight:
            errors.append("spec.analysis.stepWeight must be <= maxWeight (%r > %r)" % (step, max_weight))
    if isinstance(steps, list):
        if max_weight is not None and iterations is None:
            errors.append("spec.analysis.maxWeight is ignored with spec.analysis.stepWeights (Flagger takes the last "
                          "of stepWeights as the maximum): remove it")
        if not steps or any(not _is_int(weight) or not 0 < weight <= 100 for weight in steps) \
                or any(low >= high for low, high in zip(steps, steps[1:]) if _is_number(low) and _is_number(high)):
            errors.append("spec.analysis.stepWeights must rise strictly, each a whole number between 1 and 100, "
                          "got %r" % (steps,))
    weights = [field for field in ("stepWeight", "stepWeights") if analysis.get(field) is not None]
    if spec.get("provider") == "kubernetes" and iterations is None and weights:
        errors.append("spec.analysis.%s: the kubernetes provider (spec.provider) cannot shift traffic by weight; "
                      "Flagger would ignore it and run 10 iterations instead: set spec.analysis.iterations "
                      "(blue/green)" % weights[0])
    return errors


def _mirror_errors(analysis, spec):
    errors = []
    weight = analysis.get("mirrorWeight")
    if weight is not None:
        errors += _int_errors("spec.analysis.mirrorWeight", weight, 0, 100, " (a percentage of the traffic)")
        if not analysis.get("mirror"):
            errors.append("spec.analysis.mirrorWeight is ignored without spec.analysis.mirror: true (option mirror)")
    provider = spec.get("provider")
    if analysis.get("mirror") is True and isinstance(provider, str) \
            and provider.split(":")[0] not in _MIRRORING_PROVIDERS:
        errors.append("spec.analysis.mirror is ignored by the %s provider (spec.provider): only istio and gatewayapi "
                      "mirror traffic" % provider)
    return errors


def _match_errors(analysis, spec):
    errors = []
    match = _items(analysis.get("match"))
    if not match:
        return errors
    if analysis.get("iterations") is None:
        errors.append("spec.analysis.match (A/B testing) needs spec.analysis.iterations")
    if spec.get("provider") == "kubernetes":
        errors.append("spec.analysis.match: the kubernetes provider (spec.provider) cannot route by header, query "
                      "or source; Flagger drops the match (\"A/B testing is not supported when using the kubernetes "
                      "provider\"): use istio, or drop match for blue/green")
    gateways = _items(_mapping(spec.get("service")).get("gateways"))
    for index, rule in enumerate(match):
        path = "spec.analysis.match[%d]" % index
        if not isinstance(rule, dict):
            continue
        # The CRD allows an empty rule; Istio then matches every request, so the "A/B test" sends all traffic.
        if not any(rule.get(field) for field in ("headers", "queryParams", "sourceLabels")):
            errors.append("%s must match on headers, queryParams or sourceLabels" % path)
        if rule.get("sourceLabels") and gateways and _MESH_GATEWAY not in gateways:
            errors.append("%s.sourceLabels only applies to in-mesh traffic and is ignored unless spec.service.gateways "
                          "includes %r" % (path, _MESH_GATEWAY))
    return errors


def _metric_errors(metrics, namespace, metric_template_exists):
    errors = []
    for index, metric in enumerate(metrics):
        path = "spec.analysis.metrics[%d]" % index
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            continue
        name = metric["name"]
        reference = metric.get("templateRef")
        if isinstance(reference, dict):
            template_namespace = reference.get("namespace") or namespace
            if isinstance(reference.get("name"), str) and reference["name"] and metric_template_exists \
                    and template_namespace and not metric_template_exists(template_namespace, reference["name"]):
                errors.append("%s.templateRef: MetricTemplate %s/%s not found"
                              % (path, template_namespace, reference["name"]))
        elif reference is None and name not in BUILTIN_METRICS and not metric.get("query"):
            errors.append("%s: unknown metric template %r: not built in (%s) and no templateRef" % (
                path, name, ", ".join(BUILTIN_METRICS)))
        errors += _threshold_errors(path, metric)
        errors += _duration_errors("%s.interval" % path, metric.get("interval"), "the query window")
    return errors


def _threshold_errors(path, metric):
    """A check needs a bound: without one Flagger compares against 0 (scheduler_metrics.go)."""
    errors = []
    bounds = _mapping(metric.get("thresholdRange"))
    low, high = bounds.get("min"), bounds.get("max")
    has_range = low is not None or high is not None
    if not has_range and metric.get("threshold") is None:
        errors.append("%s has no threshold: set thresholdRange.min and/or thresholdRange.max (options threshold_min, "
                      "threshold_max); without one Flagger compares against 0, so the check never fails (or, for "
                      "request-duration, always fails)" % path)
    elif has_range and metric.get("threshold") is not None:
        errors.append("%s.threshold is ignored when thresholdRange is set: give one of them" % path)
    if _is_number(low) and _is_number(high) and low > high:
        errors.append("%s.thresholdRange.min must be <= max" % path)
    return errors


def _webhook_errors(webhooks):
    errors = []
    names = set()
    for index, hook in enumerate(webhooks):
        path = "spec.analysis.webhooks[%d]" % index
        if not isinstance(hook, dict):
            continue
        name = hook.get("name")
        if isinstance(name, str):
            if not name:
                errors.append("%s.name must not be empty" % path)
            elif name in names:
                errors.append("%s.name %r is used twice" % (path, name))
            names.add(name)
        url = hook.get("url")
        # The CRD's format "url" is not one the API server checks; Flagger posts to it.
        if isinstance(url, str) and not re.match(r"^https?://[^/\s]+\S*\Z", url):
            errors.append("%s.url must be an http(s) address without spaces, got %r (set loadtester_url for gates "
                          "and load tests)" % (path, url))
        errors += _duration_errors("%s.timeout" % path, hook.get("timeout"), "the webhook call would fail")
        if hook.get("retries") is not None:
            errors += _int_errors("%s.retries" % path, hook["retries"], 0)
    return errors


def _alert_errors(alerts):
    errors = []
    for index, alert in enumerate(alerts):
        path = "spec.analysis.alerts[%d]" % index
        provider = _mapping(_mapping(alert).get("providerRef"))
        if provider.get("name") == "":
            errors.append("%s.providerRef.name must name an AlertProvider, got ''" % path)
    return errors
