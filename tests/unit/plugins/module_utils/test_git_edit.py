import pytest
import yaml

from ansible_collections.gitops.progressive.plugins.module_utils.git import edit

KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base/podinfo
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: "6.7.0"
"""

PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  template:
    spec:
      containers:
        - name: podinfo
          env:
            - name: ERROR_FRACTION
              value: "0"
"""
ENV_PATH = "spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].value"


def test_a_tag_sets_new_tag_and_reports_old_and_new():
    text, changes = edit.set_images(KUSTOMIZATION, {"ghcr.io/stefanprodan/podinfo": "6.7.1"})
    assert yaml.safe_load(text)["images"] == [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.7.1"}]
    assert changes == [("images.ghcr.io/stefanprodan/podinfo", "ghcr.io/stefanprodan/podinfo:6.7.0",
                        "ghcr.io/stefanprodan/podinfo:6.7.1")]


def test_the_tag_git_already_holds_changes_nothing_and_keeps_the_text():
    text, changes = edit.set_images(KUSTOMIZATION, {"ghcr.io/stefanprodan/podinfo": "6.7.0"})
    assert changes == [] and text == KUSTOMIZATION


def test_a_full_reference_with_a_digest_sets_name_tag_and_digest():
    text, _changes = edit.set_images(KUSTOMIZATION, {
        "ghcr.io/stefanprodan/podinfo": "registry.local:5000/podinfo:6.7.1@sha256:" + "a" * 64})
    entry = yaml.safe_load(text)["images"][0]
    assert entry == {"name": "ghcr.io/stefanprodan/podinfo", "newName": "registry.local:5000/podinfo",
                     "newTag": "6.7.1", "digest": "sha256:" + "a" * 64}


def test_an_image_name_the_kustomization_lacks_is_refused_naming_it():
    with pytest.raises(edit.EditError, match="images.podinfo: .* has no image of that name; it has ghcr.io"):
        edit.set_images(KUSTOMIZATION, {"podinfo": "6.7.1"})


def test_a_number_for_a_string_is_its_text_and_a_mapping_is_refused():
    assert edit.set_value(PATCH, ENV_PATH, 0) == (PATCH, [])
    with pytest.raises(edit.EditError, match="holds a string"):
        edit.set_value(PATCH, ENV_PATH, {"not": "a string"})


def test_a_missing_last_key_is_refused():
    with pytest.raises(edit.EditError, match="there is no 'valueFrom'"):
        edit.set_value(PATCH, "spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].valueFrom", "x")


def test_an_empty_image_value_is_refused_naming_it():
    with pytest.raises(edit.EditError, match="images.ghcr.io.stefanprodan.podinfo: expected a tag"):
        edit.set_images(KUSTOMIZATION, {"ghcr.io/stefanprodan/podinfo": ""})


def test_a_value_is_set_at_a_path_with_selectors():
    text, changes = edit.set_value(PATCH, ENV_PATH, "75", where="apps/staging/podinfo-env.yaml")
    assert changes == [(ENV_PATH, "0", "75")]
    doc = yaml.safe_load(text)
    assert doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "75"


def test_the_same_value_changes_nothing():
    assert edit.set_value(PATCH, ENV_PATH, "0") == (PATCH, [])


def test_a_path_no_document_has_is_an_error_naming_file_and_path():
    with pytest.raises(edit.EditError, match="podinfo-env.yaml: no document has the path spec.replicas.x"):
        edit.set_value(PATCH, "spec.replicas.x", 3, where="podinfo-env.yaml")


def test_a_kind_picks_the_document_in_a_multi_document_file():
    text = PATCH + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  ports:\n  - port: 80\n"
    new, changes = edit.set_value(text, "spec.ports[0].port", 9898, kind="Service")
    assert changes == [("spec.ports[0].port", 80, 9898)]
    assert list(yaml.safe_load_all(new))[1]["spec"]["ports"][0]["port"] == 9898


@pytest.mark.parametrize("path", ["", "a..[", "a[name=x"])
def test_unreadable_paths_are_refused(path):
    with pytest.raises(edit.EditError):
        edit.parse_path(path)


def test_ensure_entries_adds_only_what_is_missing_and_keeps_release_tags():
    wanted = {
        "resources": ["../base/podinfo", "../base/faces"],
        "patches": [{"path": "faces-env.yaml"}],
        "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.0.0"},
                   {"name": "ghcr.io/buoyantio/faces", "newTag": "1.0.0"}],
    }
    text, added = edit.ensure_kustomization_entries(KUSTOMIZATION, wanted)
    doc = yaml.safe_load(text)
    assert doc["resources"] == ["../base/podinfo", "../base/faces"]
    assert doc["patches"] == [{"path": "faces-env.yaml"}]
    # podinfo's tag is the releases' business: registering it again does not reset it.
    assert doc["images"] == [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.7.0"},
                             {"name": "ghcr.io/buoyantio/faces", "newTag": "1.0.0"}]
    assert [what for what, _old, _new in added] == [
        "resources[../base/faces]", "patches[faces-env.yaml]", "images[ghcr.io/buoyantio/faces]"]
    again, added_again = edit.ensure_kustomization_entries(text, wanted)
    assert (again, added_again) == (text, [])


def test_ensure_entries_makes_a_missing_kustomization():
    text, added = edit.ensure_kustomization_entries("", {"resources": ["flagger"]})
    assert yaml.safe_load(text) == {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                    "resources": ["flagger"]}
    assert added == [("resources[flagger]", None, "flagger")]
    empty, _added = edit.ensure_kustomization_entries(None, {})
    assert yaml.safe_load(empty)["resources"] == []


