import json
import os
import stat

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import gobuild

KUBE_GOMOD = """module k8s.io/kubernetes

go 1.24.0

require (
\tk8s.io/api v0.0.0
\tgithub.com/spf13/cobra v1.8.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/component-base => ./staging/src/k8s.io/component-base
)
"""


def test_staging_modules_are_read_from_the_replace_block():
    assert gobuild.staging_modules_from_gomod(KUBE_GOMOD) == [
        "k8s.io/api", "k8s.io/client-go", "k8s.io/component-base"]


def test_kubernetes_recipe_pins_staging_modules_to_the_matching_release():
    recipe = gobuild.kubernetes_recipe("v1.33.13", ["k8s.io/client-go", "k8s.io/api"])
    assert recipe.replaces == (("k8s.io/api", "v0.33.13"), ("k8s.io/client-go", "v0.33.13"))
    assert recipe.binaries == ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    gomod = gobuild.wrapper_gomod(recipe)
    assert "require k8s.io/kubernetes v1.33.13" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.33.13" in gomod


def test_kubernetes_recipe_stamps_the_version_into_both_version_packages():
    flags = " ".join(gobuild.kubernetes_recipe("v1.33.13", []).ldflags)
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        assert "%s.gitVersion=v1.33.13" % package in flags
        assert "%s.gitMajor=1" % package in flags
        assert "%s.gitMinor=33" % package in flags


def test_a_version_that_is_not_a_release_is_refused():
    with pytest.raises(ValueError, match="v1.33.13"):
        gobuild.kubernetes_recipe("master", [])


def test_etcd_builds_from_a_wrapper_main_package():
    recipe = gobuild.etcd_recipe("v3.5.24")
    command = gobuild.build_command(recipe, "/out")
    assert command[-1] == "."
    assert command[command.index("-o") + 1] == "/out/etcd"
    assert "etcdmain.Main(os.Args)" in recipe.main_source


def test_kwok_recipe_sets_kwokctl_default_kubernetes_version():
    recipe = gobuild.kwok_recipe("v0.8.0", "v1.33.13")
    assert "sigs.k8s.io/kwok/pkg/consts.KubeVersion=1.33.13" in recipe.ldflags
    assert recipe.binaries == ("kwok", "kwokctl")
    command = gobuild.build_command(recipe, "/out")
    assert command[-2:] == ["sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok/cmd/kwokctl"]


def test_recipes_for_rejects_unknown_components():
    with pytest.raises(ValueError, match="unknown helm"):
        gobuild.recipes_for(["helm"], {"kubernetes_version": "v1.33.13"})


def test_fingerprint_changes_with_the_version():
    assert gobuild.etcd_recipe("v3.5.24").fingerprint() != gobuild.etcd_recipe("v3.5.25").fingerprint()


def _fake_go(tmp_path, exit_code=0):
    """A stand-in for `go` that writes the binaries `go build -o DIR/ pkg...` names."""
    script = tmp_path / "go"
    script.write_text("""#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.path.join(os.path.dirname(sys.argv[0]), "calls"), "a") as calls:
    calls.write(" ".join(args) + "\\n")
if %d:
    print("compile error: something broke")
    sys.exit(%d)
out = args[args.index("-o") + 1]
packages = args[args.index("-o") + 2:]
targets = [out] if not out.endswith(os.sep) else [os.path.join(out, p.rsplit("/", 1)[-1]) for p in packages]
for target in targets:
    with open(target, "w") as binary:
        binary.write("#!/bin/sh\\n")
    os.chmod(target, 0o755)
""" % (exit_code, exit_code))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_cached_recipe_is_not_built_again(tmp_path):
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=_fake_go(tmp_path))
    recipe = gobuild.kwok_recipe("v0.8.0", "v1.33.13")
    assert not cache.is_built(recipe)
    assert cache.build_all([recipe])[recipe.key] > 0
    assert cache.is_built(recipe)
    assert cache.build(recipe) == 0.0
    assert len((tmp_path / "calls").read_text().splitlines()) == 1
    for path in cache.paths(recipe).values():
        assert os.access(path, os.X_OK)
    stamp = json.loads((tmp_path / "cache" / "bin" / recipe.key / gobuild.STAMP_NAME).read_text())
    assert stamp["version"] == "v0.8.0"


def test_a_changed_recipe_is_built_again(tmp_path):
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=_fake_go(tmp_path))
    cache.build(gobuild.kwok_recipe("v0.8.0", "v1.33.13"))
    fields = dict(gobuild.kwok_recipe("v0.8.0", "v1.33.13").__dict__)
    fields["ldflags"] = ("-X", "a=b")
    changed = gobuild.Recipe(**fields)
    assert not cache.is_built(changed)


def test_a_failed_build_names_the_module_and_leaves_nothing_behind(tmp_path):
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=_fake_go(tmp_path, exit_code=2))
    recipe = gobuild.flagger_recipe("v1.41.0")
    with pytest.raises(gobuild.BuildError, match="github.com/fluxcd/flagger v1.41.0 failed") as error:
        cache.build_all([recipe])
    assert "compile error: something broke" in str(error.value)
    assert not os.path.exists(cache.bin_dir(recipe))
    assert not cache.is_built(recipe)
