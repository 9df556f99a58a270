import dataclasses
import os

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import gobuild

FLUX_GOMOD = """module github.com/fluxcd/flux2/v2

go 1.26.0

require (
\tgithub.com/fluxcd/helm-controller/api v1.6.3
\tgithub.com/fluxcd/kustomize-controller/api v1.9.4
\tgithub.com/fluxcd/notification-controller/api v1.9.2
\tgithub.com/fluxcd/source-controller/api v1.9.3
)
"""

HELM_CONTROLLER_GOMOD = """module github.com/fluxcd/helm-controller

go 1.26.0

replace github.com/fluxcd/helm-controller/api => ./api

// Replace digest lib to master to gather access to BLAKE3.
replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20231025023718-d50d2fec9c98

replace (
\tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
\tsigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1
)

// Pin helm to v4.2.4-flux.1
replace helm.sh/helm/v4 => github.com/fluxcd/helm/v4 v4.2.4-flux.1

require (
\thelm.sh/helm/v4 v4.2.2
)
"""


def test_controller_versions_come_from_the_flux_release_go_mod():
    assert gobuild.flux_versions_from_gomod(FLUX_GOMOD) == {
        "source-controller": "v1.9.3", "kustomize-controller": "v1.9.4",
        "helm-controller": "v1.6.3", "notification-controller": "v1.9.2"}


def test_a_flux_release_without_a_controller_is_an_error():
    try:
        gobuild.flux_versions_from_gomod("module x\n")
    except gobuild.BuildError as error:
        assert "source-controller/api" in str(error)
    else:
        raise AssertionError("expected a BuildError")


def test_module_replaces_are_repeated_local_ones_dropped_and_forks_swapped_for_upstream():
    replaces = gobuild.module_replaces_from_gomod(HELM_CONTROLLER_GOMOD)
    assert replaces == (
        ("github.com/opencontainers/go-digest", "v1.0.1-0.20231025023718-d50d2fec9c98"),
        ("helm.sh/helm/v4", "v4.2.4"),
        ("sigs.k8s.io/kustomize/api", "v0.21.1"),
        ("sigs.k8s.io/kustomize/kyaml", "v0.21.1"),
    )


def test_a_controller_recipe_builds_the_module_root_in_a_wrapper_on_its_go_version():
    recipe = gobuild.flux_controller_recipe("helm-controller", "v1.6.3", HELM_CONTROLLER_GOMOD)
    assert recipe.binaries == ("helm-controller",)
    gomod = gobuild.wrapper_gomod(recipe)
    assert "go 1.26\n" in gomod
    assert "require github.com/fluxcd/helm-controller v1.6.3" in gomod
    assert "\thelm.sh/helm/v4 => helm.sh/helm/v4 v4.2.4\n" in gomod
    assert "./api" not in gomod


def test_the_go_version_only_enters_the_fingerprint_when_set():
    plain = gobuild.etcd_recipe("v3.5.24")
    assert "1.26" not in repr(plain.fingerprint())
    flux = gobuild.flux_controller_recipe("helm-controller", "v1.6.3", HELM_CONTROLLER_GOMOD)
    import dataclasses
    assert dataclasses.replace(flux, go_version="1.27").fingerprint() != flux.fingerprint()


def test_a_replace_with_an_odd_version_is_refused():
    text = "module m\n\nreplace a.example/x => b.example/y v1.0.0;rm\n"
    try:
        gobuild.module_replaces_from_gomod(text)
    except gobuild.BuildError as error:
        assert "a.example/x" in str(error)
    else:
        raise AssertionError("expected a BuildError")


def test_helm_recipe_names_the_major_version_module():
    recipe = gobuild.helm_recipe("v4.2.4")
    assert recipe.module == "helm.sh/helm/v4" and recipe.binaries == ("helm",)


# The flux CLI: its embedded manifests made from the controllers' modules (flux_cli.py).
from ansible_collections.gitops.progressive.plugins.module_utils.sim import flux_cli  # noqa: E402

