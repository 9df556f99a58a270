"""The release tasks' checks before any request (release/args.py, git_change.check_git_request):
the label selector's grammar, hidden characters, trailing line breaks and sizes."""

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.release import args as release_args
from ansible_collections.gitops.progressive.plugins.module_utils.release.git_change import check_git_request

IMAGE = "ghcr.io/stefanprodan/podinfo"


def problems_of(check, **given):
    inputs = Inputs("test")
    check(inputs, given)
    return inputs.problems


def rollout_problems(**given):
    return problems_of(release_args.check_request, **dict(dict(name="podinfo", namespace="test"), **given))


def release_problems(**given):
    options = dict(name="podinfo", namespace="test", repo_url="https://git.example/platform.git", branch="main",
                   path="apps/staging", images={IMAGE: "6.7.1"}, kustomization="apps",
                   kustomization_namespace="flux-system", flux_timeout=120)
    options.update(given)
    return problems_of(check_git_request, **options)


@pytest.mark.parametrize("selector,said", [
    ("app=*", "'*' is not a label value"),
    ("app in (", "write key, !key"),
    ("=podinfo", "write key, !key"),
    ("Team/app=x", "is not a label key"),
    ("app=x,", "write key, !key"),
])
def test_a_label_selector_is_checked_with_kubernetes_grammar(selector, said):
    problems = rollout_problems(name=None, label_selector=selector)
    assert len(problems) == 1 and problems[0].startswith("label_selector is not a label selector") and \
        said in problems[0], problems


@pytest.mark.parametrize("selector", ["app=podinfo", "app in (web, api),!legacy", "tier!=db,example.com/team=x"])
def test_a_label_selector_kubernetes_takes_passes(selector):
    assert rollout_problems(name=None, label_selector=selector) == []


@pytest.mark.parametrize("text,shown", [
    ("Jane \u202eeoD", "U+202E"), ("Jane\u200bDoe", "U+200B"), ("Jane\x1b[31m", "U+001B"), ("Jane\n", "U+000A"),
])
def test_plain_text_names_each_hidden_character(text, shown):
    problems = release_args.plain_text_problems("requested_by", text)
    assert len(problems) == 1 and "(%s)" % shown in problems[0]
    assert release_args.plain_text_problems("requested_by", "José Müller (AWX job 42)") == []


@pytest.mark.parametrize("given,option", [
    (dict(namespace="test\n"), "namespace"),
    (dict(images={"podinfo": "%s:6.7.1\n" % IMAGE}), "images[podinfo]"),
    (dict(images={}, annotations={"example.com/x\n": "1"}), "annotations"),
    (dict(images={}, env={"A\n": "1"}), "env"),
])
def test_a_trailing_line_break_is_refused(given, option):
    problems = rollout_problems(**given)
    assert len(problems) == 1 and option in problems[0], problems


@pytest.mark.parametrize("option,value", [
    ("images", {"c%d" % index: "%s:1" % IMAGE for index in range(10000)}),
    ("env", {"E%d" % index: "1" for index in range(10000)}),
    ("annotations", {"a%d" % index: "1" for index in range(10000)}),
])
def test_ten_thousand_entries_are_one_problem(option, value):
    assert rollout_problems(**{option: value}) == ["%s has 10000 entries; at most 1000 are taken in one task" % option]


def test_git_release_bounds_images_and_values_and_anchors_the_kind():
    assert release_problems(images={"ghcr.io/a/x%d" % index: "1" for index in range(10000)}) == [
        "images has 10000 entries; at most 1000 are taken in one task"]
    assert release_problems(images={}, values=[{"file": "a.yaml", "path": "a", "value": 1}] * 10000) == [
        "values has 10000 entries; at most 1000 are taken in one task"]
    problems = release_problems(images={}, values=[{"file": "a.yaml", "path": "a", "value": 1, "kind": "Deployment\n"}])
    assert len(problems) == 1 and problems[0].startswith("values[0].kind must be a Kubernetes kind")
    assert release_problems(images={}, values=[{"file": "a.yaml", "path": "a", "value": 1, "kind": "Deployment"}]) == []


def test_git_releases_images_are_sized_once_by_its_own_check():
    inputs = Inputs("test")
    release_args.check_request(inputs, dict(name="podinfo", namespace="test", images={
        "ghcr.io/a/x%d" % index: "1" for index in range(10000)}), container_images=False)
    assert inputs.problems == []
