"""The sim_binaries task (module_utils/sim/binaries.py): options checked first, progress reported."""

import os
import stat

import pytest

from ansible_collections.gitops.progressive.plugins.module_utils.sim import binaries


def params(tmp_path, **overrides):
    values = dict(components=["etcd"], sources=[], kubernetes_version="v1.33.13", etcd_version="v3.5.24",
                  kwok_version="v0.8.0", flagger_version="v1.41.0", cache_dir=str(tmp_path / "cache"),
                  jobs=2, go=str(tmp_path / "go"), progress_interval=30)
    values.update(overrides)
    return values


def fake_go(tmp_path):
    script = tmp_path / "go"
    script.write_text("""#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.path.join(os.path.dirname(sys.argv[0]), "calls"), "a") as calls:
    calls.write(" ".join(args) + "\\n")
out = args[args.index("-o") + 1]
with open(out, "w") as binary:
    binary.write("#!/bin/sh\\n")
os.chmod(out, 0o755)
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("option,value,message", [
    ("etcd_version", "v3.5", "etcd_version: 'v3.5' is not a release version"),
    ("flagger_version", "v1.41.0; rm -rf /", "flagger_version: "),
    ("kwok_version", "latest", "kwok_version: 'latest'"),
    ("kubernetes_version", "v1.33.13\nreplace k8s.io/api => /tmp", "kubernetes_version: "),
    ("sources", ["istio.io/api@main"], r"sources\[0\]: 'istio.io/api@main'"),
    ("sources", ["github.com/fluxcd/flagger@v1.41.0", "istio.io/api"], r"sources\[1\]: 'istio.io/api' is not module@version"),
    ("jobs", 0, "jobs must be between 1 and 64, got 0"),
    ("jobs", 10 ** 6, "jobs must be between 1 and 64"),
    ("progress_interval", 0, "progress_interval must be between 1 and 3600 seconds"),
    ("registry_version", "main", "registry_version: 'main' is not a release version"),
    ("helm3_version", "v3.22.0; rm -rf /", "helm3_version: "),
    ("cache_dir", "", "cache_dir may not be empty"),
])
def test_a_bad_option_fails_naming_it_before_anything_is_written_or_run(tmp_path, option, value, message):
    fake_go(tmp_path)
    with pytest.raises(ValueError, match=message):
        binaries.run(params(tmp_path, **{option: value}), check_mode=False, environ={})
    assert not (tmp_path / "cache").exists()
    assert not (tmp_path / "calls").exists()


def test_every_bad_option_is_named_in_one_error():
    with pytest.raises(ValueError) as error:
        binaries.check_options(dict(jobs=0, progress_interval=1, cache_dir=None, go="go", sources=["x"],
                                    etcd_version="v3.5", registry_version="main"))
    message = str(error.value)
    assert "jobs must be" in message and "etcd_version: 'v3.5'" in message and "registry_version: 'main'" in message
    assert "sources[0]: 'x' is not module@version" in message


def test_a_build_reports_its_progress_and_a_second_run_builds_nothing(tmp_path):
    fake_go(tmp_path)
    lines = []
    result = binaries.run(params(tmp_path), check_mode=False, environ={}, report=lines.append)
    assert result["changed"] and result["built"] == ["etcd-v3.5.24"]
    assert os.access(result["binaries"]["etcd"], os.X_OK)
    assert lines[0].startswith("sim_binaries: 1 to build (etcd-v3.5.24), 2 at a time; logs in ")
    assert lines[1] == "building etcd v3.5.24 (etcd): 0s"
    assert lines[-1].startswith("built etcd v3.5.24 (etcd) in ")
    again, quiet = binaries.run(params(tmp_path), check_mode=False, environ={}, report=[].append), []
    assert not again["changed"] and again["built"] == [] and quiet == []


def test_check_mode_says_what_would_be_built_and_builds_nothing(tmp_path):
    fake_go(tmp_path)
    result = binaries.run(params(tmp_path), check_mode=True, environ={})
    assert result["changed"] and result["built"] == ["etcd-v3.5.24"]
    assert not (tmp_path / "calls").exists()


def test_the_cache_comes_from_the_option_then_the_environment(tmp_path):
    assert binaries.cache_root(dict(cache_dir="/a"), {"GITOPS_PROGRESSIVE_CACHE": "/b"}) == "/a"
    assert binaries.cache_root(dict(cache_dir=None), {"GITOPS_PROGRESSIVE_CACHE": "/b"}) == "/b"
    assert binaries.cache_root(dict(cache_dir=None), {}) == binaries.DEFAULT_CACHE
