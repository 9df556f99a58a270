import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import preflight


def canary(analysis=None, deadline=60, phase="Succeeded", transition=None, provider=None):
    spec = {"targetRef": {"name": "podinfo"}, "progressDeadlineSeconds": deadline,
            "analysis": analysis or {"interval": "10s", "maxWeight": 60, "stepWeight": 20,
                                     "metrics": [{"name": "request-success-rate", "interval": "15s"},
                                                 {"name": "request-duration", "interval": "1m"}]}}
    if provider:
        spec["provider"] = provider
    status = {"phase": phase}
    if transition:
        status["lastTransitionTime"] = transition.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": "podinfo", "namespace": "demo"}, "spec": spec, "status": status}


def test_the_floor_is_interval_times_steps_plus_the_progress_deadline():
    floor, why = preflight.analysis_floor(canary())
    assert floor == 10 * 3 + 60 and "3 steps" in why


def test_iterations_and_step_weights_count_as_steps():
    assert preflight.analysis_steps({"iterations": 5}) == 5
    assert preflight.analysis_steps({"stepWeights": [1, 5, 20, 50]}) == 4


def test_a_timeout_below_the_floor_is_refused_with_the_figure():
    with pytest.raises(preflight.PreflightError, match="wait_timeout 60 s is too short.*90 s.*90 or more"):
        preflight.check_timeout(canary(), 60)
    assert preflight.check_timeout(canary(), 90) == 90


def test_durations_are_read_like_go():
    assert preflight.seconds_of("1m30s") == 90 and preflight.seconds_of("500ms") == 0.5
    assert preflight.seconds_of("", 7) == 7


def test_the_metric_window_is_the_longest_metric_interval_after_a_failure():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    failed = canary(phase="Failed", transition=now - timedelta(seconds=20))
    assert preflight.metric_window_left(failed, now) == 40
    assert preflight.metric_window_left(canary(phase="Failed", transition=now - timedelta(seconds=90)), now) == 0
    assert preflight.metric_window_left(canary(phase="Succeeded", transition=now), now) == 0


class Answer(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def opener_with(results, seen):
    def opener(url, timeout):
        seen.append(url)
        return Answer(json.dumps({"status": "success", "data": {"result": results}}).encode())
    return opener


def test_metrics_with_data_pass_and_the_query_names_the_workloads():
    seen = []
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([{"value": [0, "12"]}], seen))
    assert probe.check(canary()) == ["request-success-rate", "request-duration"]
    assert "podinfo%7Cpodinfo-primary" in seen[0]


def test_a_metric_without_data_is_refused_before_the_release():
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([], []))
    with pytest.raises(preflight.PreflightError, match="request-success-rate returns no data for podinfo-primary"):
        probe.check(canary())


def test_prometheus_down_is_a_clear_error():
    def opener(url, timeout):
        raise OSError("connection refused")
    with pytest.raises(preflight.PreflightError, match="does not answer"):
        preflight.MetricProbe("http://127.0.0.1:9", opener=opener).check(canary())


def test_metric_templates_are_rendered_for_the_primary():
    query = preflight.render_template_query('sum(x{ns="{{ namespace }}",w="{{ target }}"}[{{ interval }}])',
                                            "demo", "podinfo-primary", "1m")
    assert query == 'sum(x{ns="demo",w="podinfo-primary"}[1m])'
