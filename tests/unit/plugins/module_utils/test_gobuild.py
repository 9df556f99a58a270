import dataclasses
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


@pytest.mark.parametrize("version", ["v1.33.13", "v0.8.0", "v1.34.0-rc.1", "v3.5.24-alpha.0"])
def test_release_versions_are_accepted(version):
    assert gobuild.check_version("etcd_version", version) == version


@pytest.mark.parametrize("version", [
    "1.33.13", "v1.33", "master", "v1.33.13 ", "v1.33.13\n", "v1.33.13\nreplace x => ../../etc", "v1.33.13/../../x",
    "v1.33.13-", "v1.33.13-rc..1/..", "v1.33.13+build", "", None, "v1.2.3-a b"])
def test_anything_else_is_refused_naming_the_option(version):
    with pytest.raises(ValueError, match="^flagger_version: .* is not a release version"):
        gobuild.check_version("flagger_version", version)


@pytest.mark.parametrize("option", gobuild.VERSION_OPTIONS)
def test_recipes_for_checks_every_version_option_before_anything_else(option, tmp_path, monkeypatch):
    versions = dict(kubernetes_version="v1.33.13", etcd_version="v3.5.24", kwok_version="v0.8.0",
                    flagger_version="v1.41.0", flux_version="v2.9.3")
    versions[option] = "v1.0.0\nreplace evil => /tmp"
    # Nothing may be fetched either: the go.mod look-up would be the first thing to run.
    monkeypatch.setattr(gobuild, "module_gomod", lambda *args: pytest.fail("fetched before checking"))
    with pytest.raises(ValueError, match="^%s: " % option):
        gobuild.recipes_for(["kubernetes", "etcd", "kwok", "flagger"], versions)


def test_a_recipe_with_a_bad_version_writes_nothing(tmp_path):
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=_fake_go(tmp_path))
    recipe = gobuild.Recipe(key="etcd-x", module="go.etcd.io/etcd/server/v3", version="v3.5.24 ../../x",
                            packages=("etcd",), main_source="package main\n")
    with pytest.raises(ValueError, match="is not a release version"):
        cache.build(recipe)
    assert not (tmp_path / "cache" / "src").exists() and not (tmp_path / "calls").exists()


def test_sources_are_module_at_a_release():
    assert gobuild.parse_source("sources[0]", "istio.io/api@v1.26.0") == ("istio.io/api", "v1.26.0")
    for bad in ("istio.io/api", "istio.io/api@latest", "@v1.0.0", "../x@v1.0.0", "a b@v1.0.0"):
        with pytest.raises(ValueError, match=r"^sources\[0\]: "):
            gobuild.parse_source("sources[0]", bad)


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
    with pytest.raises(ValueError, match="unknown kustomize"):
        gobuild.recipes_for(["kustomize"], {"kubernetes_version": "v1.33.13"})


def test_fingerprint_changes_with_the_version():
    assert gobuild.etcd_recipe("v3.5.24").fingerprint() != gobuild.etcd_recipe("v3.5.25").fingerprint()


def _fake_go(tmp_path, exit_code=0, sleep=0.0):
    """A stand-in for `go` that writes the binaries `go build -o DIR/ pkg...` names."""
    script = tmp_path / "go"
    script.write_text("""#!/usr/bin/env python3
import os, sys, time
time.sleep(%s)
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
""" % (sleep, exit_code, exit_code))
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
    recipe = dataclasses.replace(gobuild.flagger_recipe("v1.41.0"), patches=())
    with pytest.raises(gobuild.BuildError, match="github.com/fluxcd/flagger v1.41.0 failed") as error:
        cache.build_all([recipe])
    assert "compile error: something broke" in str(error.value)
    assert not os.path.exists(cache.bin_dir(recipe))
    assert not cache.is_built(recipe)