def test_drop_entries_removes_matches_and_leaves_the_rest():
    text, dropped = edit.drop_kustomization_entries(KUSTOMIZATION, {
        "resources": ["../base/podinfo"], "images": [{"name": "ghcr.io/stefanprodan/podinfo"}]})
    doc = yaml.safe_load(text)
    assert doc["resources"] == [] and doc["images"] == []
    assert [what for what, _old, _new in dropped] == ["resources[../base/podinfo]", "images[ghcr.io/stefanprodan/podinfo]"]
    assert edit.drop_kustomization_entries(KUSTOMIZATION, {"resources": ["other"]}) == (KUSTOMIZATION, [])
    assert edit.drop_kustomization_entries("", {"resources": ["x"]}) == ("", [])


@pytest.mark.parametrize("entries, message", [
    ({"configMapGenerator": []}, "configMapGenerator cannot be edited"),
    ({"resources": "flagger"}, "resources must be a list"),
    ({"images": [{"newTag": "1"}]}, "images entry {'newTag': '1'} names nothing"),
    ({"patches": [{"target": {"kind": "Deployment"}}]}, "a patch needs a path"),
    ({"resources": [{"path": "flagger"}]}, "must be a path (text)"),
    ({"images": ["ghcr.io/stefanprodan/podinfo"]}, "must be a mapping (an image needs a name)"),
    ({"patches": ["podinfo-env.yaml"]}, "must be a mapping"),
])
def test_bad_entries_are_refused_naming_the_file(entries, message):
    with pytest.raises(edit.EditError, match="apps/staging/kustomization.yaml") as error:
        edit.ensure_kustomization_entries(KUSTOMIZATION, entries, where="apps/staging/kustomization.yaml")
    assert message in str(error.value)


def test_a_kustomization_that_is_not_one_document_is_refused():
    with pytest.raises(edit.EditError, match="must hold one kustomization document"):
        edit.ensure_kustomization_entries("a: 1\n---\nb: 2\n", {"resources": ["x"]})


MARKED = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# Which version runs in staging.
resources:
  - ../base/podinfo
images:
  - name: ghcr.io/other/app
    newTag: "1.0"
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.7.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""


def test_a_tag_change_keeps_comments_and_image_automation_markers():
    text, changes = edit.set_images(MARKED, {"ghcr.io/stefanprodan/podinfo": "6.7.1"})
    assert text == MARKED.replace('newTag: 6.7.0 #', 'newTag: "6.7.1" #')
    assert changes == [("images.ghcr.io/stefanprodan/podinfo", "ghcr.io/stefanprodan/podinfo:6.7.0",
                        "ghcr.io/stefanprodan/podinfo:6.7.1")]
    other, _changes = edit.set_images(MARKED, {"ghcr.io/other/app": "1.10"})
    assert '    newTag: "1.10"\n' in other and '# {"$imagepolicy": "flux-system:podinfo:tag"}' in other
    assert yaml.safe_load(other)["images"][0]["newTag"] == "1.10"


def test_an_edit_that_adds_keys_falls_back_to_a_rewrite_that_is_still_right():
    text, _changes = edit.set_images(MARKED, {"ghcr.io/other/app": "ghcr.io/mirror/app:2"})
    assert yaml.safe_load(text)["images"][0] == {"name": "ghcr.io/other/app", "newTag": "2",
                                                 "newName": "ghcr.io/mirror/app"}


def test_a_comment_at_the_margin_inside_images_does_not_lose_the_markers():
    text = MARKED.replace("  - name: ghcr.io/stefanprodan/podinfo", "# the app\n  - name: ghcr.io/stefanprodan/podinfo")
    edited, _changes = edit.set_images(text, {"ghcr.io/stefanprodan/podinfo": "6.7.1"})
    assert "# the app\n" in edited and 'newTag: "6.7.1" # {"$imagepolicy"' in edited


def test_image_policies_are_marked_on_the_tag_line_and_survive_later_registrations():
    policy = {"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.7.0", "$imagepolicy": "flux-system:podinfo"}
    text, added = edit.ensure_kustomization_entries("", {"resources": ["../base/podinfo"], "images": [policy]})
    assert 'newTag: 6.7.0 # {"$imagepolicy": "flux-system:podinfo:tag"}' in text
    assert "$imagepolicy:" not in text and yaml.safe_load(text)["images"] == [
        {"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.7.0"}]
    assert ("images[ghcr.io/stefanprodan/podinfo]", None, "flux-system:podinfo") in added
    # Nothing to add and the marker is there: the text stays as it is.
    assert edit.ensure_kustomization_entries(text, {"images": [policy]}) == (text, [])
    # Another app registered later rewrites the file; the marker is put back.
    more, _added = edit.ensure_kustomization_entries(text, {
        "resources": ["../base/faces"], "images": [policy, {"name": "ghcr.io/buoyantio/faces", "newTag": "1.0"}]})
    assert '# {"$imagepolicy": "flux-system:podinfo:tag"}' in more and "faces" in more
    # A release's tag change keeps it.
    released, _changes = edit.set_images(more, {"ghcr.io/stefanprodan/podinfo": "6.7.1"})
    assert 'newTag: "6.7.1" # {"$imagepolicy": "flux-system:podinfo:tag"}' in released


@pytest.mark.parametrize("policies, message", [
    ({"ghcr.io/stefanprodan/podinfo": "podinfo"}, "must be <namespace>:<name>"),
    ({"ghcr.io/nothing/here": "flux-system:x"}, "has no newTag line"),
])
def test_bad_image_policies_are_refused(policies, message):
    with pytest.raises(edit.EditError, match=message):
        edit.mark_image_policies(MARKED, policies)
