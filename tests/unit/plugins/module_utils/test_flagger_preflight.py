import io
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import model, preflight


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


def test_the_metric_window_is_the_longest_metric_interval_after_a_failure():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    failed = canary(phase="Failed", transition=now - timedelta(seconds=20))
    assert preflight.metric_window_left(failed, now) == 40
    assert preflight.metric_window_left(canary(phase="Failed", transition=now - timedelta(seconds=90)), now) == 0
    assert preflight.metric_window_left(canary(phase="Succeeded", transition=now), now) == 0
    assert preflight.longest_metric_interval(failed) == 60


@pytest.mark.parametrize("skew", [timedelta(hours=1), timedelta(hours=-1)], ids=["server ahead", "server behind"])
def test_the_metric_window_is_measured_on_the_servers_clock(skew):
    """The failure was 20 s ago by the API server's clock, which is an hour off this machine's."""
    server_now = datetime.now(timezone.utc) + skew
    failed = canary(phase="Failed", transition=server_now - timedelta(seconds=20))
    assert preflight.metric_window_left(failed, server_now) == pytest.approx(40, abs=1)


@pytest.mark.parametrize("skew", [timedelta(hours=1), timedelta(hours=-1)], ids=["server ahead", "server behind"])
def test_the_metric_window_never_exceeds_the_window_whatever_clock_is_given(skew):
    """This machine's clock against a skewed server: at most the window (never an hour), never negative."""
    server_now = datetime.now(timezone.utc) + skew
    failed = canary(phase="Failed", transition=server_now - timedelta(seconds=20))
    left = preflight.metric_window_left(failed, datetime.now(timezone.utc))
    assert 0 <= left <= preflight.longest_metric_interval(failed) == 60


def test_an_unknown_server_time_leaves_the_whole_window_and_no_more():
    ahead = datetime.now(timezone.utc) + timedelta(hours=1)
    assert preflight.metric_window_left(canary(phase="Failed", transition=ahead)) == 60
    assert preflight.metric_window_left(canary(phase="Succeeded", transition=ahead)) == 0


def test_the_servers_time_must_carry_its_zone():
    failed = canary(phase="Failed", transition=datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="timezone-aware"):
        preflight.metric_window_left(failed, datetime(2026, 1, 1))


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


def web_canary():
    """A canary named apart from its target, with its own service and ingress names."""
    spec = {"targetRef": {"name": "podinfo"}, "service": {"port": 80, "name": "frontend"},
            "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "public"},
            "analysis": {"interval": "10s", "stepWeight": 20, "metrics": [
                {"name": "errors", "interval": "30s", "templateRef": {"name": "nginx-errors", "namespace": "ops"},
                 "templateVariables": {"code": "5.."}, "thresholdRange": {"max": 1}}]}}
    return {"metadata": {"name": "web", "namespace": "demo"}, "spec": spec}


EVERY_VARIABLE = ("{{ name }}|{{ namespace }}|{{ target }}|{{ service }}|{{ ingress }}|{{ route }}|{{ interval }}|"
                  "{{ variables.code }}")


def test_every_flagger_template_variable_is_rendered_as_flagger_renders_it():
    """scheduler_metrics.go toMetricModel: name is the canary's, service/ingress/route fall back to the target."""
    flaggers = model.metric_template_model(web_canary(), "30s", {"code": "5.."})
    assert preflight.render_template_query(EVERY_VARIABLE, flaggers) == "web|demo|podinfo|frontend|public|podinfo|30s|5.."


def test_go_template_trim_markers_and_comments_are_honoured():
    flaggers = model.metric_template_model(web_canary(), "1m")
    assert preflight.render_template_query('x{a="  {{- target -}}  "}{{/* note */}}[{{interval}}]', flaggers) == \
        'x{a="podinfo"}[1m]'


def test_what_flagger_cannot_render_is_refused_and_what_it_can_but_we_cannot_is_not_guessed():
    flaggers = model.metric_template_model(web_canary(), "1m", {"code": "5.."})
    with pytest.raises(preflight.TemplateError, match="templateVariables has no region"):
        preflight.render_template_query('x{r="{{ variables.region }}"}', flaggers)
    with pytest.raises(preflight.TemplateError, match="not one of Flagger's template functions"):
        preflight.render_template_query('x{w="{{ workload }}"}', flaggers)
    with pytest.raises(preflight.UnsupportedTemplate):
        preflight.render_template_query('x{w="{{ printf "%s-x" target }}"}', flaggers)


TEMPLATES = {("ops", "nginx-errors"): {"spec": {"provider": {"type": "prometheus"},
                                                "query": 'sum(rate(nginx_requests{ingress="{{ ingress }}",'
                                                         'svc="{{ service }}",canary="{{ name }}",'
                                                         'w="{{ target }}",status=~"{{ variables.code }}"}'
                                                         '[{{ interval }}]))'}}}


