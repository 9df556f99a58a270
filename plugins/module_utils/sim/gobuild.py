# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the simulated platform's binaries from their Go modules, once per version.

Each *recipe* names a Go module at a pinned version, the main packages to build from
it, and the link flags that stamp the version into the binaries. A recipe is built in a
small wrapper module of its own under ``<cache>/src/<key>`` so that modules whose
``go.mod`` carries ``replace`` directives (Kubernetes' staging repositories) or whose
main package lives at the repository root (etcd) build the same way as the rest.
Finished binaries land in ``<cache>/bin/<key>/`` beside a stamp that records the
recipe; a later call with the same recipe finds the stamp and builds nothing.

This file has no Ansible imports: the ``sim_binaries`` module, the benchmarks and the
test harness all call it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

STAMP_NAME = ".recipe.json"

# The version stamp of a build made here: Kubernetes clients and controllers compare
# these with what they expect, so they must look like a release, not "v0.0.0-master".
_KUBE_VERSION_PACKAGES = ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")
_KUBE_BUILD_DATE = "2026-01-01T00:00:00Z"

_ETCD_MAIN = """package main

import (
    "os"

    "go.etcd.io/etcd/server/v3/etcdmain"
)

// The etcd binary's main package sits at the root of a module whose go.mod replaces
// its own sub-modules with local paths, so it cannot be built at a version directly.
func main() {
    etcdmain.Main(os.Args)
}
"""


class BuildError(Exception):
    """A Go build failed; the message carries the tail of its log."""


@dataclass(frozen=True)
class Recipe:
    """How to build one or more binaries from one Go module at one version."""

    key: str
    module: str
    version: str
    packages: tuple
    ldflags: tuple = ()
    replaces: tuple = ()
    main_source: str = ""
    env: tuple = field(default=(("CGO_ENABLED", "0"),))

    @property
    def binaries(self):
        return tuple(package.rstrip("/").rsplit("/", 1)[-1] for package in self.packages)

    def fingerprint(self):
        text = json.dumps([self.module, self.version, self.packages, self.ldflags,
                           self.replaces, self.main_source, self.env], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def kubernetes_recipe(version, staging_modules):
    """kube-apiserver, kube-controller-manager and kube-scheduler at ``version``.

    ``staging_modules`` are the module paths that k8s.io/kubernetes replaces with its
    staging directories; each is pinned to the matching v0.x.y published module.
    """
    major, minor, patch = _semver(version)
    staging_version = "v0.%d.%d" % (minor, patch)
    ldflags = []
    for package in _KUBE_VERSION_PACKAGES:
        ldflags += [
            "-X", "%s.gitVersion=%s" % (package, version),
            "-X", "%s.gitMajor=%d" % (package, major),
            "-X", "%s.gitMinor=%d" % (package, minor),
            "-X", "%s.gitTreeState=clean" % package,
            "-X", "%s.buildDate=%s" % (package, _KUBE_BUILD_DATE),
        ]
    return Recipe(
        key="kubernetes-%s" % version,
        module="k8s.io/kubernetes",
        version=version,
        packages=tuple("k8s.io/kubernetes/cmd/%s" % name for name in
                       ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
        ldflags=tuple(ldflags),
        replaces=tuple((module, staging_version) for module in sorted(staging_modules)),
    )


def kubectl_recipe(version, staging_modules):
    """kubectl alone, for the benchmarks that compare against ``kubectl wait``."""
    control_plane = kubernetes_recipe(version, staging_modules)
    return Recipe(key="kubectl-%s" % version, module=control_plane.module, version=version,
                  packages=("k8s.io/kubernetes/cmd/kubectl",), ldflags=control_plane.ldflags,
                  replaces=control_plane.replaces)


def etcd_recipe(version):
    return Recipe(
        key="etcd-%s" % version,
        module="go.etcd.io/etcd/server/v3",
        version=version,
        packages=("etcd",),
        main_source=_ETCD_MAIN,
    )


def kwok_recipe(version, kube_version):
    """kwok and kwokctl, with kwokctl's default Kubernetes version set to ours."""
    consts = "sigs.k8s.io/kwok/pkg/consts"
    return Recipe(
        key="kwok-%s-k8s-%s" % (version, kube_version),
        module="sigs.k8s.io/kwok",
        version=version,
        packages=("sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok/cmd/kwokctl"),
        ldflags=("-X", "%s.Version=%s" % (consts, version.lstrip("v")),
                 "-X", "%s.KubeVersion=%s" % (consts, kube_version.lstrip("v"))),
    )


def flagger_recipe(version):
    """Flagger's controller and its load tester."""
    return Recipe(
        key="flagger-%s" % version,
        module="github.com/fluxcd/flagger",
        version=version,
        packages=("github.com/fluxcd/flagger/cmd/flagger", "github.com/fluxcd/flagger/cmd/loadtester"),
    )


def recipes_for(components, versions, go="go"):
    """Recipes for component names (kubernetes, etcd, kwok, flagger).

    ``versions`` maps ``<component>_version`` to a release. The Kubernetes recipe reads
    the list of staging modules from k8s.io/kubernetes' own go.mod at that release.
    """
    kube_version = versions["kubernetes_version"]

    def staging():
        return staging_modules_from_gomod(module_gomod("k8s.io/kubernetes", kube_version, go))

    builders = {
        "kubernetes": lambda: kubernetes_recipe(kube_version, staging()),
        "etcd": lambda: etcd_recipe(versions["etcd_version"]),
        "kwok": lambda: kwok_recipe(versions["kwok_version"], kube_version),
        "flagger": lambda: flagger_recipe(versions["flagger_version"]),
        "kubectl": lambda: kubectl_recipe(kube_version, staging()),
    }
    unknown = sorted(set(components) - set(builders))
    if unknown:
        raise ValueError("components: unknown %s; choose from %s" % (
            ", ".join(unknown), ", ".join(sorted(builders))))
    _semver(kube_version)
    return [builders[name]() for name in dict.fromkeys(components)]


def staging_modules_from_gomod(gomod_text):
    """The modules a k8s.io/kubernetes go.mod replaces with ./staging directories."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod_text, re.M)))


def wrapper_gomod(recipe, go_version="1.24"):
    lines = ["module gitops.progressive/simbuild/%s" % re.sub(r"[^\w.-]", "-", recipe.key), "",
             "go %s" % go_version, "", "require %s %s" % (recipe.module, recipe.version)]
    if recipe.replaces:
        lines += ["", "replace ("]
        lines += ["\t%s => %s %s" % (module, module, version) for module, version in recipe.replaces]
        lines.append(")")
    return "\n".join(lines) + "\n"


def build_command(recipe, out_dir):
    """The ``go build`` call for a recipe; every main package in one invocation."""
    packages = ["."] if recipe.main_source else list(recipe.packages)
    command = ["go", "build", "-mod=mod", "-trimpath"]
    ldflags = ["-s", "-w"] + list(recipe.ldflags)
    command += ["-ldflags", " ".join(ldflags)]
    if recipe.main_source:
        command += ["-o", os.path.join(out_dir, recipe.binaries[0])]
    else:
        command += ["-o", out_dir + os.sep]
    return command + packages


class BinaryCache:
    """Where built binaries live, outside any checkout, keyed by recipe."""

    def __init__(self, root, go="go"):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.go = go

    def bin_dir(self, recipe):
        return os.path.join(self.root, "bin", recipe.key)

    def paths(self, recipe):
        return {name: os.path.join(self.bin_dir(recipe), name) for name in recipe.binaries}

    def is_built(self, recipe):
        try:
            with open(os.path.join(self.bin_dir(recipe), STAMP_NAME)) as stamp:
                recorded = json.load(stamp)
        except (OSError, ValueError):
            return False
        return (recorded.get("fingerprint") == recipe.fingerprint()
                and all(os.access(path, os.X_OK) for path in self.paths(recipe).values()))

    def build(self, recipe, log_path=None):
        """Build ``recipe`` unless the cache holds it. Returns seconds spent (0 if cached)."""
        if self.is_built(recipe):
            return 0.0
        started = time.monotonic()
        source_dir = os.path.join(self.root, "src", recipe.key)
        os.makedirs(source_dir, exist_ok=True)
        with open(os.path.join(source_dir, "go.mod"), "w") as gomod:
            gomod.write(wrapper_gomod(recipe))
        if recipe.main_source:
            with open(os.path.join(source_dir, "main.go"), "w") as main:
                main.write(recipe.main_source)
        # A half-written binary must never be taken for a finished one: build into a
        # scratch directory and move it into place with the stamp last.
        scratch = self.bin_dir(recipe) + ".partial"
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        env = dict(os.environ)
        env.update(dict(recipe.env))
        env.setdefault("GOTOOLCHAIN", "local")
        command = build_command(recipe, scratch)
        command[0] = self.go
        log_path = log_path or os.path.join(self.root, "logs", "%s.log" % recipe.key)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as log:
            log.write("$ %s\n" % " ".join(command))
            log.flush()
            result = subprocess.run(command, cwd=source_dir, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise BuildError("building %s %s failed (exit %d); last lines of %s:\n%s" % (
                recipe.module, recipe.version, result.returncode, log_path, _tail(log_path)))
        with open(os.path.join(scratch, STAMP_NAME), "w") as stamp:
            json.dump({"fingerprint": recipe.fingerprint(), "module": recipe.module,
                       "version": recipe.version, "binaries": list(recipe.binaries),
                       "seconds": round(time.monotonic() - started, 1)}, stamp)
        shutil.rmtree(self.bin_dir(recipe), ignore_errors=True)
        os.rename(scratch, self.bin_dir(recipe))
        return time.monotonic() - started

    def build_all(self, recipes, jobs=2):
        """Build the recipes the cache lacks, ``jobs`` at a time.

        Returns ``{recipe.key: seconds}``; raises BuildError naming every recipe that
        failed once all have finished.
        """
        seconds, failures = {}, []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(self.build, recipe): recipe for recipe in recipes}
            for future in concurrent.futures.as_completed(futures):
                recipe = futures[future]
                try:
                    seconds[recipe.key] = future.result()
                except (BuildError, OSError) as error:
                    failures.append(str(error))
        if failures:
            raise BuildError("\n\n".join(failures))
        return seconds


def download_module(module, version, go="go"):
    """Fetch ``module@version`` through the module proxy; returns ``go mod download -json``."""
    result = subprocess.run([go, "mod", "download", "-json", "%s@%s" % (module, version)],
                            capture_output=True, text=True, check=False,
                            env=dict(os.environ, GOTOOLCHAIN="local"))
    try:
        info = json.loads(result.stdout or "{}")
    except ValueError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        raise BuildError("cannot download %s@%s: %s" % (
            module, version, info.get("Error") or result.stderr.strip()))
    return info


def module_gomod(module, version, go="go"):
    """The go.mod text of ``module`` at ``version``."""
    with open(download_module(module, version, go)["GoMod"]) as gomod:
        return gomod.read()


def _semver(version):
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)$", version)
    if not match:
        raise ValueError("%r is not a release version like v1.33.13" % version)
    return tuple(int(part) for part in match.groups())


def _tail(path, lines=30):
    with open(path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])
