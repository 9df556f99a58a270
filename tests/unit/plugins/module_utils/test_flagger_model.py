import ast
import inspect
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import model, preflight, spec
from ansible_collections.gitops.progressive.plugins.module_utils.vault import config as vault_config
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import VaultError


# -- one Go duration parser -------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("10s", 10), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("1.5h", 5400), ("1.5m", 90),
    ("10ms", 0.01), ("2h45m", 9900), ("0", 0), ("+0", 0), ("-0", 0), ("-5s", -5), ("+5s", 5), (".5s", 0.5),
    ("1.s", 1), ("1us", 1e-6), ("1\u00b5s", 1e-6), ("1\u03bcs", 1e-6), ("100ns", 1e-7), ("1h0m0s", 3600),
    ("2562047h", 2562047 * 3600),
])
def test_durations_are_read_as_gos_parse_duration_reads_them(text, seconds):
    assert model.go_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,words", [
    ("90", "missing unit"), ("1", "missing unit"), ("00", "missing unit"), ("1m30", "missing unit"),
    ("", "empty"), ("-", "empty"), ("m", "a number must come before"), (".s", "a number must come before"),
    ("1d", "unknown unit 'd'"), ("5mx", "unknown unit 'mx'"), ("1h 30m", "unknown unit 'h '"),
    ("3000000h", "292 years"), (90, "must be a string"), (None, "must be a string"),
])
def test_what_go_refuses_raises_a_value_error_that_says_why(text, words):
    with pytest.raises(model.DurationError, match=words) as raised:
        model.go_duration_seconds(text)
    assert isinstance(raised.value, ValueError)


def test_a_bare_number_is_refused_with_what_to_write():
    """Flagger parses its durations with time.ParseDuration, where "90" is an error, not 90 s."""
    with pytest.raises(model.DurationError, match=r"invalid duration '90': missing unit.*write for example 90s"):
        model.go_duration_seconds("90")


def _defines_a_duration_regex(module):
    source = inspect.getsource(module)
    return any(isinstance(node, ast.Constant) and isinstance(node.value, str) and "ms|s|m|h" in node.value
               for node in ast.walk(ast.parse(source)))


def test_there_is_one_go_duration_parser():
    assert spec.go_duration_seconds is model.go_duration_seconds
    assert not hasattr(preflight, "seconds_of")
    for module in (preflight, spec, vault_config):
        assert not _defines_a_duration_regex(module), module.__name__


@pytest.mark.parametrize("value,expected", [
    (30, 30), ("30", 30), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), ("7d", 604800), ("1500ms", 1),
])
def test_vault_reads_its_own_grammar_on_the_one_parser(value, expected):
    assert vault_config.seconds(value) == expected


@pytest.mark.parametrize("value", ["1d12h", "1.5d", "1h 30m", "90x"])
def test_vault_refuses_what_vault_refuses(value):
    """parseutil.ParseDurationSecond: whole days only, else time.ParseDuration (which has no d)."""
    with pytest.raises(VaultError, match="max_ttl must be a duration"):
        vault_config.seconds(value, "max_ttl")


# -- the analysis --------------------------------------------------------------------------------

def canary(analysis=None, **spec_fields):
    spec_ = {"targetRef": {"name": "podinfo"}, "analysis": analysis if analysis is not None else {}}
    spec_.update(spec_fields)
    return {"metadata": {"name": "web", "namespace": "demo"}, "spec": spec_}


@pytest.mark.parametrize("interval,seconds", [
    (None, 60), ("", 60), ("30s", 30), ("1m30s", 90), ("5s", 10), ("10ms", 10), ("1h", 3600), ("soon", 60),
    ("90", 60), (90, 60),
])
def test_the_analysis_interval_is_what_flagger_runs(interval, seconds):
    """GetAnalysisInterval: unset or unparseable is 60 s, anything under 10 s is 10 s."""
    assert model.analysis_interval(canary({"interval": interval})) == seconds


@pytest.mark.parametrize("analysis,provider,steps", [
    ({"iterations": 5}, None, 5),
    ({"stepWeights": [1, 5, 20, 50]}, None, 4),
    ({"stepWeight": 20, "maxWeight": 60}, None, 3),
    ({"stepWeight": 15}, None, 7),
    ({"stepWeight": 20, "maxWeight": 60, "mirror": True}, None, 4),
    ({"stepWeight": 20, "maxWeight": 60}, "kubernetes", 10),
    ({"iterations": 3}, "kubernetes", 3),
    ({}, None, 1),
    ({"stepWeight": "x", "iterations": None}, None, 1),
])
def test_steps_count_iterations_or_weight_steps(analysis, provider, steps):
    assert model.analysis_steps(analysis, provider) == steps


def test_the_need_is_the_analysis_and_the_worst_case_adds_the_progress_deadline():
    weights = {"interval": "10s", "stepWeight": 20, "maxWeight": 60}
    assert model.analysis_need(canary(weights)) == (30, 30 + 600)
    assert model.analysis_need(canary(weights, progressDeadlineSeconds=60)) == (30, 90)
    assert model.analysis_need(canary({"interval": "1m", "iterations": 10})) == (600, 1200)
    assert model.analysis_need(canary({"interval": "1m", "stepWeight": 10}, provider="kubernetes")) == (600, 1200)


def test_the_template_model_is_flaggers():
    """scheduler_metrics.go toMetricModel: the canary's name, the target, and the apex names."""
    web = canary(service={"port": 80, "name": "frontend"}, ingressRef={"name": "public"})
    assert model.metric_template_model(web, "1m", {"a": "b"}) == {
        "name": "web", "namespace": "demo", "target": "podinfo", "service": "frontend", "ingress": "public",
        "route": "podinfo", "interval": "1m", "variables": {"a": "b"}}
    bare = model.metric_template_model(canary(), None)
    assert (bare["service"], bare["ingress"], bare["route"], bare["interval"], bare["variables"]) == (
        "podinfo", "podinfo", "podinfo", "", {})
    assert model.metric_template_model(canary(routeRef={"name": "edge"}), "1m")["route"] == "edge"


def test_strategy_is_named_from_the_analysis():
    assert model.strategy_of({"iterations": 5, "match": [{}]}) == "ab-testing"
    assert model.strategy_of({"iterations": 5}) == "blue-green"
    assert model.strategy_of({"stepWeights": [5]}) == "canary"
    assert model.strategy_of(None) is None
    assert spec.strategy_of is model.strategy_of


# -- small shared facts --------------------------------------------------------------------------

def test_kubernetes_timestamps_are_read_with_their_zone():
    assert model.kube_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert model.kube_time("2026-01-01T00:00:00.5Z") == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)
    assert model.kube_time("2026-01-01T01:00:00+01:00") == datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        model.kube_time("2026-01-01T00:00:00")
    with pytest.raises(ValueError):
        model.kube_time("yesterday")


def test_credentials_are_taken_out_of_addresses_and_messages():
    url = "https://ops:s3cr3t@prometheus.example.com:9090"
    assert model.redact(url) == "https://***@prometheus.example.com:9090"
    assert model.redact("http://lt.test/") == "http://lt.test/"
    text = model.redact_text("GET %s/api/v1/query failed: bad auth for ops:s3cr3t (s3cr3t)" % url, url)
    assert "s3cr3t" not in text and "ops:" not in text
    assert "https://***@prometheus.example.com:9090/api/v1/query" in text
    assert model.redact_text("no address here", "http://lt.test") == "no address here"


def test_the_window_arithmetic_is_timezone_aware():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert (now - model.kube_time("2025-12-31T23:59:40Z")) == timedelta(seconds=20)
