# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks before a release that save it from a verdict it did not earn.

- :func:`metric_window_left`: after a failed analysis, the metric window (the longest
  metric ``interval``) still holds the failed run's traffic; a release started inside
  it is judged on that traffic. Measured on the simulated platform: a 20 %-error release
  started right after a 75 %-error one was rolled back at weight 5; the same release
  75 s later was promoted. The time is the API server's (``lastTransitionTime`` is its
  clock), so the caller passes the server's time; the answer never exceeds the window.
- :class:`MetricProbe`: Prometheus answers and each of the canary's metrics returns data
  for the workload that serves now (the primary). Flagger otherwise rolls healthy
  releases back on "no values found". Addresses are shown without their credentials.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse

from ansible.module_utils.urls import open_url
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (
    DEFAULT_METRIC_INTERVAL,
    DurationError,
    analysis_of,
    analysis_steps,
    go_duration_seconds,
    kube_time,
    metric_template_model,
    redact,
    redact_text,
)

PROBE_TIMEOUT = 5
# A MetricTemplate's query of the canary's own series by name (``{{ target }}-canary``, as
# Traefik names its backend services): the serving workload's are ``<target>-primary``,
# which the probe's target already is.
_CANARY_OF_TARGET = re.compile(r"(\{\{-?\s*target\s*-?\}\})-canary\b")

__all__ = ["PreflightError", "TemplateError", "UnsupportedTemplate", "analysis_steps",
           "longest_metric_interval", "metric_window_left", "render_template_query", "MetricProbe", "metric_queries"]


class PreflightError(CollectionError):
    """The release would not get a fair verdict; the message says why and what to do."""


class TemplateError(PreflightError):
    """A MetricTemplate query Flagger itself could not render: its metric check would fail."""


class UnsupportedTemplate(ValueError):
    """A MetricTemplate query using Go template features beyond Flagger's variables; it is not probed."""


def _key(canary):
    metadata = canary.get("metadata") or {}
    return "%s/%s" % (metadata.get("namespace"), metadata.get("name"))


def _metric_interval_seconds(metric):
    try:
        return go_duration_seconds(metric.get("interval") or DEFAULT_METRIC_INTERVAL)
    except DurationError:
        return go_duration_seconds(DEFAULT_METRIC_INTERVAL)


def longest_metric_interval(canary):
    """Seconds of the longest metric window of ``canary`` (1m where unset), 0 without metrics."""
    metrics = analysis_of(canary).get("metrics") or []
    return max([max(0.0, _metric_interval_seconds(metric)) for metric in metrics if isinstance(metric, dict)]
               or [0.0])


def metric_window_left(canary, now=None):
    """Seconds until a failed analysis's traffic has left the metric window (0: clear).

    ``now`` is the API server's time (timezone-aware), the clock ``lastTransitionTime``
    was written with; None means it is unknown, and the whole window is left. The answer
    is never more than :func:`longest_metric_interval` nor less than 0, whatever the clocks say.
    """
    status = canary.get("status") or {}
    if status.get("phase") != "Failed" or not status.get("lastTransitionTime"):
        return 0.0
    window = longest_metric_interval(canary)
    if now is None:
        return window
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("metric_window_left needs the API server's time as a timezone-aware datetime, got %r" % (now,))
    try:
        failed_at = kube_time(status["lastTransitionTime"])
    except ValueError:
        return window
    elapsed = (now - failed_at).total_seconds()
    return min(window, max(0.0, window - elapsed))


# What each mesh reports per workload, to tell whether telemetry flows at all.
_TRAFFIC_QUERIES = {
    "istio": 'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="%(namespace)s",'
             'destination_workload=~"%(workloads)s"}[%(interval)s]))',
    "linkerd": 'sum(rate(response_total{namespace="%(namespace)s",deployment=~"%(workloads)s",'
               'direction="inbound"}[%(interval)s]))',
}


# Go text/template's own functions and constants: a query using them is valid to Flagger
# but beyond what is rendered here, so it is not probed.
_GO_TEMPLATE_WORDS = ("and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println",
                      "urlquery", "eq", "ge", "gt", "le", "lt", "ne", "true", "false", "nil", "block", "break",
                      "continue", "define", "else", "end", "if", "range", "template", "with")
