# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release as people look at it: one HTML file, no script and nothing fetched, with an inline
SVG chart of the traffic weight and of each metric against its threshold over the release,
the gates, Flagger's events, the verdict and the commits.

The data is the release's own result (its timeline of phase, weight and failed checks, Flagger's
events, the commits, the timings) and its Canary (the metrics' thresholds). A metric's values
are Prometheus' when the release was given ``prometheus_url`` (a range query of the metric's
query over the release, :func:`metric_series`), and otherwise the values Flagger named in its
events when a check failed ("Halt ... advancement <metric> 50.00 < 99"). Every text is escaped.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from datetime import datetime

WIDTH, LEFT, RIGHT, PANEL, GAP, TOP = 900, 70, 60, 150, 48, 50
# Seconds an event may seem to precede the release (the API server's clock against this one's).
SLACK = 5.0
PHASE_COLOURS = {"Initializing": "#c7c7c7", "Initialized": "#c7c7c7", "Waiting": "#ffdd57", "Progressing": "#5b9bd5",
                 "WaitingPromotion": "#ffdd57", "Promoting": "#70ad47", "Finalising": "#70ad47",
                 "Succeeded": "#2e7d32", "Failed": "#c62828", "Terminating": "#7f7f7f", "Terminated": "#7f7f7f"}
WEIGHT_COLOUR, SERIES_COLOUR, FAILED_COLOUR, THRESHOLD_COLOUR = "#1f77b4", "#6a3d9a", "#d62728", "#ff7f0e"
# Flagger's words for a check that failed on a value (scheduler_metrics.go): its built-in metrics
# ("Halt podinfo.test advancement success rate 25.00% < 70%", "... advancement request duration
# 1.2s > 500ms") and the others ("... advancement error-rate 50.00 > 1").
_HALT = re.compile(r"advancement\s+(success rate|request duration|\S+)\s+(\S+?)%?\s+([<>])\s")
_BUILTIN = {"success rate": "request-success-rate", "request duration": "request-duration"}


