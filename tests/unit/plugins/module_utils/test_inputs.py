"""The shared input checks: each accepts what Kubernetes, git, containerd and Go accept, and
refuses the rest with a sentence naming the option."""

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils import inputs
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs, InputError


@pytest.mark.parametrize("value", ["app", "a", "podinfo-2", "a" * 63, "my.app"])
def test_names_kubernetes_accepts(value):
    assert inputs.name_problems("name", value) == []


@pytest.mark.parametrize("value, words", [
    ("", "may not be empty"),
    ("App", "DNS-1123 subdomain"),
    ("a" * 254, "DNS-1123 subdomain"),
    ("-app", "DNS-1123 subdomain"),
    ("*", "not a pattern"),
    ("app-*", "not a pattern"),
    ("../etc", "DNS-1123 subdomain"),
    (3, "must be a string"),
])
def test_names_kubernetes_refuses_name_the_option(value, words):
    problems = inputs.name_problems("name", value)
    assert len(problems) == 1 and problems[0].startswith("name ") and words in problems[0]


def test_a_namespace_is_a_label_of_63_at_most():
    assert inputs.namespace_problems("namespace", "a" * 63) == []
    assert "DNS-1123 label" in inputs.namespace_problems("namespace", "a" * 64)[0]
    assert "DNS-1123 label" in inputs.namespace_problems("namespace", "a.b")[0]
    assert inputs.namespace_problems("namespace", None, required=False) == []
    # An empty string is never "not given": it would select everything.
    assert inputs.namespace_problems("namespace", "", required=False)


@pytest.mark.parametrize("value", [
    "nginx", "nginx:1.25", "library/nginx:latest", "127.0.0.1:5000/apps/podinfo:6.5.0",
    "registry.example/app@sha256:" + "a" * 64, "registry.example:443/a/b/c:v1_2.3-rc",
    "[::1]:5000/app:1",
])
def test_image_references_that_containerd_parses(value):
    assert inputs.image_problems("image", value) == []


@pytest.mark.parametrize("value", [
    "", "Bad Ref::!!", "app:has space", "app:" + "x" * 302, "App:1", "app:-1", "app@sha256:short",
    "registry.example/app:1:2", "/app:1", "app/:1", 5,
])
def test_image_references_refused(value):
    problems = inputs.image_problems("image", value)
    assert len(problems) == 1 and problems[0].startswith("image")


@pytest.mark.parametrize("value", ["main", "release/1.2", "feature-x", "a.b"])
def test_branches_git_accepts(value):
    assert inputs.branch_problems("branch", value) == []


@pytest.mark.parametrize("value", ["", "a b", "a..b", "-x", "x/", "x.lock", "a@{1}", "@", "refs/heads/main",
                                   "x~1", "x^", "a:b", "a?", "a*", "a[", "a\\b", ".hidden", "a/.b", "a//b", "x."])
def test_branches_git_refuses(value):
    assert inputs.branch_problems("branch", value)


@pytest.mark.parametrize("value", ["apps/podinfo/deployment.yaml", "./apps/x.yaml", "a/b/c", "gitignore.d/x"])
def test_repository_paths_accepted(value):
    assert inputs.repo_path_problems("path", value) == []


@pytest.mark.parametrize("value, words", [
    ("", "path inside the repository"),
    (".", "repository's top"),
    ("/etc/passwd", "not absolute"),
    ("~/x", "not absolute"),
    ("../x", "'..'"),
    ("apps/../../x", "'..'"),
    (".git/config", ".git"),
    ("apps/.GIT/hooks/post-checkout", ".git"),
    ("a\x00b", "NUL"),
    ("a\nb", "line breaks"),
    ("x" * 256, "too long"),
    (None, "path inside the repository"),
])
def test_repository_paths_refused(value, words):
    problems = inputs.repo_path_problems("files", value)
    assert len(problems) == 1 and words in problems[0]


