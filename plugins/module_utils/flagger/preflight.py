# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks before a release that save it from a verdict it did not earn.

- :func:`analysis_floor`: the least time Flagger's settings allow an analysis (interval ×
  steps or iterations, plus the progress deadline). A wait shorter than that cannot end
  in a verdict; it is refused up front with the figure.
- :func:`metric_window_left`: after a failed analysis, the metric window (the longest
  metric ``interval``) still holds the failed run's traffic; a release started inside
  it is judged on that traffic. Measured on the simulated platform: a 20 %-error release
  started right after a 75 %-error one was rolled back at weight 5; the same release
  75 s later was promoted.
- :class:`MetricProbe`: Prometheus answers and each of the canary's metrics returns data
  for the workload that serves now (the primary). Flagger otherwise rolls healthy
  releases back on "no values found".
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from datetime import datetime, timezone

from ansible.module_utils.urls import open_url
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError

DEFAULT_METRIC_INTERVAL = 60.0
DEFAULT_PROGRESS_DEADLINE = 600
PROBE_TIMEOUT = 5


class PreflightError(CollectionError):
    """The release would not get a fair verdict; the message says why and what to do."""


def seconds_of(duration, default=0.0):
    """Seconds in a Go duration like ``1m30s``, ``15s``, ``500ms``."""
    if not duration:
        return default
    total, found = 0.0, False
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration)):
        found = True
        total += float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total if found else default


def analysis_steps(analysis):
    """How many analysis runs a release takes: iterations (blue/green, A/B) or weight steps."""
    if analysis.get("iterations"):
        return int(analysis["iterations"])
    if analysis.get("stepWeights"):
        return len(analysis["stepWeights"])
    step, top = analysis.get("stepWeight") or 0, analysis.get("maxWeight") or 100
    return int(math.ceil(float(top) / step)) if step else 1


def analysis_floor(canary):
    """``(seconds, explanation)``: interval × steps + progress deadline."""
    spec = canary.get("spec") or {}
    analysis = spec.get("analysis") or {}
    interval = seconds_of(analysis.get("interval"), 60.0)
    steps = analysis_steps(analysis)
    deadline = spec.get("progressDeadlineSeconds") or DEFAULT_PROGRESS_DEADLINE
    floor = interval * steps + deadline
    return floor, "interval %s × %d steps + progress deadline %d s = %d s" % (
        analysis.get("interval") or "1m", steps, deadline, floor)


def check_timeout(canary, timeout, spent=0.0):
    """Refuse a timeout below the analysis floor (plus what the task spends before it)."""
    floor, why = analysis_floor(canary)
    if timeout is not None and timeout < floor + spent:
        key = "%s/%s" % (canary["metadata"]["namespace"], canary["metadata"]["name"])
        raise PreflightError("wait_timeout %d s is too short for canary %s: its analysis needs at least %s%s. "
                             "Raise wait_timeout to %d or more." % (
                                 timeout, key, why, " plus %d s for git and Flux" % spent if spent else "",
                                 math.ceil(floor + spent)), floor=floor)
    return floor


def longest_metric_interval(canary):
    metrics = ((canary.get("spec") or {}).get("analysis") or {}).get("metrics") or []
    return max([seconds_of(metric.get("interval"), DEFAULT_METRIC_INTERVAL) for metric in metrics] or [0.0])


def parse_time(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def metric_window_left(canary, now=None):
    """Seconds until a failed analysis's traffic has left the metric window (0: clear)."""
    status = canary.get("status") or {}
    if status.get("phase") != "Failed" or not status.get("lastTransitionTime"):
        return 0.0
    now = now or datetime.now(timezone.utc)
    elapsed = (now - parse_time(status["lastTransitionTime"])).total_seconds()
    return max(0.0, longest_metric_interval(canary) - elapsed)


# What each mesh reports per workload, to tell whether telemetry flows at all.
_TRAFFIC_QUERIES = {
    "istio": 'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="%(namespace)s",'
             'destination_workload=~"%(workloads)s"}[%(interval)s]))',
    "linkerd": 'sum(rate(response_total{namespace="%(namespace)s",deployment=~"%(workloads)s",'
               'direction="inbound"}[%(interval)s]))',
}


def render_template_query(query, namespace, target, interval, variables=None):
    """A MetricTemplate query with Flagger's variables filled in."""
    values = dict(namespace=namespace, target=target, interval=interval, name=target)
    for key, value in (variables or {}).items():
        values["variables.%s" % key] = value
    return re.sub(r"{{\s*([\w.]+)\s*}}", lambda match: str(values.get(match.group(1), match.group(0))), query)


class MetricProbe:
    """Asks Prometheus whether the canary's metrics have data now."""

    def __init__(self, url, opener=None, timeout=PROBE_TIMEOUT):
        self.url = url.rstrip("/")
        self.opener = opener or open_url
        self.timeout = timeout

    def query(self, promql, url=None):
        address = "%s/api/v1/query?%s" % ((url or self.url).rstrip("/"), urllib.parse.urlencode({"query": promql}))
        try:
            with self.opener(address, timeout=self.timeout) as response:
                body = json.loads(response.read().decode())
        except (OSError, ValueError) as error:
            raise PreflightError("Prometheus at %s does not answer (%s): Flagger could not judge the release "
                                 "and would roll it back" % (url or self.url, error))
        if body.get("status") != "success":
            raise PreflightError("Prometheus at %s refused the query %s: %s" % (
                url or self.url, promql, body.get("error")))
        return [item for item in (body.get("data") or {}).get("result") or []
                if not math.isnan(float(item.get("value", [0, "NaN"])[1]))]

    def check(self, canary, provider="istio", templates=None):
        """Raise PreflightError when a metric of ``canary`` has no data; the queries checked."""
        metadata, spec = canary["metadata"], canary.get("spec") or {}
        namespace, target = metadata["namespace"], spec["targetRef"]["name"]
        key = "%s/%s" % (namespace, metadata["name"])
        checked = []
        for metric in (spec.get("analysis") or {}).get("metrics") or []:
            interval = metric.get("interval") or "1m"
            ref = metric.get("templateRef")
            if ref:
                template = (templates or {}).get((ref.get("namespace") or namespace, ref["name"]))
                if template is None or ((template.get("spec") or {}).get("provider") or {}).get("type") not in (
                        None, "prometheus"):
                    continue
                query = render_template_query(template["spec"]["query"], namespace, "%s-primary" % target,
                                              interval, metric.get("templateVariables"))
                url = template["spec"]["provider"].get("address")
            else:
                pattern = _TRAFFIC_QUERIES.get(spec.get("provider") or provider)
                if pattern is None:
                    continue
                query = pattern % dict(namespace=namespace, workloads="%s|%s-primary" % (target, target),
                                       interval=interval)
                url = None
            if not self.query(query, url):
                raise PreflightError(
                    "canary %s: metric %s returns no data for %s-primary (query: %s). Flagger would roll a "
                    "healthy release back with \"no values found\"; is traffic reaching the app and is "
                    "Prometheus scraping the mesh?" % (key, metric.get("name"), target, query.strip()))
            checked.append(metric.get("name"))
        return checked
