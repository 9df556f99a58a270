"""Canaries checked with no cluster (flagger/lint.py, the canary_problems filter and the
canary_lint module): files read, each problem named with its file, document and field."""

import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import lint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def canary(**analysis):
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "demo"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                     "service": {"port": 9898},
                     "analysis": dict({"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10,
                                       "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99},
                                                    "interval": "1m"}]}, **analysis)}}


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "demo"}}


def write(path, *documents):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def run_lint(paths, **options):
    files = lint.yaml_files(paths)
    sources, unreadable = lint.read_sources(files)
    findings, checked = lint.lint_documents(sources, **options)
    return unreadable + findings, checked


def test_a_valid_canary_among_other_objects_has_no_problem(tmp_path):
    write(tmp_path / "apps" / "podinfo.yaml", DEPLOYMENT, canary())
    (tmp_path / "apps" / "README.md").write_text("not yaml")
    assert run_lint([str(tmp_path / "apps")]) == ([], 1)


def test_each_problem_names_the_file_the_document_and_the_field(tmp_path):
    bad = canary(intervall="1m", interval="5s")
    path = write(tmp_path / "apps" / "podinfo.yaml", DEPLOYMENT, bad)
    problems, checked = run_lint([str(tmp_path)])
    assert checked == 1 and len(problems) == 1
    found = problems[0]
    assert found["file"] == path and found["document"] == 1 and found["canary"] == "demo/podinfo"
    text = " ".join(found["problems"])
    assert "spec.analysis.intervall" in text and "spec.analysis.interval" in text and "10s" in text, text


def test_a_canary_without_namespace_is_checked_in_the_default_one_and_a_list_kind_is_read(tmp_path):
    plain = canary()
    del plain["metadata"]["namespace"]
    write(tmp_path / "list.yaml", {"apiVersion": "v1", "kind": "List", "items": [plain]})
    assert run_lint([str(tmp_path)], default_namespace="staging") == ([], 1)


def test_a_file_yaml_cannot_read_is_a_problem_and_a_missing_path_an_error(tmp_path):
    (tmp_path / "broken.yaml").write_text("kind: Canary\n  bad: [\n")
    problems, _checked = run_lint([str(tmp_path)])
    assert problems[0]["file"].endswith("broken.yaml") and "YAML cannot read it" in problems[0]["problems"][0]
    with pytest.raises(lint.LintError, match="neither a file nor a directory"):
        lint.yaml_files([str(tmp_path / "nowhere")])


def test_references_are_checked_among_the_files_when_asked(tmp_path):
    templated = canary(metrics=[{"name": "errors", "templateRef": {"name": "error-rate"}, "thresholdRange": {"max": 1},
                                 "interval": "1m"}])
    write(tmp_path / "a.yaml", templated)
    assert run_lint([str(tmp_path)]) == ([], 1)
    problems, _checked = run_lint([str(tmp_path)], check_references=True)
    text = " ".join(problems[0]["problems"])
    assert "MetricTemplate demo/error-rate not found" in text and "Deployment demo/podinfo not found" in text
    template = {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
                "metadata": {"name": "error-rate", "namespace": "demo"}}
    write(tmp_path / "b.yaml", DEPLOYMENT, template)
    assert run_lint([str(tmp_path)], check_references=True) == ([], 1)


def test_the_filter_returns_one_string_per_problem():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.gitops.progressive.plugins.filter.canary_problems import FilterModule

    problems = FilterModule().filters()["canary_problems"]
    assert problems([DEPLOYMENT, canary()]) == []
    found = problems(canary(threshold="five"))
    assert found and all(item.startswith("demo/podinfo spec.analysis.threshold") for item in found), found
    with pytest.raises(AnsibleFilterError, match="not text"):
        problems("kind: Canary")


def test_the_module_fails_listing_the_problems_and_reports_them_when_asked_not_to_fail(tmp_path):
    write(tmp_path / "apps" / "podinfo.yaml", canary(stepWeight=0))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"gitops.progressive.canary_lint": {"paths": [str(tmp_path / "apps")]}, "ignore_errors": True,
         "register": "failing"},
        {"gitops.progressive.canary_lint": {"paths": [str(tmp_path / "apps")], "fail_on_problems": False},
         "register": "reported"},
        {"ansible.builtin.assert": {"that": [
            "failing is failed", "'podinfo.yaml demo/podinfo' in failing.msg", "'spec.analysis.stepWeight' in failing.msg",
            "reported is not failed", "reported.canaries == 1", "reported.problems | length == 1",
            "reported is not changed"]}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % sys.executable, str(path)], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_untrusted_files_are_bounded_aliases_links_and_size_refused_without_reading_them_whole(tmp_path):
    (tmp_path / "bomb.yaml").write_text("a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n")
    (tmp_path / "big.yaml").write_text("x: " + "y" * (lint.MOST_BYTES + 1) + "\n")
    os.symlink("/etc/hostname", str(tmp_path / "link.yaml"))
    write(tmp_path / "ok.yaml", canary())
    problems, checked = run_lint([str(tmp_path)])
    said = {os.path.basename(item["file"]): item["problems"][0] for item in problems}
    assert checked == 1 and set(said) == {"bomb.yaml", "big.yaml", "link.yaml"}, said
    assert "aliases (*a) are not taken" in said["bomb.yaml"]
    assert "larger than" in said["big.yaml"] and "symbolic link" in said["link.yaml"]
