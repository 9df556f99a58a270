import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import spec


def params(**overrides):
    base = dict(name="podinfo", namespace="test", target="podinfo", target_kind="Deployment",
                service_port=9898, interval="5s", threshold=3, max_weight=50, step_weight=10)
    base.update(overrides)
    return base


def errors_of(canary, lookup=None):
    with pytest.raises(spec.CanarySpecError) as error:
        spec.validate_canary(canary, lookup)
    return error.value.errors


def test_structured_options_build_a_canary():
    canary = spec.build_canary(params(gateways=["mesh"], metrics=[
        {"name": "request-success-rate", "threshold_min": 70, "interval": "15s"}],
        gates=["confirm-promotion"], loadtester_url="http://127.0.0.1:18888/"))
    assert canary["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}
    assert canary["spec"]["service"] == {"port": 9898, "gateways": ["mesh"]}
    analysis = canary["spec"]["analysis"]
    assert (analysis["maxWeight"], analysis["stepWeight"], analysis["interval"]) == (50, 10, "5s")
    assert analysis["metrics"] == [{"name": "request-success-rate", "interval": "15s", "thresholdRange": {"min": 70}}]
    assert analysis["webhooks"] == [{"name": "gate-confirm-promotion", "type": "confirm-promotion",
                                     "url": "http://127.0.0.1:18888/gate/check"}]
    assert spec.validate_canary(canary) is canary


def test_options_are_laid_over_a_raw_definition():
    definition = {"spec": {"service": {"port": 80}, "analysis": {"interval": "1m", "iterations": 5}}}
    canary = spec.build_canary(dict(name="web", namespace="prod", target="web", definition=definition))
    assert canary["spec"]["service"]["port"] == 80
    assert spec.strategy_of(canary["spec"]["analysis"]) == "blue-green"
    assert definition == {"spec": {"service": {"port": 80}, "analysis": {"interval": "1m", "iterations": 5}}}


def test_step_weight_above_max_weight_names_the_field():
    assert "analysis.stepWeight must be <= maxWeight (60 > 50)" in errors_of(spec.build_canary(params(step_weight=60)))


def test_missing_target_names_the_field():
    errors = errors_of(spec.build_canary(params(target=None)))
    assert any(error.startswith("spec.targetRef.name is missing") for error in errors)


def test_unknown_metric_template_is_refused():
    canary = spec.build_canary(params(metrics=[{"name": "error-budget", "threshold_max": 1}]))
    assert any("analysis.metrics[0]: unknown metric template 'error-budget'" in error for error in errors_of(canary))


def test_metric_template_reference_is_checked_on_the_server():
    canary = spec.build_canary(params(metrics=[{"name": "latency", "template": "ops/latency", "threshold_max": 500}]))
    asked = []

    def lookup(namespace, name):
        asked.append((namespace, name))
        return False

    assert "analysis.metrics[0].templateRef: MetricTemplate ops/latency not found" in errors_of(canary, lookup)
    assert asked == [("ops", "latency")]
    assert spec.validate_canary(canary, lambda namespace, name: True)


def test_strategies_cannot_be_mixed():
    errors = errors_of(spec.build_canary(params(iterations=5)))
    assert any("cannot be combined" in error for error in errors)


def test_ab_testing_needs_iterations_and_a_match_on_something():
    ab = spec.build_canary(params(max_weight=None, step_weight=None, iterations=10,
                                  match=[{"headers": {"x-user": {"exact": "testuser"}}}]))
    assert spec.strategy_of(ab["spec"]["analysis"]) == "ab-testing"
    assert spec.validate_canary(ab)
    bad = spec.build_canary(params(max_weight=None, step_weight=None, iterations=10, match=[{"weight": 1}]))
    assert "analysis.match[0] must match on headers, queryParams or sourceLabels" in errors_of(bad)


def test_every_problem_is_reported_at_once():
    canary = spec.build_canary(params(service_port=0, interval="soon", threshold=0, step_weight=60))
    errors = errors_of(canary)
    assert len(errors) == 4
    with pytest.raises(spec.CanarySpecError, match="Canary test/podinfo is invalid"):
        spec.validate_canary(canary)


def test_gates_without_a_load_tester_address_are_refused():
    canary = spec.build_canary(params(gates=["confirm-rollout"]))
    assert any("analysis.webhooks[0].url must be an http(s) address" in error for error in errors_of(canary))


def test_step_weights_must_rise():
    canary = spec.build_canary(params(step_weight=None, step_weights=[50, 20]))
    assert any("analysis.stepWeights must rise" in error for error in errors_of(canary))