# {{ ... }} with Go's trim markers: "{{- " and " -}}" need the space.
_TEMPLATE_ACTION = re.compile(r"\{\{(-(?=\s))?(.*?)((?<=\s)-)?\}\}", re.S)


def _render_action(action, model):
    if re.match(r"^/\*.*\*/$", action, re.S):
        return ""
    variable = re.match(r"^variables\.([A-Za-z_][A-Za-z0-9_]*)$", action)
    if variable:
        key = variable.group(1)
        if key not in model["variables"]:
            raise TemplateError("{{ %s }} has no value: templateVariables has no %s (Flagger renders with "
                                "missingkey=error: \"map has no entry for key\")" % (action, key))
        return str(model["variables"][key])
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", action):
        if action in model and action != "variables":
            return str(model[action])
        if action == "variables" or action in _GO_TEMPLATE_WORDS:
            raise UnsupportedTemplate(action)
        raise TemplateError("{{ %s }} is not one of Flagger's template functions (%s): Flagger refuses the query "
                            "(\"function %s not defined\")" % (action, ", ".join(sorted(model)), action))
    raise UnsupportedTemplate(action)


def render_template_query(query, model):
    """``query`` (a MetricTemplate's) rendered with ``model`` as Flagger renders it (observers.RenderQuery).

    ``model`` is :func:`model.metric_template_model`'s dict: name, namespace, target,
    service, ingress, route, interval and variables (``{{ variables.key }}``). Raises
    TemplateError where Flagger's own rendering fails (an unknown function, a variable
    the metric does not set) and UnsupportedTemplate for other Go template features
    (pipelines, conditionals), which Flagger may well render but this does not.
    """
    out, position, trim_next = [], 0, False
    for action in _TEMPLATE_ACTION.finditer(query):
        text = query[position:action.start()]
        if trim_next:
            text = text.lstrip()
        if action.group(1):
            text = text.rstrip()
        out.append(text)
        out.append(_render_action(action.group(2).strip(), model))
        position, trim_next = action.end(), bool(action.group(3))
    rest = query[position:]
    out.append(rest.lstrip() if trim_next else rest)
    return "".join(out)


class MetricProbe:
    """Asks Prometheus whether the canary's metrics have data now.

    Addresses (``url``, a MetricTemplate's ``address``) may carry credentials; every
    message shows them redacted.
    """

    def __init__(self, url, opener=None, timeout=PROBE_TIMEOUT):
        self.url = url.rstrip("/")
        self.opener = opener or open_url
        self.timeout = timeout

    def _ask(self, path, params, url, unreachable, refused):
        """The ``data`` of Prometheus' answer to ``path`` with ``params``; PreflightError naming the
        address (redacted) and the query, with ``unreachable`` or ``refused`` after it."""
        base = (url or self.url).rstrip("/")
        address = "%s/api/v1/%s?%s" % (base, path, urllib.parse.urlencode(params))
        try:
            with self.opener(address, timeout=self.timeout) as response:
                body = json.loads(response.read().decode())
        except (OSError, ValueError) as error:
            raise PreflightError("Prometheus at %s does not answer (%s)%s" % (
                redact(base), redact_text(error, base), unreachable))
        if body.get("status") != "success":
            raise PreflightError("Prometheus at %s refused the query %s: %s%s" % (
                redact(base), params["query"], body.get("error"), refused))
        return body.get("data") or {}

    def query(self, promql, url=None):
        data = self._ask("query", {"query": promql}, url,
                         ": Flagger could not judge the release and would roll it back",
                         " (Flagger sends the same query and would fail the check)")
        return [item for item in data.get("result") or []
                if not math.isnan(float(item.get("value", [0, "NaN"])[1]))]

    def query_range(self, promql, start, end, step, url=None):
        """The first series of ``promql`` from ``start`` to ``end`` (unix seconds), every ``step``
        seconds: ``[(unix seconds, value)]`` without NaN."""
        data = self._ask("query_range", {"query": promql, "start": "%.3f" % start, "end": "%.3f" % end,
                                         "step": "%g" % step}, url, "", "")
        results = data.get("result") or []
        points = []
        for moment, value in (results[0].get("values") or []) if results else []:
            number = float(value)
            if not math.isnan(number) and not math.isinf(number):
                points.append((float(moment), number))
        return points

    def check(self, canary, provider="istio", templates=None):
        """Raise PreflightError when a metric of ``canary`` has no data; the names of the metrics checked.

        ``templates`` maps ``(namespace, name)`` to the MetricTemplates the metrics
        reference. Queries are asked of the primary (``<target>-primary`` as the target),
        the workload that serves between releases; a query naming the canary's series
        (``{{ target }}-canary``) is asked of the primary's; every other value is Flagger's.
        """
        checked = []
        for metric, query, url in metric_queries(canary, provider, templates, primary=True):
            if not self.query(query, url):
                key = "%s/%s" % (canary["metadata"]["namespace"], canary["metadata"]["name"])
                raise PreflightError(
                    "canary %s: metric %s returns no data for %s-primary (query: %s). Flagger would roll a "
                    "healthy release back with \"no values found\"; is traffic reaching the app and is "
                    "Prometheus scraping the mesh?" % (key, metric.get("name"), canary["spec"]["targetRef"]["name"],
                                                       query.strip()))
            checked.append(metric.get("name"))
        return checked


