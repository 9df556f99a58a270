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