def test_a_metric_template_is_probed_with_flaggers_values_and_the_primary_as_target():
    seen = []
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([{"value": [0, "1"]}], seen))
    assert probe.check(web_canary(), templates=TEMPLATES) == ["errors"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(seen[0]).query)["query"][0]
    assert query == ('sum(rate(nginx_requests{ingress="public",svc="frontend",canary="web",w="podinfo-primary",'
                     'status=~"5.."}[30s]))')


def test_a_template_of_the_canarys_own_series_is_probed_on_the_primarys():
    """Traefik names a backend's series after its Service: the primary's, not a '<primary>-canary'."""
    seen = []
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([{"value": [0, "100"]}], seen))
    templates = {("demo", "traefik-rate"): {"spec": {"provider": {"type": "prometheus"}, "query": (
        'sum(rate(traefik_service_requests_total{service=~"{{ namespace }}-{{target}}-canary-http-[0-9]+'
        '@kubernetesgateway"}[{{ interval }}]))')}}}
    web = web_canary()
    web["spec"]["analysis"]["metrics"] = [{"name": "rate", "interval": "20s", "templateRef": {"name": "traefik-rate"},
                                           "thresholdRange": {"min": 99}}]
    assert probe.check(web, templates=templates) == ["rate"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(seen[0]).query)["query"][0]
    assert query == ('sum(rate(traefik_service_requests_total{service=~"demo-podinfo-primary-http-[0-9]+'
                     '@kubernetesgateway"}[20s]))')


def test_a_template_with_its_own_credentials_or_beyond_flaggers_variables_is_not_probed():
    seen = []
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([], seen))
    with_secret = {key: {"spec": dict(value["spec"], provider={"type": "prometheus", "secretRef": {"name": "p"}})}
                   for key, value in TEMPLATES.items()}
    assert probe.check(web_canary(), templates=with_secret) == [] and seen == []
    piped = {key: {"spec": dict(value["spec"], query='sum(x{w="{{ target | printf "%s" }}"})')}
             for key, value in TEMPLATES.items()}
    assert probe.check(web_canary(), templates=piped) == [] and seen == []


def test_a_template_flagger_cannot_render_refuses_the_release_naming_it():
    broken = {key: {"spec": dict(value["spec"], query='x{r="{{ variables.region }}"}')}
              for key, value in TEMPLATES.items()}
    probe = preflight.MetricProbe("http://127.0.0.1:9090", opener=opener_with([{"value": [0, "1"]}], []))
    with pytest.raises(preflight.TemplateError, match="canary demo/web: metric errors: MetricTemplate ops/nginx-errors "
                                                      "cannot be rendered: .*region"):
        probe.check(web_canary(), templates=broken)


@pytest.mark.parametrize("failure", ["down", "refused", "no data"])
def test_credentials_in_a_prometheus_address_never_reach_a_message(failure):
    url = "https://ops:s3cr3t-token@prometheus.example.com"

    def opener(address, timeout):
        if failure == "down":
            raise OSError("connection refused by %s" % address)
        body = {"status": "error", "error": "bad query"} if failure == "refused" else \
            {"status": "success", "data": {"result": []}}
        return Answer(json.dumps(body).encode())

    with pytest.raises(preflight.PreflightError) as raised:
        preflight.MetricProbe(url, opener=opener).check(canary())
    assert "s3cr3t-token" not in str(raised.value) and "ops:" not in str(raised.value)
    if failure != "no data":
        assert "https://***@prometheus.example.com" in str(raised.value)


def test_credentials_in_a_metric_templates_address_never_reach_a_message():
    address = "http://admin:hunter2@prom.ops:9090"
    templates = {key: {"spec": dict(value["spec"], provider={"type": "prometheus", "address": address})}
                 for key, value in TEMPLATES.items()}

    def opener(url, timeout):
        raise OSError("cannot reach %s" % url)

    with pytest.raises(preflight.PreflightError) as raised:
        preflight.MetricProbe("http://127.0.0.1:9090", opener=opener).check(web_canary(), templates=templates)
    assert "hunter2" not in str(raised.value) and "http://***@prom.ops:9090" in str(raised.value)


def test_a_range_query_gives_the_first_series_without_nan_and_errors_name_the_address():
    seen = []
    series = [{"values": [[100, "1.5"], [110, "NaN"], [120, "+Inf"], [130, "2"]]}, {"values": [[100, "9"]]}]
    probe = preflight.MetricProbe("http://u:secret@127.0.0.1:9090", opener=opener_with(series, seen))
    assert probe.query_range("up", 100, 130, 10) == [(100.0, 1.5), (130.0, 2.0)]
    assert "/api/v1/query_range?" in seen[0] and "step=10" in seen[0] and "start=100.000" in seen[0]

    def refusing(url, timeout):
        return Answer(json.dumps({"status": "error", "error": "parse error"}).encode())
    with pytest.raises(preflight.PreflightError) as error:
        preflight.MetricProbe("http://u:secret@127.0.0.1:9090", opener=refusing).query_range("up(", 0, 1, 1)
    assert "refused the query up(: parse error" in str(error.value) and "secret" not in str(error.value)
