"""Taking one cluster out of a kubeconfig that may hold others (cluster/kubeconfig.py)."""

import os
import shutil
import stat

import pytest
import yaml

from ansible_collections.gitops.progressive.plugins.module_utils.cluster import kubeconfig

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
KWOK_REHEARSAL = {"clusters": ["kwok-rehearsal"], "contexts": ["kwok-rehearsal"], "users": ["kwok-rehearsal"]}


def fixture_copy(tmp_path, name):
    path = str(tmp_path / "config")
    shutil.copy(os.path.join(FIXTURES, name), path)
    return path


def names(config, section):
    return [item["name"] for item in config.get(section) or []]


def test_a_shared_file_keeps_every_other_cluster_context_and_user(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_shared.yaml")
    removed, deleted = kubeconfig.remove_entries(path, KWOK_REHEARSAL)
    assert not deleted
    assert removed == KWOK_REHEARSAL
    with open(path) as handle:
        left = yaml.safe_load(handle)
    assert names(left, "clusters") == ["production", "staging"]
    assert names(left, "contexts") == ["production", "staging"]
    assert names(left, "users") == ["ops"]
    # The other entries are kept exactly, not rebuilt.
    assert left["users"][0] == {"name": "ops", "user": {"token": "not-a-real-token"}}
    assert left["clusters"][0]["cluster"]["server"] == "https://prod.example.com:6443"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_current_context_naming_the_removed_cluster_is_emptied_not_moved(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_shared.yaml")
    kubeconfig.remove_entries(path, KWOK_REHEARSAL)
    with open(path) as handle:
        # Not "production": switching the user's default to another cluster is worse than none.
        assert yaml.safe_load(handle)["current-context"] == ""


def test_current_context_naming_another_cluster_is_kept(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_shared.yaml")
    with open(path) as handle:
        config = yaml.safe_load(handle)
    config["current-context"] = "staging"
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    kubeconfig.remove_entries(path, KWOK_REHEARSAL)
    with open(path) as handle:
        assert yaml.safe_load(handle)["current-context"] == "staging"


def test_a_file_with_only_this_cluster_is_deleted(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_kwok_only.yaml")
    removed, deleted = kubeconfig.remove_entries(path, KWOK_REHEARSAL)
    assert deleted and removed == KWOK_REHEARSAL
    assert not os.path.exists(path)


def test_a_file_kwokctl_already_emptied_is_deleted(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_emptied_by_kwokctl.yaml")
    removed, deleted = kubeconfig.remove_entries(path, KWOK_REHEARSAL)
    assert deleted and removed == {}
    assert not os.path.exists(path)


def test_an_empty_file_of_a_cluster_that_was_already_absent_is_left_alone(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_emptied_by_kwokctl.yaml")
    assert kubeconfig.remove_entries(path, KWOK_REHEARSAL, owned=False) == ({}, False)
    assert os.path.exists(path)


def test_check_mode_reports_and_writes_nothing(tmp_path):
    path = fixture_copy(tmp_path, "kubeconfig_shared.yaml")
    before = open(path).read()
    removed, deleted = kubeconfig.remove_entries(path, KWOK_REHEARSAL, check_mode=True)
    assert removed == KWOK_REHEARSAL and not deleted
    assert open(path).read() == before
    only = fixture_copy(tmp_path, "kubeconfig_kwok_only.yaml")
    assert kubeconfig.remove_entries(only, KWOK_REHEARSAL, check_mode=True)[1]
    assert os.path.exists(only)


def test_a_missing_file_is_nothing_to_do(tmp_path):
    assert kubeconfig.remove_entries(str(tmp_path / "none"), KWOK_REHEARSAL) == ({}, False)


@pytest.mark.parametrize("text", ["clusters: [unclosed\n", "- just\n- a list\n"])
def test_a_file_that_is_not_a_kubeconfig_is_left_as_it_is_and_named(tmp_path, text):
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(kubeconfig.KubeconfigError, match=str(path)):
        kubeconfig.remove_entries(str(path), KWOK_REHEARSAL)
    assert path.read_text() == text


def test_plan_removal_is_pure():
    with open(os.path.join(FIXTURES, "kubeconfig_shared.yaml")) as handle:
        config = yaml.safe_load(handle)
    snapshot = yaml.safe_dump(config)
    new, removed, empty = kubeconfig.plan_removal(config, {"contexts": ["staging"]})
    assert removed == {"contexts": ["staging"]} and not empty
    assert names(new, "contexts") == ["production", "kwok-rehearsal"]
    assert yaml.safe_dump(config) == snapshot