FLAGGER_FILES = {
    "pkg/server/server.go": 'import (\n\t"context"\n\t"net/http"\n\t"time"\n)\n\n'
                            "// ListenAndServe starts a web server and waits for SIGTERM\n"
                            "func ListenAndServe(port string) {\n\tsrv := &http.Server{\n"
                            '\t\tAddr:         ":" + port,\n\t}\n}\n',
    "pkg/loadtester/server.go": 'import (\n\t"io"\n\t"net/http"\n)\n\n'
                                "// ListenAndServe starts a web server and waits for SIGTERM\n"
                                "func ListenAndServe(port string) {\n\tsrv := &http.Server{\n"
                                '\t\tAddr:    ":" + port,\n\t}\n}\n',
    "cmd/flagger/main.go": 'func init() {\n\tflag.StringVar(&port, "port", "8080", "Port to listen on.")\n}\n',
    "cmd/loadtester/main.go": 'func init() {\n\tflag.StringVar(&port, "port", "9090", "Port to listen on.")\n}\n',
    "README.md": "untouched\n",
}


def _module_tree(root, files):
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o444)  # as read-only as the module cache
    return root


def test_flagger_is_patched_to_listen_on_loopback_through_a_flag(tmp_path):
    module = _module_tree(tmp_path / "flagger@v1.41.0", FLAGGER_FILES)
    gobuild.copy_patched_module(str(module), str(tmp_path / "copy"), gobuild.FLAGGER_LISTEN_PATCHES)
    for server in ("pkg/server/server.go", "pkg/loadtester/server.go"):
        text = (tmp_path / "copy" / server).read_text()
        assert '":" + port' not in text
        assert "net.JoinHostPort(ListenAddress, port)," in text
        assert 'var ListenAddress = "127.0.0.1"' in text
        assert '\t"net"\n\t"net/http"\n' in text
    for main, package in (("cmd/flagger/main.go", "server"), ("cmd/loadtester/main.go", "loadtester")):
        text = (tmp_path / "copy" / main).read_text()
        assert 'flag.StringVar(&%s.ListenAddress, "listen-address", "127.0.0.1",' % package in text
    assert (tmp_path / "copy" / "README.md").read_text() == "untouched\n"
    # The copy is writable (the cache can replace it), the module cache is not touched.
    assert os.access(str(tmp_path / "copy" / "cmd" / "flagger" / "main.go"), os.W_OK)
    assert (module / "cmd" / "flagger" / "main.go").read_text() == FLAGGER_FILES["cmd/flagger/main.go"]


def test_a_patch_that_no_longer_fits_names_the_file(tmp_path):
    files = dict(FLAGGER_FILES)
    files["pkg/server/server.go"] = files["pkg/server/server.go"].replace('":" + port', '"0.0.0.0:" + port')
    module = _module_tree(tmp_path / "flagger", files)
    with pytest.raises(gobuild.PatchError, match="patch for pkg/server/server.go: expected .* found it 0 times"):
        gobuild.copy_patched_module(str(module), str(tmp_path / "copy"), gobuild.FLAGGER_LISTEN_PATCHES)
    with pytest.raises(gobuild.PatchError, match="found it 2 times"):
        gobuild.apply_patch("a a", gobuild.SourcePatch("f.go", "a", "b"))


def test_the_flagger_recipe_builds_the_patched_copy_and_a_changed_patch_builds_again():
    recipe = gobuild.flagger_recipe("v1.41.0")
    assert recipe.patches == gobuild.FLAGGER_LISTEN_PATCHES
    gomod = gobuild.wrapper_gomod(recipe)
    assert "require github.com/fluxcd/flagger v1.41.0" in gomod
    assert "replace github.com/fluxcd/flagger => ./module" in gomod
    changed = dataclasses.replace(recipe, patches=recipe.patches[:-1])
    assert changed.fingerprint() != recipe.fingerprint()


def test_recipes_without_patches_keep_the_fingerprint_they_had():
    """The hash of etcd v3.5.24 from before patches existed: its cached binaries stay valid."""
    assert gobuild.etcd_recipe("v3.5.24").fingerprint() == "c00d6da5f1f54cf8"