def test_the_top_is_allowed_where_a_directory_is_meant():
    assert inputs.repo_path_problems("path", ".", allow_root=True) == []
    assert inputs.repo_path_problems("path", "./", allow_root=True) == []


@pytest.mark.parametrize("value", ["http://127.0.0.1:8200", "https://vault.example/", "http://[::1]:80/x"])
def test_addresses_accepted(value):
    assert inputs.url_problems("url", value) == []


@pytest.mark.parametrize("value, words", [
    ("", "may not be empty"),
    ("127.0.0.1:8200", "starting with http:// or https://"),
    ("ftp://x", "starting with"),
    ("http://", "no host"),
    ("http://a b", "spaces"),
    ("http://x:99999", "port"),
    ("http://x:0", "port 0"),
    ("http://user:hunter2@x", "credentials"),
])
def test_addresses_refused(value, words):
    problems = inputs.url_problems("url", value)
    assert len(problems) == 1 and words in problems[0]


def test_an_address_with_credentials_is_refused_without_showing_them():
    problem = inputs.url_problems("repo_url", "http://git:hunter2@127.0.0.1/x.git", credentials_option="git_password")
    assert "hunter2" not in problem[0] and "git_password" in problem[0] and "***@127.0.0.1" in problem[0]


def test_credentials_found_and_redacted_anywhere():
    text = "cloning https://x-token:s3cr3t@git.example/repo and http://127.0.0.1/y"
    assert inputs.redact_urls(text) == "cloning https://***@git.example/repo and http://127.0.0.1/y"
    assert set(inputs.url_credentials(text)) == {"x-token:s3cr3t", "s3cr3t"}
    # A short user alone (ssh's git@) is no secret; a long one is taken for a token.
    assert inputs.url_credentials("ssh://git@host/x") == []
    assert inputs.url_credentials("https://ghp_0123456789abcdefghij@host/x") == ["ghp_0123456789abcdefghij"]
    assert inputs.redact_url("http://u:p@h:1/x?y") == "http://***@h:1/x?y"


def test_credentials_in_any_parameter_are_given_to_ansible_to_mask():
    class Module:
        no_log_values = set()
        params = {"a": "http://u:pw-1@h", "b": [{"c": "https://x:pw-2@h"}], "d": 3}

    inputs.mask_url_credentials(Module)
    assert {"pw-1", "pw-2"} <= Module.no_log_values


@pytest.mark.parametrize("value, problem", [
    (5, None), (0, "between 1 and 10"), (-1, "between 1 and 10"), (11, "between 1 and 10"),
    (1e11, "between 1 and 10"), (2.5, "whole number"), (True, "whole number"), ("5", "whole number"),
    (float("nan"), "whole number"),
])
def test_numbers(value, problem):
    problems = inputs.number_problems("timeout", value, 1, 10, "seconds")
    assert (problems == []) if problem is None else (problem in problems[0] and problems[0].startswith("timeout"))


@pytest.mark.parametrize("value, ok", [("30s", True), ("1h", True), ("1m30s", True), ("1 hour", False),
                                       ("90", False), ("", False), (30, False)])
def test_durations_in_go_grammar(value, ok):
    assert (inputs.duration_problems("ttl", value) == []) is ok


def test_duration_bounds():
    assert "at most 3600s" in inputs.duration_problems("ttl", "2h", maximum=3600)[0]
    assert "at least 1s" in inputs.duration_problems("ttl", "0s", minimum=1)[0]


def test_inputs_collects_every_problem_of_one_object_and_names_it():
    checks = Inputs("flux_suspend Kustomization")
    checks.name("name", "")
    checks.namespace("namespace", "Bad")
    checks.dangerous("policies[0].name", "replaces Vault's default policy", "allow_default_policy_change")
    with pytest.raises(InputError) as raised:
        checks.done()
    message = str(raised.value)
    assert message.startswith("flux_suspend Kustomization: 3 problems: name is required")
    assert "namespace must be a DNS-1123 label" in message
    assert "set allow_default_policy_change: true if that is meant" in message
    assert len(raised.value.details["problems"]) == 3


