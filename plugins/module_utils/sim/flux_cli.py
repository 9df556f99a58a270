# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifests the ``flux`` CLI embeds, made here from the controllers' own modules.

``flux install`` (and ``bootstrap``) render Flux from manifests compiled into the CLI
(``cmd/flux/manifests.embed.go``: ``//go:embed manifests/*.yaml``). They are not in the
``github.com/fluxcd/flux2/v2`` module: upstream's ``manifests/scripts/bundle.sh`` makes them
before the build with ``kustomize build`` of each ``manifests/bases/<controller>`` (and of
``manifests/rbac`` and ``manifests/policies``), and each base names two assets of its
controller's GitHub release, ``<controller>.crds.yaml`` and ``<controller>.deployment.yaml``.
GitHub is out of reach here; those assets are ``kustomize build config/crd`` and
``kustomize build config/manager`` of the controller's module at the release's tag (its
release workflow makes them so), and the module proxy serves those modules. So the recipe:

1. copies the flux2 module (gobuild's patched-module copy, with no patch);
2. reads each base's release URLs: the controller and its version (the same pins as the
   ``…/api`` requirements of flux2's ``go.mod``), fetches that module, and points the base at
   local files;
3. runs :data:`BUNDLE_MAIN`, a small Go program on kustomize's own library (``krusty``, at the
   version flux2's ``go.mod`` requires, the one the CLI renders with at install time): the
   release assets from the controllers' ``config/`` first, then every base, ``rbac`` and
   ``policies`` into ``cmd/flux/manifests/<name>.yaml``, as ``bundle.sh`` does;
4. builds ``cmd/flux`` with ``main.VERSION`` set, as upstream's Makefile does.

The CLI then uses the embedded manifests whenever ``--version`` is empty or its own release,
with no network at all.

No Ansible imports: gobuild (and so the ``sim_binaries`` module and the tests) call it.
"""

from __future__ import annotations

import hashlib
import os
import re

FLUX2_MODULE = "github.com/fluxcd/flux2/v2"
# https://github.com/fluxcd/<controller>/releases/download/<version>/<controller>.<crds|deployment>.yaml
_RELEASE_ASSET = re.compile(r"https://github\.com/fluxcd/([A-Za-z0-9_.-]+)/releases/download/(v[0-9A-Za-z.+-]+)/"
                            r"([A-Za-z0-9_.-]+\.(crds|deployment)\.yaml)")
# Bundled beside the bases, in bundle.sh's order.
EXTRA_DIRS = ("rbac", "policies")
BUNDLE_DIR = "gitops-bundle"

BUNDLE_MAIN = """package main

// kustomize build DIR > FILE for each pair of arguments, in order (a later DIR may use an
// earlier FILE), with kustomize's own library at the version the flux CLI renders with.

import (
    "fmt"
    "os"

    "sigs.k8s.io/kustomize/api/krusty"
    "sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
    args := os.Args[1:]
    if len(args)%2 != 0 {
        fmt.Fprintln(os.Stderr, "usage: bundle DIR FILE [DIR FILE ...]")
        os.Exit(2)
    }
    kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
    fs := filesys.MakeFsOnDisk()
    for i := 0; i < len(args); i += 2 {
        resources, err := kustomizer.Run(fs, args[i])
        if err != nil {
            fmt.Fprintf(os.Stderr, "kustomize build %s: %v\\n", args[i], err)
            os.Exit(1)
        }
        yaml, err := resources.AsYaml()
        if err != nil {
            fmt.Fprintf(os.Stderr, "kustomize build %s: %v\\n", args[i], err)
            os.Exit(1)
        }
        if err := os.WriteFile(args[i+1], yaml, 0o644); err != nil {
            fmt.Fprintln(os.Stderr, err)
            os.Exit(1)
        }
        fmt.Printf("%s -> %s (%d bytes)\\n", args[i], args[i+1], len(yaml))
    }
}
"""

# Part of the recipe's fingerprint: a changed generator builds the CLI again.
GENERATOR_ID = "flux-manifests-" + hashlib.sha256(BUNDLE_MAIN.encode()).hexdigest()[:12]


class ManifestError(ValueError):
    """flux2's manifests are not laid out the way this generator knows."""


def controller_module(controller, version):
    """The Go module of a Flux controller at a release: ``/vN`` from v2 on (source-watcher v2)."""
    major = int(re.match(r"^v(\d+)\.", version).group(1))
    return "github.com/fluxcd/%s%s" % (controller, "/v%d" % major if major >= 2 else "")


def release_assets(kustomization_text):
    """``[(controller, version, file name, config dir)]`` the base's release URLs name."""
    return [(controller, version, name, "config/crd" if kind == "crds" else "config/manager")
            for controller, version, name, kind in _RELEASE_ASSET.findall(kustomization_text)]


def local_kustomization(kustomization_text):
    """The base with each release URL replaced by the file name beside it."""
    return _RELEASE_ASSET.sub(lambda match: match.group(3), kustomization_text)


def plan_manifests(module_copy, download):
    """Point every base at local assets and return the ``(dir, file)`` pairs to build, in
    order: the assets from the controllers' modules, then the bases, ``rbac`` and
    ``policies`` into ``cmd/flux/manifests``. ``download(module, version)`` returns the
    module's directory. Raises ManifestError when a base names no release."""
    bases = os.path.join(module_copy, "manifests", "bases")
    if not os.path.isdir(bases):
        raise ManifestError("%s has no manifests/bases" % FLUX2_MODULE)
    out = os.path.join(module_copy, "cmd", "flux", "manifests")
    os.makedirs(out, exist_ok=True)
    assets, bundles = [], []
    for name in sorted(os.listdir(bases)):
        path = os.path.join(bases, name, "kustomization.yaml")
        with open(path) as handle:
            text = handle.read()
        found = release_assets(text)
        if not found:
            raise ManifestError("manifests/bases/%s/kustomization.yaml names no controller release" % name)
        for controller, version, file_name, config in found:
            source = os.path.join(download(controller_module(controller, version), version), config)
            assets.append((source, os.path.join(bases, name, file_name)))
        with open(path, "w") as handle:
            handle.write(local_kustomization(text))
        bundles.append((os.path.join(bases, name), os.path.join(out, "%s.yaml" % name)))
    for name in EXTRA_DIRS:
        bundles.append((os.path.join(module_copy, "manifests", name), os.path.join(out, "%s.yaml" % name)))
    return assets + bundles