def test_a_patched_recipe_builds_from_the_copy(tmp_path, monkeypatch):
    module = _module_tree(tmp_path / "modcache" / "flagger@v1.41.0", FLAGGER_FILES)
    monkeypatch.setattr(gobuild, "download_module", lambda name, version, go: {"Dir": str(module)})
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=_fake_go(tmp_path))
    recipe = gobuild.flagger_recipe("v1.41.0")
    cache.build(recipe)
    assert cache.is_built(recipe)
    source = tmp_path / "cache" / "src" / recipe.key
    assert "replace github.com/fluxcd/flagger => ./module" in (source / "go.mod").read_text()
    assert "ListenAddress" in (source / "module" / "pkg" / "loadtester" / "server.go").read_text()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_progress_reports_at_start_every_interval_and_at_the_end():
    clock, lines = FakeClock(), []
    kube = gobuild.kubernetes_recipe("v1.33.13", [])
    etcd = gobuild.etcd_recipe("v3.5.24")
    progress = gobuild.BuildProgress(lines.append, clock=clock, interval=30)
    progress.started(kube)
    clock.now += 10
    progress.started(etcd)
    progress.tick()
    assert lines == ["building kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler): 0s",
                     "building etcd v3.5.24 (etcd): 0s"]
    clock.now += 20
    progress.tick()  # kubernetes is due (30 s), etcd is not (20 s)
    assert lines[-1] == "building kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler): 30s"
    assert len(lines) == 3
    clock.now += 10
    progress.tick()
    assert lines[-1] == "building etcd v3.5.24 (etcd): 30s"
    clock.now += 100
    progress.tick()
    assert lines[-2:] == [
        "building kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler): 2m20s",
        "building etcd v3.5.24 (etcd): 2m10s"]
    progress.finished(etcd, 130.4)
    clock.now += 431
    progress.tick()
    progress.finished(kube, 571.2)
    assert lines[-2:] == [
        "building kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler): 9m31s",
        "built kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler) in 571 s"]
    assert "built etcd v3.5.24 (etcd) in 130 s" in lines
    progress.tick()
    assert not progress.running


def test_progress_of_a_failed_build():
    clock, lines = FakeClock(), []
    progress = gobuild.BuildProgress(lines.append, clock=clock, interval=30)
    recipe = gobuild.flagger_recipe("v1.41.0")
    progress.started(recipe)
    clock.now += 42
    progress.failed(recipe)
    assert lines[-1] == "building flagger v1.41.0 (flagger, loadtester) failed after 42 s"


def test_durations_read_like_a_clock():
    assert [gobuild.format_duration(value) for value in (0, 59.9, 130, 3723)] == ["0s", "59s", "2m10s", "1h02m03s"]


def test_build_all_reports_progress_of_real_builds_from_the_calling_thread(tmp_path):
    """Two slow fake builds, one job at a time: each reports its start, ticks, its end."""
    import threading

    go = _fake_go(tmp_path, sleep=0.6)
    cache = gobuild.BinaryCache(str(tmp_path / "cache"), go=go)
    lines, threads = [], set()

    def report(line):
        lines.append(line)
        threads.add(threading.current_thread().name)

    recipes = [gobuild.kwok_recipe("v0.8.0", "v1.33.13"), gobuild.etcd_recipe("v3.5.24")]
    progress = gobuild.BuildProgress(report, interval=0.2)
    seconds = cache.build_all(recipes, jobs=1, progress=progress, poll=0.05)
    assert set(seconds) == {recipe.key for recipe in recipes}
    assert threads == {threading.current_thread().name}
    kwok = [line for line in lines if "kwok v0.8.0" in line]
    assert kwok[0] == "building kwok v0.8.0 (kwok, kwokctl): 0s"
    # 0.6 s of build, a line every 0.2 s: the start and at least one more while it runs.
    assert len([line for line in kwok if line.startswith("building kwok v0.8.0 (kwok, kwokctl): ")]) >= 2
    assert kwok[-1].startswith("built kwok v0.8.0 (kwok, kwokctl) in ")
    # One job at a time: etcd starts only after kwok is built.
    assert lines.index(kwok[-1]) < lines.index("building etcd v3.5.24 (etcd): 0s")