def _seconds_of(stamp, started):
    try:
        moment = datetime.strptime(str(stamp)[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return (moment - started).total_seconds()


def metric_thresholds(canary):
    """``{metric name: (min, max)}`` from the Canary's analysis (either may be None)."""
    analysis = ((canary or {}).get("spec") or {}).get("analysis") or {}
    found = {}
    for metric in analysis.get("metrics") or []:
        if isinstance(metric, dict) and metric.get("name"):
            bounds = metric.get("thresholdRange") or {}
            found[metric["name"]] = (bounds.get("min"), bounds.get("max"))
    return found


def event_values(events, started):
    """``{metric: [(seconds, value)]}`` from Flagger's events of failed checks. Flagger names a
    metric template's check as ``<template>`` or the metric's name: both are kept as it says."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.model import (
        DurationError,
        go_duration_seconds,
    )

    found = {}
    for event in events or []:
        match = _HALT.search(event.get("message") or "")
        seconds = _seconds_of(event.get("time"), started) if match and started else None
        if seconds is None or seconds < -SLACK:
            continue
        name, text = _BUILTIN.get(match.group(1), match.group(1)), match.group(2)
        try:
            # request-duration's threshold is in milliseconds; Flagger writes the value as a Go duration.
            value = go_duration_seconds(text) * 1000.0 if name == "request-duration" else float(text)
        except (DurationError, ValueError):
            continue
        found.setdefault(name, []).append((seconds, value))
    return found


def report_data(result, canary, ended, series=None):
    """What the report shows, from the release's ``result``, its ``canary`` (for the thresholds),
    the time it ``ended`` (a naive UTC datetime) and Prometheus' ``series`` of its metrics
    (``{metric: [(seconds since the start, value)]}``, or None)."""
    from datetime import timedelta

    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.status import release_events

    duration = float(result.get("duration") or 0)
    started = ended - timedelta(seconds=duration)
    # This release's events only: from Flagger's "New revision detected", and none before it started
    # (the API server keeps an hour of them; an earlier release's failed checks are not this one's).
    events = [dict(event, seconds=_seconds_of(event.get("time"), started))
              for event in release_events(result.get("events") or [])]
    events = [event for event in events if event["seconds"] is None or event["seconds"] >= -SLACK]
    thresholds = metric_thresholds(canary)
    from_events = event_values(events, started)
    metrics = []
    for name, (low, high) in thresholds.items():
        flagger_name = next((key for key in from_events if key == name or key.endswith("-" + name)), name)
        metrics.append(dict(name=name, min=low, max=high, series=(series or {}).get(name) or [],
                            failed=from_events.get(flagger_name, [])))
    timings = result.get("timings") or {}
    marks = []
    if "preflight_and_git" in timings:
        marks.append((timings["preflight_and_git"], "pushed"))
        if "flux" in timings:
            marks.append((timings["preflight_and_git"] + timings["flux"], "applied"))
    marks.append((duration, result.get("verdict") or "ended"))
    return dict(key="%s/%s" % (((canary or {}).get("metadata") or {}).get("namespace", "?"),
                               ((canary or {}).get("metadata") or {}).get("name", "?")),
                verdict=result.get("verdict") or ("failed" if result.get("failed") else "unknown"),
                reason=result.get("reason") or result.get("msg") or "", duration=duration,
                started=started.strftime("%Y-%m-%d %H:%M:%S UTC"), timeline=result.get("timeline") or [],
                events=events, metrics=metrics, marks=marks, commit=result.get("commit"),
                revert_commit=result.get("revert_commit"), revision=result.get("revision"),
                gates=result.get("gates") or {}, timings=timings)


# --- the chart -----------------------------------------------------------------------------------
def _x(seconds, duration):
    span = max(duration, 1.0)
    return LEFT + (WIDTH - LEFT - RIGHT) * min(max(seconds, 0.0), span) / span


def _number(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")


def _tick(value):
    return "%.3g" % value


def _weight_panel(data, top):
    duration, parts = data["duration"], []
    bottom = top + PANEL

    def y(weight):
        return bottom - PANEL * min(max(weight, 0), 100) / 100.0

    parts.append('<text x="%d" y="%d" class="title">traffic weight to the canary (%%)</text>' % (LEFT, top - 8))
    for tick in (0, 25, 50, 75, 100):
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>' % (LEFT, WIDTH - RIGHT, y(tick), y(tick)))
        parts.append('<text x="%d" y="%.1f" class="tick" text-anchor="end">%d</text>' % (LEFT - 6, y(tick) + 4, tick))
    entries = data["timeline"]
    points, bands = [], []
    for index, entry in enumerate(entries):
        start = float(entry.get("seconds") or 0)
        end = float(entries[index + 1].get("seconds") or 0) if index + 1 < len(entries) else duration
        weight = entry.get("weight") or 0
        points.append("%.1f,%.1f %.1f,%.1f" % (_x(start, duration), y(weight), _x(end, duration), y(weight)))
        bands.append('<rect x="%.1f" y="%d" width="%.1f" height="8" fill="%s"><title>%s from %s s</title></rect>' % (
            _x(start, duration), bottom + 4, max(_x(end, duration) - _x(start, duration), 1),
            PHASE_COLOURS.get(entry.get("phase"), "#999999"), html.escape(str(entry.get("phase"))), _number(start)))
    if points:
        parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="3" class="weight"/>' % (
            " ".join(points), WEIGHT_COLOUR))
    parts.extend(bands)
    return parts


def _metric_panel(metric, data, top):
    duration, parts = data["duration"], []
    bottom = top + PANEL
    values = [value for _seconds, value in metric["series"] + metric["failed"]]
    bounds = [bound for bound in (metric["min"], metric["max"]) if isinstance(bound, (int, float))]
    high = max(values + bounds + [1.0]) * 1.1
    low = min(values + bounds + [0.0])

    def y(value):
        return bottom - PANEL * (value - low) / ((high - low) or 1.0)

    wanted = " ".join(filter(None, ("at least %s" % _number(metric["min"]) if metric["min"] is not None else "",
                                    "at most %s" % _number(metric["max"]) if metric["max"] is not None else "")))
    parts.append('<text x="%d" y="%d" class="title">%s%s</text>' % (
        LEFT, top - 8, html.escape(metric["name"]), html.escape(" (%s)" % wanted if wanted else "")))
    for tick in (low, (low + high) / 2, high):
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>' % (LEFT, WIDTH - RIGHT, y(tick), y(tick)))
        parts.append('<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>' % (LEFT - 6, y(tick) + 4,
                                                                                         _tick(tick)))
    for bound in bounds:
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="6 4" '
                     'class="threshold"><title>threshold %s</title></line>' % (
                         LEFT, WIDTH - RIGHT, y(bound), y(bound), THRESHOLD_COLOUR, _number(bound)))
    if metric["series"]:
        parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2" class="series"/>' % (
            " ".join("%.1f,%.1f" % (_x(seconds, duration), y(value)) for seconds, value in metric["series"]),
            SERIES_COLOUR))
    for seconds, value in metric["failed"]:
        parts.append('<circle cx="%.1f" cy="%.1f" r="5" fill="%s" class="failed-check"><title>check failed at %s s: %s'
                     '</title></circle>' % (_x(seconds, duration), y(value), FAILED_COLOUR, _number(seconds),
                                            _number(value)))
    if not metric["series"] and not metric["failed"]:
        parts.append('<text x="%d" y="%d" class="note">no values recorded: no check failed, and Prometheus gave no '
                     'series (prometheus_url unset, or a built-in metric)</text>' % (LEFT + 10, top + PANEL / 2))
    return parts


def chart(data):
    """The SVG: the weight panel, a panel per metric, the release's marks (pushed, applied, verdict)."""
    panels = 1 + len(data["metrics"])
    height = TOP + panels * (PANEL + GAP + 12) + 40
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
             'aria-label="traffic weight and metrics of the release">' % (WIDTH, height, WIDTH, height),
             '<rect width="100%" height="100%" fill="#ffffff"/>']
    legend = [("line", WEIGHT_COLOUR, "traffic weight"), ("dash", THRESHOLD_COLOUR, "threshold"),
              ("line", SERIES_COLOUR, "metric (Prometheus)"), ("dot", FAILED_COLOUR, "failed check (Flagger)")]
    x = LEFT
    for kind, colour, label in legend:
        if kind == "dot":
            parts.append('<circle cx="%d" cy="14" r="5" fill="%s"/>' % (x + 10, colour))
        else:
            parts.append('<line x1="%d" x2="%d" y1="14" y2="14" stroke="%s" stroke-width="3"%s/>' % (
                x, x + 20, colour, ' stroke-dasharray="6 4"' if kind == "dash" else ""))
        parts.append('<text x="%d" y="18" class="tick">%s</text>' % (x + 26, html.escape(label)))
        x += 40 + 7 * len(label)
    top = TOP
    parts += _weight_panel(data, top)
    for metric in data["metrics"]:
        top += PANEL + GAP + 12
        parts += _metric_panel(metric, data, top)
    axis = top + PANEL + 30
    for index, (seconds, label) in enumerate(data["marks"]):
        x = _x(seconds, data["duration"])
        row = axis + 14 * (index % 2)  # marks close together (pushed, applied) on two rows
        parts.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="mark"/>' % (x, x, TOP, row - 12))
        parts.append('<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s %s s</text>' % (
            x, row, html.escape(label), _number(seconds)))
    parts.append("</svg>")
    return "\n".join(parts)


# --- the page ------------------------------------------------------------------------------------
STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } .promoted { color: #2e7d32; } .failed, .error { color: #c62828; }
table { border-collapse: collapse; margin: 8px 0 20px; } td, th { border: 1px solid #ddd; padding: 4px 8px;
font-size: 13px; text-align: left; vertical-align: top; } code { font-size: 12px; }
svg .grid { stroke: #eee; } svg .tick { font-size: 11px; fill: #555; } svg .title { font-size: 13px; fill: #222; }
svg .mark { stroke: #999; stroke-dasharray: 2 3; } svg .note { font-size: 12px; fill: #888; }
"""


def _rows(pairs):
    return "".join("<tr><th>%s</th><td>%s</td></tr>" % (html.escape(key), value) for key, value in pairs)


def render(data):
    verdict = data["verdict"]
    summary = [("verdict", '<b class="%s">%s</b>' % (html.escape(verdict), html.escape(verdict))),
               ("started", html.escape(data["started"])), ("duration", "%s s" % _number(data["duration"]))]
    if data["reason"]:
        summary.append(("reason", html.escape(data["reason"])))
    if data["revision"]:
        summary.append(("revision", "<code>%s</code>" % html.escape(str(data["revision"]))))
    if data["commit"]:
        summary.append(("commit", "<code>%s</code>" % html.escape(str(data["commit"]))))
    if data["revert_commit"]:
        summary.append(("reverted by", "<code>%s</code>" % html.escape(str(data["revert_commit"]))))
    for name, seconds in sorted(data["timings"].items()):
        summary.append(("time: %s" % name.replace("_", " "), "%s s" % _number(float(seconds))))
    gates = "".join("<tr><td>%s</td><td>%s</td></tr>" % (html.escape(str(name)), html.escape(str(state)))
                    for name, state in sorted(data["gates"].items())) if isinstance(data["gates"], dict) else ""
    events = "".join("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
        "" if event.get("seconds") is None else "%s s" % _number(event["seconds"]), html.escape(str(event.get("type"))),
        html.escape(str(event.get("reason"))), html.escape(str(event.get("message")))) for event in data["events"])
    steps = "".join("<tr><td>%s s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
        _number(float(entry.get("seconds") or 0)), html.escape(str(entry.get("phase"))), entry.get("weight"),
        entry.get("failed_checks")) for entry in data["timeline"])
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Release %(key)s: %(verdict)s</title>
<style>%(style)s</style></head>
<body>
<h1>Release %(key)s: <span class="%(verdict)s">%(verdict)s</span></h1>
<table>%(summary)s</table>
%(chart)s
<h2>Steps</h2>
<table><tr><th>at</th><th>phase</th><th>weight</th><th>failed checks</th></tr>%(steps)s</table>
%(gates)s
<h2>Flagger's events</h2>
<table><tr><th>at</th><th>type</th><th>reason</th><th>message</th></tr>%(events)s</table>
<p>Written by gitops.progressive.</p>
</body></html>
""" % dict(key=html.escape(data["key"]), verdict=html.escape(verdict), style=STYLE, summary=_rows(summary),
           chart=chart(data), steps=steps, events=events,
           gates="<h2>Gates</h2><table>%s</table>" % gates if gates else "")


def release_report(release, path, result, warn, now=None):
    """Write the report of ``release`` (a pipeline Release after its run) with its ``result`` to
    ``path``; the path written. The Canary is read again for its thresholds, and Prometheus for
    the metrics' series when the release has ``prometheus_url``."""
    import time
    from datetime import datetime, timezone

    # On the API server's clock (events carry its times), as far as the release's client saw it.
    offset = getattr(getattr(release, "kube", None), "clock_offset", 0.0) or 0.0
    ended_at = (time.time() + float(offset)) if now is None else now
    ended = datetime.fromtimestamp(ended_at, timezone.utc).replace(tzinfo=None)
    args = release.args
    canary = release.backend.get(args["namespace"], args["name"])
    started_at = ended_at - float(result.get("duration") or 0)
    series = {name: [(moment - started_at, value) for moment, value in points]
              for name, points in release.backend.metric_series(canary, started_at, ended_at, warn).items()}
    return write(path, render(report_data(result, canary, ended, series)))


def write(path, page):
    """``page`` to ``path`` whole or not at all (a temporary file beside it, then renamed)."""
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return os.path.abspath(path)