def metric_queries(canary, provider="istio", templates=None, primary=False, builtin=True):
    """``(metric, query, address)`` for each metric of ``canary`` whose query can be asked of
    Prometheus here: a MetricTemplate's (of type prometheus, without a secretRef: its
    credentials are Flagger's), a metric's own query, or a built-in metric's for the mesh.
    Rendered as Flagger renders it; with ``primary``, for the primary (``<target>-primary``),
    which serves between releases, and a query naming the canary's series
    (``{{ target }}-canary``) for the primary's; else for the canary's workload, as Flagger
    asks during the analysis. ``builtin``: also the built-in metrics' traffic queries (whether the
    mesh has data for the workloads; not the values Flagger compares)."""
    metadata, spec = canary["metadata"], canary.get("spec") or {}
    namespace, target = metadata["namespace"], spec["targetRef"]["name"]
    key = "%s/%s" % (namespace, metadata["name"])
    subject = "%s-primary" % target if primary else target
    for metric in analysis_of(canary).get("metrics") or []:
        ref = metric.get("templateRef")
        if ref:
            template_key = (ref.get("namespace") or namespace, ref["name"])
            template = (templates or {}).get(template_key)
            provider_spec = ((template or {}).get("spec") or {}).get("provider") or {}
            if template is None or provider_spec.get("type") not in (None, "prometheus") \
                    or provider_spec.get("secretRef"):
                continue
            source = "MetricTemplate %s/%s" % template_key
            query, url = template["spec"].get("query") or "", provider_spec.get("address")
            interval = metric.get("interval") or ""
        elif metric.get("query"):
            source, query, url = "its query", metric["query"], None
            interval = metric.get("interval") or DEFAULT_METRIC_INTERVAL
        else:
            pattern = _TRAFFIC_QUERIES.get(spec.get("provider") or provider) if builtin else None
            if pattern is None:
                continue
            workloads = "%s|%s" % (target, "%s-primary" % target) if primary else target
            query = pattern % dict(namespace=namespace, workloads=workloads,
                                   interval=metric.get("interval") or DEFAULT_METRIC_INTERVAL)
            yield metric, query, None
            continue
        model = dict(metric_template_model(canary, interval, metric.get("templateVariables")), target=subject)
        try:
            text = _CANARY_OF_TARGET.sub(r"\1", query) if primary else query
            query = render_template_query(text, model)
        except UnsupportedTemplate:
            continue
        except TemplateError as error:
            raise TemplateError("canary %s: metric %s: %s cannot be rendered: %s. Flagger would fail this "
                                "check and roll the release back" % (key, metric.get("name"), source, error))
        yield metric, query, url
