import dataclasses

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import gobuild

# The directives of Traefik v3.6.12's go.mod that a wrapper must repeat (abridged).
TRAEFIK_GOMOD = """module github.com/traefik/traefik/v3

go 1.25.0

require (
\tgithub.com/abbot/go-http-auth v0.0.0-00010101000000-000000000000
\tgithub.com/gorilla/mux v1.8.1
)

// Containous forks
replace (
\tgithub.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e
\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
\tgithub.com/mailgun/minheap => github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595
)

// ambiguous import: found package github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http in multiple modules
exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible
"""


def test_excludes_are_read_single_and_in_blocks():
    text = TRAEFIK_GOMOD + "\nexclude (\n\texample.com/a v1.0.0 // broken\n\texample.com/b v0.2.0\n)\n"
    assert gobuild.module_excludes_from_gomod(text) == (
        ("example.com/a", "v1.0.0"), ("example.com/b", "v0.2.0"),
        ("github.com/tencentcloud/tencentcloud-sdk-go", "v3.0.83+incompatible"))


def test_an_exclude_that_is_not_a_module_and_version_is_refused():
    with pytest.raises(gobuild.BuildError, match="not a module and version"):
        gobuild.module_excludes_from_gomod("module m\n\nexclude a.example/x v1.0.0;rm\n")


def test_the_traefik_wrapper_repeats_its_forks_and_excludes_and_stamps_the_version():
    recipe = gobuild.traefik_recipe("v3.6.12", TRAEFIK_GOMOD, "/src/traefik")
    assert recipe.module == "github.com/traefik/traefik/v3" and recipe.binaries == ("traefik",)
    assert recipe.packages == ("github.com/traefik/traefik/v3/cmd/traefik",)
    assert "github.com/traefik/traefik/v3/pkg/version.Version=v3.6.12" in recipe.ldflags
    gomod = gobuild.wrapper_gomod(recipe)
    assert "go 1.25\n" in gomod
    assert "require github.com/traefik/traefik/v3 v3.6.12" in gomod
    assert ("\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59\n"
            in gomod)
    assert "exclude (\n\tgithub.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible\n)" in gomod
    assert recipe.module_dir == "/src/traefik"


def test_excludes_enter_the_fingerprint_only_when_there_are_some():
    recipe = gobuild.traefik_recipe("v3.6.12", TRAEFIK_GOMOD)
    assert dataclasses.replace(recipe, excludes=()).fingerprint() != recipe.fingerprint()
    # Recipes without excludes keep the fingerprint (and so the cached binaries) they had.
    hey = gobuild.hey_recipe("v0.1.5")
    assert hey.fingerprint() == dataclasses.replace(hey, excludes=()).fingerprint()
    assert "exclude" not in gobuild.wrapper_gomod(hey)


def test_hey_is_built_from_its_module_root():
    recipe = gobuild.hey_recipe("v0.1.5")
    assert recipe.packages == ("github.com/rakyll/hey",) and recipe.binaries == ("hey",)
    assert gobuild.build_command(recipe, "/out")[-1] == "github.com/rakyll/hey"


@pytest.mark.parametrize("option", ["traefik_version", "hey_version"])
def test_a_data_plane_version_that_is_not_a_release_is_refused(option):
    with pytest.raises(ValueError, match=option):
        gobuild.check_versions({option: "latest"})


def test_recipes_for_reads_traefik_s_go_mod_from_the_module(monkeypatch, tmp_path):
    gomod = tmp_path / "traefik.mod"
    gomod.write_text(TRAEFIK_GOMOD)
    fetched = []

    def download(module, version, go="go"):
        fetched.append((module, version))
        return {"GoMod": str(gomod), "Dir": "/src/traefik"}

    monkeypatch.setattr(gobuild, "download_module", download)
    traefik, hey = gobuild.recipes_for(["traefik", "hey"], {"traefik_version": "v3.6.12", "hey_version": "v0.1.5"})
    assert fetched == [("github.com/traefik/traefik/v3", "v3.6.12")]
    assert traefik.excludes and traefik.module_dir == "/src/traefik" and hey.key == "hey-v0.1.5"


def test_coredns_is_built_with_only_the_plugins_a_cluster_dns_uses_in_upstream_order():
    recipe = gobuild.coredns_recipe("v1.14.7")
    assert recipe.binaries == ("coredns",) and recipe.module == "github.com/coredns/coredns"
    main = recipe.main_source
    assert '_ "github.com/coredns/coredns/plugin/kubernetes"' in main
    assert "core/plugin" not in main and "forward" not in main
    # Upstream's order (core/dnsserver/zdirectives.go): ready, health … cache, kubernetes.
    assert 'dnsserver.Directives = []string{"ready", "health", "errors", "log", "loadbalance", "cache", ' \
           '"kubernetes"}' in main
    assert "require github.com/coredns/coredns v1.14.7" in gobuild.wrapper_gomod(recipe)
