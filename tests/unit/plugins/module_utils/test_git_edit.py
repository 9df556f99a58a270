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
    assert [what for what, _old, _new in dropped] == ["resources[../base/podinfo]",
                                                      "images[ghcr.io/stefanprodan/podinfo]"]
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


def test_an_edit_that_adds_keys_is_made_in_place_too():
    text, _changes = edit.set_images(MARKED, {"ghcr.io/other/app": "ghcr.io/mirror/app:2"})
    assert yaml.safe_load(text)["images"][0] == {"name": "ghcr.io/other/app", "newTag": "2",
                                                 "newName": "ghcr.io/mirror/app"}
    assert text == MARKED.replace('    newTag: "1.0"\n', '    newTag: "2"\n    newName: "ghcr.io/mirror/app"\n')


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
    # Another app registered later: the marker stays.
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


TWO_MARKED = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# The apps of staging.
resources:
  - podinfo.yaml
  - faces.yaml  # the faces demo
images:
  # podinfo follows its image policy.
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.7.1 # {"$imagepolicy": "flux-system:podinfo:tag"}
  - name: ghcr.io/buoyantio/faces
    newTag: 1.0.0 # {"$imagepolicy": "flux-system:faces:tag"}
"""
FACES_MARKER = '    newTag: 1.0.0 # {"$imagepolicy": "flux-system:faces:tag"}\n'


def changed_lines(before, after):
    """The lines that differ, as (removed, added)."""
    import difflib

    diff = list(difflib.ndiff(before.splitlines(True), after.splitlines(True)))
    return [line[2:] for line in diff if line.startswith("- ")], [line[2:] for line in diff if line.startswith("+ ")]


@pytest.mark.parametrize("reference, lines", [
    ("ghcr.io/stefanprodan/podinfo:6.7.2@sha256:" + "a" * 64,
     ['    newTag: "6.7.2" # {"$imagepolicy": "flux-system:podinfo:tag"}\n', '    digest: "sha256:%s"\n' % ("a" * 64)]),
    ("registry.local/podinfo:6.7.2",
     ['    newTag: "6.7.2" # {"$imagepolicy": "flux-system:podinfo:tag"}\n',
      '    newName: "registry.local/podinfo"\n']),
])
def test_a_digest_or_new_name_release_keeps_the_other_images_marker_and_every_comment(reference, lines):
    text, changes = edit.set_images(TWO_MARKED, {"ghcr.io/stefanprodan/podinfo": reference})
    assert changes and FACES_MARKER in text
    assert text.count("$imagepolicy") == 2 and "# The apps of staging.\n" in text and "# the faces demo" in text
    removed, added = changed_lines(TWO_MARKED, text)
    assert removed == ['    newTag: 6.7.1 # {"$imagepolicy": "flux-system:podinfo:tag"}\n'] and added == lines


def test_dropping_a_digest_or_a_new_name_removes_only_its_line():
    pinned, _changes = edit.set_images(TWO_MARKED, {
        "ghcr.io/stefanprodan/podinfo": "registry.local/podinfo:6.7.2@sha256:" + "a" * 64})
    back, changes = edit.set_images(pinned, {"ghcr.io/stefanprodan/podinfo": "ghcr.io/stefanprodan/podinfo:6.7.3"})
    assert changes == [("images.ghcr.io/stefanprodan/podinfo", "registry.local/podinfo:6.7.2@sha256:" + "a" * 64,
                        "ghcr.io/stefanprodan/podinfo:6.7.3")]
    assert back == TWO_MARKED.replace("newTag: 6.7.1 #", 'newTag: "6.7.3" #')


def test_a_digest_only_reference_on_the_first_key_of_an_item_moves_the_next_key_up():
    text = "images:\n  - newTag: 1.0.0\n    name: app\n  - name: other\n    newTag: 2.0.0 # keep me\n"
    new, _changes = edit.set_images(text, {"app": "app@sha256:" + "b" * 64})
    assert new == 'images:\n  - name: app\n    digest: "sha256:%s"\n  - name: other\n    newTag: 2.0.0 # keep me\n' % (
        "b" * 64)


def test_registering_an_entry_keeps_every_marker_and_comment_and_adds_only_lines():
    text, added = edit.ensure_kustomization_entries(TWO_MARKED, {
        "resources": ["frontend.yaml"],
        "images": [{"name": "us-docker.pkg.dev/google-samples/microservices-demo/frontend", "newTag": "v0.10.2"}],
        "patches": [{"path": "frontend-env.yaml", "target": {"kind": "Deployment"}}]})
    assert [what for what, _old, _new in added] == [
        "resources[frontend.yaml]", "patches[frontend-env.yaml]",
        "images[us-docker.pkg.dev/google-samples/microservices-demo/frontend]"]
    removed, new_lines = changed_lines(TWO_MARKED, text)
    assert removed == [] and new_lines == [
        "  - frontend.yaml\n",
        "  - name: us-docker.pkg.dev/google-samples/microservices-demo/frontend\n", "    newTag: v0.10.2\n",
        "patches:\n", "  - path: frontend-env.yaml\n", "    target:\n", "      kind: Deployment\n"]
    assert text.count("$imagepolicy") == 2
    assert yaml.safe_load(text)["resources"] == ["podinfo.yaml", "faces.yaml", "frontend.yaml"]


def test_registering_into_a_flow_style_or_empty_list_writes_it_out_in_block_style():
    text = "# kept\nresources: [release.yaml]  # the release\nimages: []\ncomponents:\n"
    new, _added = edit.ensure_kustomization_entries(text, {
        "resources": ["source.yaml"], "components": ["../c"],
        "images": [{"name": "app", "newTag": "1", "$imagepolicy": "flux-system:app"}]})
    assert new == ("# kept\nresources:\n  - release.yaml\n  - source.yaml  # the release\nimages:\n  - name: app\n"
                   "    newTag: '1' # {\"$imagepolicy\": \"flux-system:app:tag\"}\ncomponents:\n  - ../c\n")


def test_unregistering_an_entry_removes_only_its_lines():
    text, dropped = edit.drop_kustomization_entries(TWO_MARKED, {
        "resources": ["podinfo.yaml"], "images": [{"name": "ghcr.io/stefanprodan/podinfo"}]})
    assert [what for what, _old, _new in dropped] == ["resources[podinfo.yaml]", "images[ghcr.io/stefanprodan/podinfo]"]
    removed, added = changed_lines(TWO_MARKED, text)
    assert added == [] and removed == [
        "  - podinfo.yaml\n", "  - name: ghcr.io/stefanprodan/podinfo\n",
        '    newTag: 6.7.1 # {"$imagepolicy": "flux-system:podinfo:tag"}\n']
    assert FACES_MARKER in text and "# the faces demo" in text


ENV_FILE = """# podinfo's environment in staging
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: demo
spec:
  replicas: 2   # two for the canary
  template:
    spec:
      containers:
        - name: podinfo
          args: [--level, 'info']
          env:
            - name: ERROR_FRACTION   # percent of 5xx
              value: "0"
            - name: LATENCY_MS
              value: '0'
            - name: BANNER
              value: |
                hello
                world

            - {name: MODE, value: plain}
