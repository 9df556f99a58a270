"""flux_diff's comparison (flux/diff.py) with a fake API server: above all, Secret values never show."""

import base64
import hashlib
import hmac
import re

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flux import diff


class NamespacedResource:
    namespaced = True


class FakeKube:
    """The live objects by name; a dry-run apply answers what the server would store."""

    def __init__(self, live):
        self.live = live

    def resource_for(self, api_version, kind):
        return NamespacedResource()

    def get(self, resource, namespace, name):
        return self.live.get(name)

    def apply(self, resource, obj, dry_run=False, field_manager=None):
        assert dry_run, "flux_diff must never store anything"
        merged = {key: value for key, value in obj.items() if key != "stringData"}
        # As the API server does: stringData is written into data and never returned.
        data = dict(obj.get("data") or {})
        for key, value in (obj.get("stringData") or {}).items():
            data[key] = base64.b64encode(value.encode()).decode()
        merged["data"] = data
        return merged


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(**data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "demo"},
            "data": {key: b64(value) for key, value in data.items()}}


def run_diff(live, wanted):
    changes, before, after = diff.diff_path(FakeKube({"db": live} if live else {}), [wanted])
    text = "\n".join([before, after] + [entry.get("diff", "") for entry in changes])
    return changes, text


def derived_texts(value):
    """Everything computable from the value alone that an output might carry."""
    forms = [value, b64(value)]
    derived = list(forms)
    for form in forms:
        for algorithm in ("md5", "sha1", "sha256", "sha512", "blake2b"):
            digest = hashlib.new(algorithm, form.encode())
            derived += [digest.hexdigest(), base64.b64encode(digest.digest()).decode()]
    return derived


def assert_nothing_derived(text, value):
    # A truncated fingerprint leaks as well as a whole one: look for any 8-character piece.
    for derived in derived_texts(value):
        for start in range(0, max(1, len(derived) - 7)):
            assert derived[start:start + 8] not in text, "output carries %r, derived from the value" % derived


def test_a_changed_secret_value_shows_as_changed_and_nothing_derived_from_it():
    changes, text = run_diff(secret(password="Winter2023!"), secret(password="Summer2024!"))
    for value in ("Summer2024!", "Winter2023!"):
        assert_nothing_derived(text, value)
    assert [entry["action"] for entry in changes] == ["configured"]
    assert "*** (before)" in changes[0]["diff"] and "*** (after)" in changes[0]["diff"]


def test_the_output_is_the_same_whatever_the_new_value_is():
    # Nothing computable from the value alone: two different secrets give the same output.
    _changes, first = run_diff(secret(password="Winter2023!"), secret(password="Summer2024!"))
    _changes, second = run_diff(secret(password="Winter2023!"), secret(password="Autumn2025?"))
    assert first == second


def test_an_unchanged_secret_is_unchanged_and_its_value_is_masked():
    changes, _text = run_diff(secret(password="Summer2024!", user="app"),
                              secret(password="Summer2024!", user="app"))
    assert [entry["action"] for entry in changes] == ["unchanged"] and "diff" not in changes[0]


def test_only_the_changed_key_is_marked_changed():
    changes, _text = run_diff(secret(password="Summer2024!", user="app"),
                              secret(password="Summer2025!", user="app"))
    lines = [line for line in changes[0]["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert lines == ["-  password: '*** (before)'", "+  password: '*** (after)'"]


def test_a_new_secret_shows_its_keys_but_no_value():
    wanted = secret(password="Summer2024!")
    wanted["stringData"] = {"token": "Summer2024!"}
    changes, text = run_diff(None, wanted)
    assert changes[0]["action"] == "created"
    assert re.search(r"password: '\*\*\*'", text) and re.search(r"token: '\*\*\*'", text)
    assert_nothing_derived(text, "Summer2024!")


def test_clean_alone_masks_every_value_the_same_way():
    shown = diff.clean(secret(password="Summer2024!"))["data"]["password"]
    assert shown == diff.clean(secret(password="Autumn2025?"))["data"]["password"] == "***"


def test_no_keyed_fingerprint_that_outlives_the_run():
    # An HMAC under a fixed key is as guessable as a plain hash; the masks carry none.
    _changes, text = run_diff(secret(password="Winter2023!"), secret(password="Summer2024!"))
    for key in (b"", b"flux", b"gitops.progressive"):
        mac = hmac.new(key, b64("Summer2024!").encode(), hashlib.sha256).hexdigest()
        assert mac[:8] not in text


def test_other_kinds_are_shown_as_they_are():
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db", "namespace": "demo"},
            "data": {"greeting": "hello"}}
    wanted = dict(live, data={"greeting": "bonjour"})
    changes, _text = run_diff(live, wanted)
    assert "-  greeting: hello" in changes[0]["diff"] and "+  greeting: bonjour" in changes[0]["diff"]


def never_connect():
    raise AssertionError("connected to the cluster")


def test_options_are_refused_before_anything_is_rendered_or_requested(tmp_path):
    (tmp_path / ".git").mkdir()
    cases = [
        (dict(path=""), "path may not be empty"),
        (dict(path=str(tmp_path / "missing")), "path must be a directory"),
        (dict(path=str(tmp_path / ".git")), "path may not be in git's own directory .git"),
        (dict(path=str(tmp_path), kustomization=""), "kustomization is required and may not be empty"),
        (dict(path=str(tmp_path), kustomization="apps-*"), "kustomization must name one object, not a pattern"),
        (dict(path=str(tmp_path), namespace=""), "namespace is required and may not be empty"),
        (dict(path=str(tmp_path), kustomize=[]), "kustomize_command may not be empty"),
        (dict(path=str(tmp_path), kustomize=["kustomize", " "]), "kustomize_command[1] may not be empty"),
    ]
    for options, message in cases:
        with pytest.raises(CollectionError) as error:
            diff.diff_task(never_connect, **options)
        assert str(error.value).startswith("flux_diff ") and message in str(error.value), options


def test_a_yaml_file_linked_out_of_the_path_is_refused_as_kustomize_controller_refuses_it(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n")
    path = tmp_path / "apps"
    path.mkdir()
    (path / "secret.yaml").symlink_to(outside)
    with pytest.raises(diff.DiffError, match="secret.yaml is a symbolic link out of .*apps; kustomize-controller"):
        diff.diff_task(never_connect, str(path))
    inside = path / "cm.yaml"
    inside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (path / "secret.yaml").unlink()
    (path / "again.yaml").symlink_to(inside)
    assert [obj["metadata"]["name"] for obj in diff.render(str(path))] == ["a", "a"]