def test_inputs_with_nothing_wrong_is_silent():
    checks = Inputs("x")
    assert checks.name("name", "app") and checks.port("port", 8080)
    checks.done()


def test_a_long_value_is_quoted_cut():
    assert len(inputs.quote("x" * 500)) < 120


def test_a_module_masks_credentials_even_in_ansibles_own_argument_errors():
    """A wrong type in another option fails while the module is made: the password in the
    address is masked in that message's logged arguments too."""
    import io
    import json
    from contextlib import redirect_stdout

    from ansible.module_utils.testing import patch_module_args

    out = io.StringIO()
    with patch_module_args({"url": "http://user:hunter2@127.0.0.1:1/", "count": "many"}), redirect_stdout(out):
        with pytest.raises(SystemExit):
            inputs.masked_module(argument_spec=dict(url=dict(type="str"), count=dict(type="int")))
    result = json.loads(out.getvalue())
    assert result["failed"] and "count" in result["msg"]
    assert "hunter2" not in out.getvalue()
    assert result["invocation"]["module_args"]["url"] == "http://********@127.0.0.1:1/"


@pytest.mark.parametrize("value", ["app\n", "default\n", "podinfo:6.7.1\n", "６.7.1", "v1.0é"])
def test_a_trailing_newline_or_a_letter_outside_ascii_is_no_name_or_tag(value):
    assert inputs.name_problems("name", value) or inputs.tag_problems("tag", value.split(":")[-1])
    assert inputs.image_problems("image", "podinfo:" + value.split(":")[-1])


@pytest.mark.parametrize("value", [".gitmodules", "apps/.gitattributes", "a/.GITMODULES"])
def test_the_files_git_acts_on_are_refused(value):
    assert "files git acts on" in inputs.repo_path_problems("files", value)[0]


@pytest.mark.parametrize("text, secret, shown", [
    ("http://u:p@ss-s3cr3tAT@lt.test/x", "ss-s3cr3tAT", "http://***@lt.test/x"),
    ("http://lt.test/?token=s3cr3tQueryTok&x=1", "s3cr3tQueryTok", "http://lt.test/?token=***&x=1"),
    ("https://bucket/etcd?X-Amz-Signature=abcdef123456", "abcdef123456", "https://bucket/etcd?X-Amz-Signature=***"),
    ("http://127.0.0.1:18305/?access_token=s3cr3tRegTok", "s3cr3tRegTok", "http://127.0.0.1:18305/?access_token=***"),
    ("vault:s3cr3tMyPW@tcp(db:3306)/", "s3cr3tMyPW", "***@tcp(db:3306)/"),
    ("host=db user=vault password=kw-s3cr3t", "kw-s3cr3t", "host=db user=vault password=***"),
    ("http://x/#user:pw-frag@x", "pw-frag", None),
])
def test_credentials_beyond_userinfo_are_found_redacted_and_refused(text, secret, shown):
    assert secret in "".join(inputs.url_credentials(text))
    assert secret not in inputs.redact_urls(text)
    if shown:
        assert inputs.redact_urls(text) == shown
    if text.startswith("http"):
        assert "may not carry credentials" in inputs.url_problems("url", text)[0]


def test_placeholders_and_ordinary_parameters_are_no_secrets():
    assert inputs.url_credentials("postgresql://{{username}}:{{password}}@db:5432/postgres") == []
    assert inputs.url_credentials("postgresql://db/x?password={{password}}") == []
    assert inputs.url_credentials("http://h/x?ref=main&depth=1") == []
    assert inputs.redact_urls("auth_method=token") == "auth_method=token"
    # A one-letter password is masked with its address, not on its own.
    assert inputs.url_credentials("http://u:p@h/") == ["u:p"]


def test_an_image_pinned_by_tag_and_digest_holds_no_credentials():
    image = "podinfo:6.5.0@sha256:" + "a" * 64
    assert inputs.url_credentials(image) == [] and inputs.redact_urls(image) == image