SOURCE_BASE = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- https://github.com/fluxcd/source-controller/releases/download/v1.9.3/source-controller.crds.yaml
- https://github.com/fluxcd/source-controller/releases/download/v1.9.3/source-controller.deployment.yaml
- account.yaml
"""
WATCHER_BASE = SOURCE_BASE.replace("source-controller", "source-watcher").replace("v1.9.3", "v2.2.2")


def test_a_base_names_its_controllers_release_assets_and_the_config_dirs_they_come_from():
    assert flux_cli.release_assets(SOURCE_BASE) == [
        ("source-controller", "v1.9.3", "source-controller.crds.yaml", "config/crd"),
        ("source-controller", "v1.9.3", "source-controller.deployment.yaml", "config/manager")]


def test_a_base_points_at_local_files_instead_of_github():
    text = flux_cli.local_kustomization(SOURCE_BASE)
    assert "github.com" not in text
    assert "- source-controller.crds.yaml\n- source-controller.deployment.yaml\n- account.yaml\n" in text


def test_a_controller_of_major_two_or_more_is_its_vN_module():
    assert flux_cli.controller_module("source-controller", "v1.9.3") == "github.com/fluxcd/source-controller"
    assert flux_cli.controller_module("source-watcher", "v2.2.2") == "github.com/fluxcd/source-watcher/v2"


def make_flux2(root, bases):
    for name, text in bases.items():
        (root / "manifests" / "bases" / name).mkdir(parents=True)
        (root / "manifests" / "bases" / name / "kustomization.yaml").write_text(text)
    return root


def test_the_plan_builds_every_asset_before_the_bases_then_rbac_and_policies(tmp_path):
    copy = make_flux2(tmp_path / "flux2", {"source-controller": SOURCE_BASE, "source-watcher": WATCHER_BASE})
    fetched = []

    def download(module, version):
        fetched.append((module, version))
        return "/mod/%s@%s" % (module, version)

    pairs = flux_cli.plan_manifests(str(copy), download)
    bases, out = str(copy / "manifests" / "bases"), str(copy / "cmd" / "flux" / "manifests")
    assert pairs == [
        ("/mod/github.com/fluxcd/source-controller@v1.9.3/config/crd", bases + "/source-controller/source-controller.crds.yaml"),
        ("/mod/github.com/fluxcd/source-controller@v1.9.3/config/manager",
         bases + "/source-controller/source-controller.deployment.yaml"),
        ("/mod/github.com/fluxcd/source-watcher/v2@v2.2.2/config/crd", bases + "/source-watcher/source-watcher.crds.yaml"),
        ("/mod/github.com/fluxcd/source-watcher/v2@v2.2.2/config/manager",
         bases + "/source-watcher/source-watcher.deployment.yaml"),
        (bases + "/source-controller", out + "/source-controller.yaml"),
        (bases + "/source-watcher", out + "/source-watcher.yaml"),
        (str(copy / "manifests" / "rbac"), out + "/rbac.yaml"),
        (str(copy / "manifests" / "policies"), out + "/policies.yaml"),
    ]
    assert "github.com" not in (copy / "manifests" / "bases" / "source-watcher" / "kustomization.yaml").read_text()
    assert os.path.isdir(out)


def test_a_base_that_names_no_release_is_refused_before_anything_is_built(tmp_path):
    copy = make_flux2(tmp_path / "flux2", {"odd": "resources: [a.yaml]\n"})
    with pytest.raises(flux_cli.ManifestError, match="manifests/bases/odd/kustomization.yaml names no controller release"):
        flux_cli.plan_manifests(str(copy), lambda module, version: "/unused")


def test_the_cli_recipe_builds_cmd_flux_from_a_copy_with_its_version_stamped_as_upstream_does():
    recipe = gobuild.flux_cli_recipe("v2.9.3", FLUX_GOMOD.replace("go 1.26.0", "go 1.26.0\n\nreplace gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.1"))
    assert recipe.binaries == ("flux",)
    assert recipe.ldflags == ("-X", "main.VERSION=2.9.3")
    gomod = gobuild.wrapper_gomod(recipe)
    assert "replace github.com/fluxcd/flux2/v2 => ./module" in gomod
    assert "gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.1" in gomod
    # The generator's program is part of what the binary was built from.
    changed = dataclasses.replace(recipe, generate="")
    assert changed.fingerprint() != recipe.fingerprint()