"""
CONTAINER = "spec.template.spec.containers[name=podinfo]"


@pytest.mark.parametrize("path, value, old_line, new_line", [
    (CONTAINER + ".env[name=ERROR_FRACTION].value", "75", '              value: "0"\n', '              value: "75"\n'),
    (CONTAINER + ".env[name=LATENCY_MS].value", 5, "              value: '0'\n", "              value: '5'\n"),
    ("spec.replicas", 3, "  replicas: 2   # two for the canary\n", "  replicas: 3   # two for the canary\n"),
    (CONTAINER + ".args[1]", "debug", "          args: [--level, 'info']\n", "          args: [--level, 'debug']\n"),
    (CONTAINER + ".env[name=MODE].value", "two words", "            - {name: MODE, value: plain}\n",
     "            - {name: MODE, value: two words}\n"),
    (CONTAINER + ".env[name=MODE].value", "7", "            - {name: MODE, value: plain}\n",
     "            - {name: MODE, value: '7'}\n"),
])
def test_a_value_edit_changes_only_its_own_line_and_keeps_quotes_and_comments(path, value, old_line, new_line):
    text, changes = edit.set_value(ENV_FILE, path, value, where="apps/staging/podinfo-env.yaml")
    assert len(changes) == 1
    assert changed_lines(ENV_FILE, text) == ([old_line], [new_line])


def test_a_block_scalar_value_is_replaced_on_its_own_lines():
    text, _changes = edit.set_value(ENV_FILE, CONTAINER + ".env[name=BANNER].value", "bye\n")
    assert changed_lines(ENV_FILE, text) == (["              value: |\n", "                hello\n",
                                              "                world\n"], ['              value: "bye\\n"\n'])


def test_a_collection_value_is_written_in_flow_style_in_its_place():
    text, changes = edit.set_value(ENV_FILE, CONTAINER + ".args", ["--level", "debug"])
    assert changes == [(CONTAINER + ".args", ["--level", "info"], ["--level", "debug"])]
    assert changed_lines(ENV_FILE, text) == (["          args: [--level, 'info']\n"],
                                             ["          args: [--level, debug]\n"])


@pytest.mark.parametrize("text, path", [
    ("base: &base\n  value: 1\nitem:\n  <<: *base\n", "item.value"),  # the value lives in the anchor
    ("a: &one 1\nb: *one\n", "b"),  # the alias is the anchor's text
])
def test_a_layout_that_cannot_be_edited_in_place_is_refused_not_rewritten(text, path):
    with pytest.raises(edit.EditError, match="values.yaml: .*in place"):
        edit.set_value(text, path, 2, where="values.yaml")


# --- entries checked before anything is written (issue 17) ------------------------------------

@pytest.mark.parametrize("entry,said", [
    ("/etc/passwd", "must be relative to the kustomization's directory, not absolute"),
    ("~/manifests", "must be relative to the kustomization's directory, not absolute"),
    ("../../../../etc/passwd", "climbs above the repository's top with '..' (from apps/staging)"),
    ("../../../platform/apps", "climbs above the repository's top"),
    ("../../.git/config", "may not go through git's own directory .git"),
    ("base/.Git/hooks", "may not go through git's own directory .git"),
])
def test_a_local_path_out_of_the_tree_is_refused_from_the_kustomizations_directory(entry, said):
    for key, given in (("resources", entry), ("components", entry), ("patches", {"path": entry})):
        problems = edit.kustomization_entry_problems({key: [given]}, "k", directory="apps/staging")
        assert len(problems) == 1 and said in problems[0], problems


@pytest.mark.parametrize("entry", [
    "../../infrastructure/base", "../base/podinfo", "podinfo.yaml", "https://github.com/org/repo//deploy?ref=v1",
    "github.com/org/repo/deploy?ref=v1", "git@github.com:org/repo.git//deploy",
])
def test_a_path_in_the_tree_or_a_remote_resource_is_taken(entry):
    assert edit.kustomization_entry_problems({"resources": [entry]}, "k", directory="apps/staging") == []


def test_paths_are_only_judged_with_the_kustomizations_directory():
    """Entries being taken out (kustomizations_absent) may be the bad ones a user is removing."""
    assert edit.kustomization_entry_problems({"resources": ["../../../old"]}, "k") == []
    assert edit.kustomization_entry_problems({"resources": ["../old"]}, "k", directory="") != []


def test_registering_a_resource_above_the_top_is_refused_before_the_text_is_touched():
    with pytest.raises(edit.EditError, match=r"k\.resources\[0\] climbs above the repository's top"):
        edit.ensure_kustomization_entries(KUSTOMIZATION, {"resources": ["../../x"]}, where="k", directory="apps")


def test_more_than_a_thousand_entries_in_one_list_are_one_problem():
    problems = edit.kustomization_entry_problems({"resources": ["r%d" % index for index in range(5000)]}, "k")
    assert problems == ["k: resources has 5000 entries; at most 1000 are taken"]


@pytest.mark.parametrize("field,value", [
    ("$imagepolicy", "flux-system:podinfo\n"), ("digest", "sha256:%s\n" % ("a" * 64)), ("newTag", "6.7.1\n"),
])
def test_a_trailing_line_break_is_not_taken_in_an_image_entry(field, value):
    entry = dict({"name": "ghcr.io/stefanprodan/podinfo", "newTag": "1"}, **{field: value})
    problems = edit.kustomization_entry_problems({"images": [entry]}, "k")
    assert len(problems) == 1 and "k.images[0].%s" % field in problems[0]


def test_a_policy_marker_with_a_trailing_line_break_is_refused():
    with pytest.raises(edit.EditError, match="the image policy must be <namespace>:<name>"):
        edit.mark_image_policies(KUSTOMIZATION, {"ghcr.io/stefanprodan/podinfo": "flux-system:podinfo\n"})
