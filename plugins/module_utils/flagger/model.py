# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about a Canary as Flagger v1.41.0 reads them: pure functions, no I/O.

Everything here follows Flagger's own code, so that the collection and Flagger agree on
what a Canary means:

- :func:`go_duration_seconds` is Go's ``time.ParseDuration``, which Flagger uses for
  every duration field (``analysis.interval``, ``metrics[].interval``, webhook
  timeouts). A bare number such as ``"90"`` is *not* a duration to Go (``missing unit
  in duration``); it raises :class:`DurationError` here as well, never guesses seconds.
- :func:`analysis_interval`, :func:`analysis_steps` and :func:`analysis_need`: how long
  an analysis takes (``pkg/apis/flagger/v1beta1/canary.go`` GetAnalysisInterval and
  GetProgressDeadlineSeconds, ``pkg/controller/scheduler.go``).
- :func:`metric_template_model`: the values Flagger fills a MetricTemplate query with
  (``pkg/controller/scheduler_metrics.go`` toMetricModel).
- :func:`redact`: an address without the credentials it may carry, for every message
  that names a load tester or a metrics server.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit

# canary.go: ProgressDeadlineSeconds, AnalysisInterval, MetricInterval, and the floor of
# GetAnalysisInterval ("if interval < 10*time.Second { return time.Second * 10 }").
DEFAULT_PROGRESS_DEADLINE = 600
DEFAULT_ANALYSIS_INTERVAL = 60.0
MIN_ANALYSIS_INTERVAL = 10.0
DEFAULT_METRIC_INTERVAL = "1m"
# The kubernetes provider cannot shift weights; Flagger runs this many iterations instead
# (scheduler.go advanceCanary: "Setting canaryAnalysis.iterations: 10").
KUBERNETES_PROVIDER_ITERATIONS = 10

# time.ParseDuration's units, in nanoseconds (Go keeps durations as int64 nanoseconds).
_GO_UNIT_NANOSECONDS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6,
                        "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_MAX_NANOSECONDS = 2 ** 63 - 1


class DurationError(ValueError):
    """Text that Go's time.ParseDuration (and so Flagger) refuses; the message says why."""


def go_duration_seconds(text):
    """Seconds in ``text`` read exactly as Go's ``time.ParseDuration`` reads it.

    ``"1m30s"`` is 90.0, ``"500ms"`` 0.5, ``"1.5h"`` 5400.0, ``"-5s"`` -5.0, ``"0"`` 0.0.
    A bare number other than 0 (``"90"``), an unknown unit (``"1d"``), spaces
    (``"1h 30m"``), an empty string or anything but a string raise DurationError.
    """
    if not isinstance(text, str):
        raise DurationError("a duration must be a string like 30s or 1m30s, got %r" % (text,))
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise DurationError("invalid duration %r: it is empty" % text)
    total = 0
    while rest:
        match = re.match(r"([0-9]*)(?:\.([0-9]*))?", rest)
        whole, fraction = match.group(1), match.group(2)
        if not whole and not fraction:
            raise DurationError("invalid duration %r: a number must come before each unit" % text)
        rest = rest[match.end():]
        unit = re.match(r"[^0-9.]*", rest).group(0)
        if not unit:
            raise DurationError(
                "invalid duration %r: missing unit (Go's time.ParseDuration, which Flagger uses, reads no bare "
                "numbers: write for example %ss)" % (text, text.lstrip("+")))
        if unit not in _GO_UNIT_NANOSECONDS:
            raise DurationError("invalid duration %r: unknown unit %r (Go knows ns, us, ms, s, m and h)" % (text, unit))
        rest = rest[len(unit):]
        scale = _GO_UNIT_NANOSECONDS[unit]
        nanoseconds = int(whole or "0") * scale
        if fraction:
            # Go truncates the fraction to whole nanoseconds of the unit.
            nanoseconds += int(fraction) * scale // 10 ** len(fraction)
        total += nanoseconds
        if total > _MAX_NANOSECONDS + (1 if negative else 0):
            raise DurationError("invalid duration %r: more than Go's limit of about 292 years" % text)
    return (-total if negative else total) / 1e9


