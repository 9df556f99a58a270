"""The release report (release/report.py): one HTML file with an inline SVG chart of the weight
and of each metric against its threshold, the commits, the steps and Flagger's events, every
text escaped; and where it may be written (release/args.py report_path_problems)."""

from datetime import datetime

from ansible_collections.gitops.progressive.plugins.module_utils.release import report
from ansible_collections.gitops.progressive.plugins.module_utils.release.args import report_path_problems

ENDED = datetime(2026, 12, 7, 12, 1, 40)  # the release ran 100 s, from 12:00:00
CANARY = {"metadata": {"name": "podinfo", "namespace": "seed"},
          "spec": {"analysis": {"metrics": [{"name": "podinfo-traefik-request-success-rate",
                                             "thresholdRange": {"min": 99}, "interval": "20s"},
                                            {"name": "request-duration", "thresholdRange": {"max": 500}}]}}}
FAILED = dict(
    verdict="failed", duration=100.0, reason="Canary failed! Rolled back: <script>alert(1)</script>",
    commit="a" * 40, revert_commit="b" * 40, timings=dict(preflight_and_git=0.5, flux=4.5, analysis=95.0),
    timeline=[dict(seconds=5, phase="Progressing", weight=0, failed_checks=0),
              dict(seconds=20, phase="Progressing", weight=25, failed_checks=1),
              dict(seconds=40, phase="Progressing", weight=25, failed_checks=3),
              dict(seconds=60, phase="Failed", weight=0, failed_checks=3)],
    events=[dict(time="2026-12-07T12:00:20Z", type="Warning", reason="Synced",
                 message="Halt podinfo.seed advancement podinfo-traefik-request-success-rate 50.50 < 99"),
            dict(time="2026-12-07T12:00:40Z", type="Warning", reason="Synced",
                 message="Halt podinfo.seed advancement podinfo-traefik-request-success-rate 48.00 < 99"),
            dict(time="2026-12-07T12:01:00Z", type="Warning", reason="Synced",
                 message="Rolling back podinfo.seed failed checks threshold reached 3")])


def test_a_failed_release_shows_the_weight_the_failed_checks_against_the_threshold_and_the_commits():
    data = report.report_data(FAILED, CANARY, ENDED)
    success = data["metrics"][0]
    assert success["failed"] == [(20.0, 50.5), (40.0, 48.0)] and success["min"] == 99
    page = report.render(data)
    assert page.startswith("<!DOCTYPE html>") and "<script>" not in page and "&lt;script&gt;" in page
    assert 'class="weight"' in page and page.count('class="failed-check"') == 2 and 'class="threshold"' in page
    assert "Release seed/podinfo: <span class=\"failed\">failed</span>" in page
    assert "a" * 40 in page and "reverted by" in page and "b" * 40 in page
    # The marks: pushed at 0.5 s, applied at 5 s, the verdict at 100 s.
    assert "pushed 0.5 s" in page and "applied 5 s" in page and "failed 100 s" in page
    # A metric with neither series nor failed checks says why it has no line.
    assert "no values recorded" in page


def test_prometheus_series_are_drawn_and_a_promoted_release_needs_no_events():
    promoted = dict(verdict="promoted", duration=60.0, timeline=[dict(seconds=0, phase="Progressing", weight=50)])
    data = report.report_data(promoted, CANARY, ENDED, series={"request-duration": [(0, 120.0), (30, 180.0)]})
    page = report.render(data)
    assert 'class="series"' in page and "no values recorded" in page  # the success rate had none
    assert '<b class="promoted">promoted</b>' in page


def test_the_report_is_written_whole(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("old")
    written = report.write(str(path), "<html>new</html>")
    assert written == str(path) and path.read_text() == "<html>new</html>"
    assert [entry.name for entry in tmp_path.iterdir()] == ["report.html"]


def test_where_a_report_may_be_written(tmp_path):
    assert report_path_problems(None) == [] and report_path_problems(str(tmp_path / "r.html")) == []
    assert "is a directory" in report_path_problems(str(tmp_path))[0]
    assert "does not exist" in report_path_problems(str(tmp_path / "nowhere" / "r.html"))[0]
    assert "on one line" in report_path_problems("r\n.html")[0]


def test_flaggers_words_for_its_built_in_metrics_are_read_too():
    started = datetime(2026, 12, 7, 12, 0, 0)
    events = [dict(time="2026-12-07T12:00:10Z", message="Halt podinfo.weighted advancement success rate 25.00% < 70%"),
              dict(time="2026-12-07T12:00:20Z", message="Halt podinfo.weighted advancement request duration 1.5s > 500ms"),
              dict(time="2026-12-07T12:00:30Z", message="Halt podinfo.weighted advancement error-rate 3.50 > 1"),
              dict(time="2026-12-07T12:00:40Z", message="Halt advancement no values found for istio metric")]
    assert report.event_values(events, started) == {"request-success-rate": [(10.0, 25.0)],
                                                    "request-duration": [(20.0, 1500.0)],
                                                    "error-rate": [(30.0, 3.5)]}


def test_an_earlier_releases_events_are_not_this_ones():
    """The API server keeps an hour of events: a failed check of the release before (and anything
    before this release's "New revision detected") is not drawn or listed."""
    earlier = [dict(time="2026-12-07T11:50:00Z", type="Normal", reason="Synced",
                    message="New revision detected! Scaling up podinfo.seed"),
               dict(time="2026-12-07T11:50:30Z", type="Warning", reason="Synced",
                    message="Halt podinfo.seed advancement podinfo-traefik-request-success-rate 10.00 < 99")]
    this = [dict(time="2026-12-07T12:00:05Z", type="Normal", reason="Synced",
                 message="New revision detected! Scaling up podinfo.seed"),
            dict(time="2026-12-07T12:00:40Z", type="Normal", reason="Synced", message="Advance podinfo.seed canary weight 25")]
    data = report.report_data(dict(verdict="promoted", duration=100.0, events=earlier + this), CANARY, ENDED)
    assert [event["message"] for event in data["events"]] == [event["message"] for event in this]
    assert data["metrics"][0]["failed"] == []