def kube_time(text):
    """A Kubernetes timestamp (RFC 3339, like ``lastTransitionTime``) as an aware datetime; else ValueError."""
    value = str(text).strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # fromisoformat before Python 3.11 takes a fraction of exactly 3 or 6 digits only.
    value = re.sub(r"\.(\d+)", lambda match: "." + (match.group(1) + "000000")[:6], value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp %r has no time zone" % (text,))
    return parsed.astimezone(timezone.utc)


# -- the analysis -------------------------------------------------------------------------

def _spec(canary):
    spec = (canary or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def analysis_of(canary):
    analysis = _spec(canary).get("analysis")
    return analysis if isinstance(analysis, dict) else {}


def _whole(value):
    """A Go int field as Flagger would decode it: whole numbers only, anything else counts as unset (0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def analysis_interval(canary):
    """Seconds between two analysis steps of ``canary``, as Flagger runs it.

    GetAnalysisInterval: unset or unreadable is 60 s, anything under 10 s is 10 s.
    """
    text = analysis_of(canary).get("interval")
    if not text:
        return DEFAULT_ANALYSIS_INTERVAL
    try:
        seconds = go_duration_seconds(text)
    except DurationError:
        return DEFAULT_ANALYSIS_INTERVAL
    return max(MIN_ANALYSIS_INTERVAL, seconds)


def strategy_of(analysis):
    """canary (weights), ab-testing (iterations + match), blue-green (iterations), or None."""
    analysis = analysis if isinstance(analysis, dict) else {}
    if analysis.get("iterations"):
        return "ab-testing" if analysis.get("match") else "blue-green"
    if analysis.get("stepWeight") or analysis.get("stepWeights") or analysis.get("maxWeight"):
        return "canary"
    return None


def analysis_steps(analysis, provider=None):
    """How many analysis intervals a release's analysis takes before its promotion.

    Iterations (blue/green, A/B), else the weight steps up to maxWeight (one more for the
    mirror step before the first weight). With the ``kubernetes`` provider and no
    iterations Flagger runs 10 iterations. Never less than 1.
    """
    analysis = analysis if isinstance(analysis, dict) else {}
    iterations = _whole(analysis.get("iterations"))
    if iterations <= 0 and provider == "kubernetes":
        iterations = KUBERNETES_PROVIDER_ITERATIONS
    if iterations > 0:
        return iterations
    step_weights = [weight for weight in analysis.get("stepWeights") or [] if _whole(weight) > 0] \
        if isinstance(analysis.get("stepWeights"), list) else []
    step = _whole(analysis.get("stepWeight"))
    if step_weights:
        steps = len(step_weights)
    elif step > 0:
        top = _whole(analysis.get("maxWeight")) or 100
        steps = int(math.ceil(float(top) / step))
    else:
        return 1
    return steps + (1 if analysis.get("mirror") is True else 0)


def progress_deadline(canary):
    """``spec.progressDeadlineSeconds``, or Flagger's default of 600 (GetProgressDeadlineSeconds)."""
    deadline = _spec(canary).get("progressDeadlineSeconds")
    return _whole(deadline) if deadline is not None else DEFAULT_PROGRESS_DEADLINE


def analysis_need(canary):
    """``(minimum, worst)`` seconds a release of ``canary`` takes to reach a verdict.

    ``minimum`` is what the analysis itself needs: its steps × its interval; no release
    can end sooner. ``worst`` adds the canary's progress deadline, the slack Flagger
    gives a rollout whose pods are slow to become ready before it gives up.
    """
    provider = _spec(canary).get("provider")
    minimum = analysis_steps(analysis_of(canary), provider if isinstance(provider, str) else None) \
        * analysis_interval(canary)
    return minimum, minimum + progress_deadline(canary)


def metric_template_model(canary, interval, variables=None):
    """The values Flagger renders a MetricTemplate query with (scheduler_metrics.go toMetricModel).

    ``name`` and ``namespace`` are the Canary's; ``target`` its targetRef's name;
    ``service`` spec.service.name, ``ingress`` spec.ingressRef.name and ``route``
    spec.routeRef.name, each falling back to the target's name; ``interval`` and
    ``variables`` the metric's own (``interval`` as written, "" when unset: Flagger fills
    in 1m only for its built-in metrics). With the knative provider Flagger sets
    ``route`` to the Knative Service's latest revision, which only the cluster knows.
    """
    metadata = (canary or {}).get("metadata") or {}
    spec = _spec(canary)
    target = (spec.get("targetRef") or {}).get("name") or ""

    def name_of(field, fallback):
        reference = spec.get(field)
        return (reference or {}).get("name") or fallback if isinstance(reference, dict) else fallback

    return {
        "name": metadata.get("name") or "",
        "namespace": metadata.get("namespace") or "",
        "target": target,
        "service": name_of("service", target),
        "ingress": name_of("ingressRef", target),
        "route": name_of("routeRef", target),
        "interval": interval or "",
        "variables": dict(variables or {}),
    }


# -- addresses ------------------------------------------------------------------------------

def redact(url):
    """``url`` without the credentials it may carry (``user:password@host`` becomes ``***@host``)."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def redact_text(text, url):
    """``text`` (an error's words, which may quote the address) without the credentials in ``url``."""
    text = str(text)
    if not url:
        return text
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return text
    userinfo = parts.netloc.rsplit("@", 1)[0]
    text = text.replace(url, redact(url))
    # The user name alone is no secret and may be a common word; the password is replaced wherever it shows.
    for secret in (userinfo, parts.password):
        if secret:
            text = text.replace(secret, "***")
    return text
