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

A recipe may carry *source patches* (:class:`SourcePatch`): the module is then copied
into the wrapper (``<cache>/src/<key>/module``), each patch replaces one exact piece of
text that must occur exactly once, and the wrapper's ``go.mod`` replaces the module with
that copy. Go's ``-overlay`` would be lighter but refuses files in the module cache. The
patches are part of the recipe's fingerprint, so a changed patch builds again.

Every version is checked against :data:`VERSION_PATTERN` before it is written anywhere
(``go.mod``, link flags, cache paths): it is a path component and a ``go.mod`` token.

This file has no Ansible imports (only the collection's ``errors.py``, which has none): the
``sim_binaries`` module, the benchmarks and the test harness all call it.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.sim.flux_cli import BUNDLE_DIR, BUNDLE_MAIN, FLUX2_MODULE
from ansible_collections.gitops.progressive.plugins.module_utils.sim.flux_cli import GENERATOR_ID as FLUX_GENERATOR_ID
from ansible_collections.gitops.progressive.plugins.module_utils.sim.flux_cli import ManifestError, plan_manifests
from ansible_collections.gitops.progressive.plugins.module_utils.sim.demo_app import (
    DEMO_APP_MAIN,
    DEMO_APP_VERSION,
    PAUSE_MAIN,
    PAUSE_VERSION,
)

STAMP_NAME = ".recipe.json"
DOWNLOAD_TIMEOUT = 900

# A release tag as Go modules spell it: v1.33.13, v0.8.0, v1.34.0-rc.1. Nothing else goes
# into go.mod, link flags or cache paths (no spaces, slashes, newlines or "..").
VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")
VERSION_OPTIONS = ("kubernetes_version", "etcd_version", "kwok_version", "flagger_version", "flux_version",
                   "registry_version", "helm3_version", "cni_version", "traefik_version", "hey_version", "prometheus_version",
                   "coredns_version")
# Any Go module version, pseudo-versions included (v1.0.1-0.20220411205349-bde1400a84be):
# what a dependency's go.mod may pin in a replace.
_GO_MODULE_VERSION = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+incompatible)?$")
# A Go module path as the module proxy accepts it.
_MODULE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9._~-]+)*$")

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


class BuildError(CollectionError):
    """A Go build failed; the message carries the tail of its log."""


def check_version(option, version):
    """``version`` if it is a release tag (VERSION_PATTERN); ValueError naming ``option`` if not."""
    if not _is_release(version):
        raise ValueError("%s: %r is not a release version like v1.33.13 (vMAJOR.MINOR.PATCH[-PRERELEASE])"
                         % (option, version if not isinstance(version, str) or len(version) <= 80
                            else version[:80] + "..."))
    return version


def _is_release(version):
    return isinstance(version, str) and bool(VERSION_PATTERN.fullmatch(version)) and ".." not in version


def check_versions(values):
    """Check every ``*_version`` option present in ``values`` (task options); one ValueError naming each wrong one."""
    problems = []
    for option in VERSION_OPTIONS:
        if option in values:
            try:
                check_version(option, values[option])
            except ValueError as error:
                problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))


def parse_source(option, source):
    """``(module, version)`` from ``module@version``, both checked."""
    module, _at, version = source.partition("@")
    if not module or not version or not _MODULE_PATTERN.fullmatch(module) or ".." in module:
        raise ValueError("%s: %r is not module@version (for example istio.io/api@v1.26.0)" % (option, source))
    if not _is_release(version):
        raise ValueError("%s: %r: %r is not a release version like v1.26.0 (vMAJOR.MINOR.PATCH[-PRERELEASE])"
                         % (option, source, version))
    return module, version


@dataclass(frozen=True)
class SourcePatch:
    """Replace ``old`` (which must occur exactly once) with ``new`` in ``path`` of the module."""

    path: str
    old: str
    new: str


class PatchError(BuildError):
    """A source patch no longer matches the module it was written for."""


def apply_patch(text, patch):
    found = text.count(patch.old)
    if found != 1:
        raise PatchError("patch for %s: expected %r once, found it %d times (the patch no longer fits "
                         "this version of the module)" % (patch.path, patch.old, found))
    return text.replace(patch.old, patch.new)


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
    patches: tuple = ()
    # What progress lines call it: "kubernetes", "flagger" (the key without the version).
    component: str = ""
    # The wrapper's ``go`` line when a module needs a newer one than the default.
    go_version: str = ""
    # Where the module's source is, when it was fetched to read its go.mod (not part of
    # the fingerprint): the Flux controllers' CRDs are read from there.
    module_dir: str = field(default="", compare=False)
    # ``(module, version)`` pairs the module's own go.mod excludes, repeated in the wrapper.
    excludes: tuple = ()
    # Files the build needs that the module lacks, made in the module's copy before the build
    # (``"flux-manifests"``: the flux CLI's embedded manifests, flux_cli.py). The generator's
    # identity (its name and a digest of its program) is part of the fingerprint.
    generate: str = ""

    @property
    def binaries(self):
        return tuple(package.rstrip("/").rsplit("/", 1)[-1] for package in self.packages)

    @property
    def title(self):
        """``kubernetes v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler)``."""
        return "%s %s (%s)" % (self.component or self.key, self.version, ", ".join(self.binaries))

    def fingerprint(self):
        parts = [self.module, self.version, self.packages, self.ldflags, self.replaces, self.main_source, self.env]
        if self.patches:
            # Only recipes with patches hash them: the others keep the fingerprint (and
            # so the cached binaries) they had before patches existed.
            parts.append([[patch.path, patch.old, patch.new] for patch in self.patches])
        if self.go_version:
            parts.append(self.go_version)
        if self.excludes:
            parts.append(self.excludes)
        if self.generate:
            parts.append(GENERATORS[self.generate][0])
        text = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def kubernetes_recipe(version, staging_modules):
    """kube-apiserver, kube-controller-manager and kube-scheduler at ``version``.

    ``staging_modules`` are the module paths that k8s.io/kubernetes replaces with its
    staging directories; each is pinned to the matching v0.x.y published module.
    """
    major, minor, patch, prerelease = _semver(version)
    staging_version = "v0.%d.%d%s" % (minor, patch, prerelease)
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
        component="kubernetes",
    )


def kubectl_recipe(version, staging_modules):
    """kubectl alone, for the benchmarks that compare against ``kubectl wait``."""
    control_plane = kubernetes_recipe(version, staging_modules)
    return Recipe(key="kubectl-%s" % version, module=control_plane.module, version=version,
                  packages=("k8s.io/kubernetes/cmd/kubectl",), ldflags=control_plane.ldflags,
                  replaces=control_plane.replaces, component="kubectl")


def kubernetes_node_recipe(version, staging_modules):
    """kubelet and kube-proxy: what a real node of the rehearsal platform runs beside containerd."""
    control_plane = kubernetes_recipe(version, staging_modules)
    return Recipe(key="kubernetes-node-%s" % version, module=control_plane.module, version=version,
                  packages=("k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-proxy"),
                  ldflags=control_plane.ldflags, replaces=control_plane.replaces, component="kubernetes-node")


# The CNI plugins a real node's pods are wired with: a bridge in the node's network
# namespace, addresses from host-local, each pod's loopback, and hostPort mappings.
CNI_PLUGINS = ("main/bridge", "main/loopback", "ipam/host-local", "meta/portmap")


def cni_recipe(version):
    check_version("cni_version", version)
    module = "github.com/containernetworking/plugins"
    return Recipe(key="cni-plugins-%s" % version, module=module, version=version,
                  packages=tuple("%s/plugins/%s" % (module, plugin) for plugin in CNI_PLUGINS),
                  ldflags=("-X", "%s/pkg/utils/buildversion.BuildVersion=%s" % (module, version)),
                  component="cni-plugins")


def demo_app_recipe():
    """The demo app real pods run (see demo_app.py): the standard library alone, no module."""
    return Recipe(key="demo-app-%s" % DEMO_APP_VERSION, module="", version=DEMO_APP_VERSION,
                  packages=("demo-app",), main_source=DEMO_APP_MAIN, component="demo-app")


def pause_recipe():
    """The sandbox program of a real node's pods (see demo_app.py)."""
    return Recipe(key="pause-%s" % PAUSE_VERSION, module="", version=PAUSE_VERSION,
                  packages=("pause",), main_source=PAUSE_MAIN, component="pause")


def etcd_recipe(version):
    check_version("etcd_version", version)
    return Recipe(
        key="etcd-%s" % version,
        module="go.etcd.io/etcd/server/v3",
        version=version,
        packages=("etcd",),
        main_source=_ETCD_MAIN,
        component="etcd",
    )


def kwok_recipe(version, kube_version):
    """kwok and kwokctl, with kwokctl's default Kubernetes version set to ours."""
    check_version("kwok_version", version)
    check_version("kubernetes_version", kube_version)
    consts = "sigs.k8s.io/kwok/pkg/consts"
    return Recipe(
        key="kwok-%s-k8s-%s" % (version, kube_version),
        module="sigs.k8s.io/kwok",
        version=version,
        packages=("sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok/cmd/kwokctl"),
        ldflags=("-X", "%s.Version=%s" % (consts, version.lstrip("v")),
                 "-X", "%s.KubeVersion=%s" % (consts, kube_version.lstrip("v"))),
        component="kwok",
    )


# Flagger and its load tester listen on every interface (``Addr: ":" + port`` in
# pkg/server and pkg/loadtester), and the load tester runs any command it is sent. Both
# servers are built inside library packages, out of reach of a wrapper main, so the
# module is patched: each server gets a ``ListenAddress`` (default 127.0.0.1) and each
# main a ``-listen-address`` flag to set it. Checked against v1.41.0; a release where a
# patch no longer fits fails the build with the file and the text that was expected.
_LISTEN_ADDRESS_DECLARATION = (
    "// ListenAddress is the address the HTTP server binds to. Added by gitops.progressive:\n"
    "// upstream binds every interface; the simulated platform keeps everything on loopback.\n"
    "var ListenAddress = \"127.0.0.1\"\n\n"
    "// ListenAndServe starts a web server and waits for SIGTERM\n")
_LISTEN_FLAG = ('\n\tflag.StringVar(&%s.ListenAddress, "listen-address", "127.0.0.1", '
                '"Address to listen on (added by gitops.progressive; upstream listens on all interfaces).")')


def _listen_address_patches(server_file, addr_line, main_file, port_flag, package):
    indent, _colon, _rest = addr_line.partition('":" + port')
    return (
        SourcePatch(server_file, '\t"net/http"\n', '\t"net"\n\t"net/http"\n'),
        SourcePatch(server_file, "// ListenAndServe starts a web server and waits for SIGTERM\n",
                    _LISTEN_ADDRESS_DECLARATION),
        SourcePatch(server_file, addr_line, indent + "net.JoinHostPort(ListenAddress, port),"),
        SourcePatch(main_file, port_flag, port_flag + _LISTEN_FLAG % package),
    )


FLAGGER_LISTEN_PATCHES = (
    _listen_address_patches("pkg/server/server.go", 'Addr:         ":" + port,', "cmd/flagger/main.go",
                            'flag.StringVar(&port, "port", "8080", "Port to listen on.")', "server")
    + _listen_address_patches("pkg/loadtester/server.go", 'Addr:    ":" + port,', "cmd/loadtester/main.go",
                              'flag.StringVar(&port, "port", "9090", "Port to listen on.")', "loadtester"))


def flagger_recipe(version):
    """Flagger's controller and its load tester, bound to 127.0.0.1 by default (see above)."""
    check_version("flagger_version", version)
    return Recipe(
        key="flagger-%s" % version,
        module="github.com/fluxcd/flagger",
        version=version,
        packages=("github.com/fluxcd/flagger/cmd/flagger", "github.com/fluxcd/flagger/cmd/loadtester"),
        patches=FLAGGER_LISTEN_PATCHES,
        component="flagger",
    )


# The Flux controllers the simulated platform runs, each built from its own module at the
# version the pinned Flux release (github.com/fluxcd/flux2/v2) requires of its API module.
FLUX_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
FLUX_IMAGE_CONTROLLERS = ("image-reflector-controller", "image-automation-controller")

# helm-controller pins Helm to a Flux fork (``github.com/fluxcd/helm/v4 v4.2.4-flux.1``)
# that the module proxy does not serve; it is built against upstream Helm at the fork's
# base release instead (the same Helm the ``helm`` binary is built from).
_FORKS_TO_UPSTREAM = {"github.com/fluxcd/helm/v4": "helm.sh/helm/v4"}


def flux_versions_from_gomod(gomod_text, controllers=FLUX_CONTROLLERS):
    """``{controller: version}`` from a flux2 go.mod (it requires each controller's API module)."""
    versions = {}
    for controller in controllers:
        match = re.search(r"^\s*github\.com/fluxcd/%s/api\s+(v\S+)" % re.escape(controller), gomod_text, re.M)
        if not match:
            raise BuildError("the Flux release's go.mod requires no github.com/fluxcd/%s/api" % controller)
        versions[controller] = check_version("%s version" % controller, match.group(1))
    return versions


def _gomod_directives(gomod_text, keyword):
    """The arguments of each ``keyword`` directive of a go.mod, single-line or in a block,
    comments left out: ``["a.example/x => b.example/y v1.0.0", ...]``."""
    text = re.sub(r"//[^\n]*", "", gomod_text)
    lines = re.findall(r"^\s*%s\s+([^\s(][^\n]*?)\s*$" % keyword, text, re.M)
    for block in re.findall(r"^\s*%s\s*\((.*?)\)" % keyword, text, re.M | re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    return lines


def module_replaces_from_gomod(gomod_text):
    """A module's ``replace`` directives that point at other modules (never ``./`` paths),
    as wrapper replaces: ``(module, version)`` or ``(module, other module, version)``.

    A dependency's replaces are ignored by Go when it is built from a wrapper, so the
    wrapper repeats them; forks the proxy lacks are swapped for their upstream
    (:data:`_FORKS_TO_UPSTREAM`).
    """
    replaces = []
    for line in _gomod_directives(gomod_text, "replace"):
        if "=>" not in line:
            continue
        old, _arrow, new = line.partition("=>")
        module = old.split()[0]
        target = new.split()
        if len(target) != 2 or target[0].startswith("."):
            continue
        target_module, version = target
        if target_module in _FORKS_TO_UPSTREAM:
            target_module, version = _FORKS_TO_UPSTREAM[target_module], re.sub(r"-flux\.\d+$", "", version)
        if not _GO_MODULE_VERSION.fullmatch(version) or not _MODULE_PATTERN.fullmatch(target_module):
            raise BuildError("replace of %s: %r %r is not a module and version" % (module, target_module, version))
        replaces.append((module, version) if target_module == module else (module, target_module, version))
    return tuple(sorted(replaces))


def module_excludes_from_gomod(gomod_text):
    """A module's ``exclude`` directives as ``(module, version)`` pairs: like its replaces,
    Go ignores them in a dependency, so the wrapper repeats them."""
    excludes = []
    for line in _gomod_directives(gomod_text, "exclude"):
        module, version = line.split()
        if not _GO_MODULE_VERSION.fullmatch(version) or not _MODULE_PATTERN.fullmatch(module):
            raise BuildError("exclude %r %r is not a module and version" % (module, version))
        excludes.append((module, version))
    return tuple(sorted(excludes))


def flux_controller_recipe(controller, version, gomod_text, module_dir=""):
    """One Flux controller (its main package is the module root), with its go.mod's replaces."""
    module = "github.com/fluxcd/%s" % controller
    check_version("%s version" % controller, version)
    return Recipe(
        key="%s-%s" % (controller, version),
        module=module,
        version=version,
        packages=(module,),
        replaces=module_replaces_from_gomod(gomod_text),
        go_version=re.search(r"^go\s+(\d+\.\d+)", gomod_text, re.M).group(1),
        component=controller,
        module_dir=module_dir,
    )


def helm_recipe(version, go_version="1.26"):
    check_version("helm_version", version)
    major = _semver(version, "helm_version")[0]
    module = "helm.sh/helm/v%d" % major if major > 1 else "helm.sh/helm"
    return Recipe(key="helm-%s" % version, module=module, version=version,
                  packages=("%s/cmd/helm" % module,), go_version=go_version, component="helm",
                  ldflags=("-X", "%s/internal/version.version=%s" % (module, version)))


def flux_recipes(flux_gomod, go="go", controllers=FLUX_CONTROLLERS):
    """The controllers' recipes, from the Flux release's go.mod text."""
    recipes = []
    for name, version in flux_versions_from_gomod(flux_gomod, controllers).items():
        info = download_module("github.com/fluxcd/%s" % name, version, go)
        with open(info["GoMod"]) as gomod:
            recipes.append(flux_controller_recipe(name, version, gomod.read(), info["Dir"]))
    return recipes


def helm_version_for_flux(flux_gomod, go="go"):
    """The Helm release helm-controller of the Flux release (its go.mod text) is built with:
    the target of its Helm replace (the fork swapped for upstream), else its requirement."""
    version = flux_versions_from_gomod(flux_gomod, ("helm-controller",))["helm-controller"]
    gomod = module_gomod("github.com/fluxcd/helm-controller", version, go)
    for replace in module_replaces_from_gomod(gomod):
        if replace[0].startswith("helm.sh/helm/"):
            return replace[-1]
    return re.search(r"^\s*helm\.sh/helm/v\d+\s+(v\S+)", gomod, re.M).group(1)


def traefik_module(version):
    """Traefik's module path at a release (``/vN`` from v2 on), the version checked first."""
    check_version("traefik_version", version)
    major = _semver(version, "traefik_version")[0]
    return "github.com/traefik/traefik/v%d" % major if major > 1 else "github.com/traefik/traefik"


def traefik_recipe(version, gomod_text, module_dir=""):
    """Traefik, the real node's ingress and the data plane of its canaries, with the replaces
    and excludes of its own go.mod (its CRDs are read from ``module_dir``)."""
    module = traefik_module(version)
    return Recipe(key="traefik-%s" % version, module=module, version=version,
                  packages=("%s/cmd/traefik" % module,), component="traefik",
                  ldflags=("-X", "%s/pkg/version.Version=%s" % (module, version)),
                  replaces=module_replaces_from_gomod(gomod_text), excludes=module_excludes_from_gomod(gomod_text),
                  go_version=re.search(r"^go\s+(\d+\.\d+)", gomod_text, re.M).group(1), module_dir=module_dir)


def hey_recipe(version):
    """hey, the HTTP load generator Flagger's load tester runs (rakyll/hey)."""
    check_version("hey_version", version)
    return Recipe(key="hey-%s" % version, module="github.com/rakyll/hey", version=version,
                  packages=("github.com/rakyll/hey",), component="hey")


def prometheus_module_version(version):
    """The ``github.com/prometheus/prometheus`` module version of a Prometheus release: 2.x.y is
    v0.x.y, 3.x.y is v0.3xx.y (the module has no /v2 or /v3 path)."""
    check_version("prometheus_version", version)
    major, minor, patch = _semver(version, "prometheus_version")[:3]
    if major == 2:
        return "v0.%d.%d" % (minor, patch)
    if major == 3:
        return "v0.%d.%d" % (300 + minor, patch)
    raise BuildError("prometheus_version: %s is not a Prometheus 2 or 3 release" % version)


# Service discovery the Prometheus of Flagger's chart uses (kubernetes_sd_configs); file and
# http come with every build (plugins/minimum.go). Upstream imports every provider's SDK.
PROMETHEUS_SD = ("kubernetes",)
_PROMETHEUS_IMPORTS = re.compile(r"^import \((?:.|\n)*?^\)", re.M)


def prometheus_recipe(version, gomod_text, module_dir):
    """The Prometheus server at ``version`` (a release, v2.41.0), with the replaces and excludes
    of its own go.mod, and only the service discovery of :data:`PROMETHEUS_SD`: its generated
    ``plugins/plugins.go`` (read from ``module_dir``) is patched to import those alone, as
    upstream's plugins.yml allows. The web UI's assets are not built in (the API is what
    Flagger queries)."""
    module = "github.com/prometheus/prometheus"
    module_version = prometheus_module_version(version)
    with open(os.path.join(module_dir, "plugins", "plugins.go")) as handle:
        plugins = handle.read()
    found = _PROMETHEUS_IMPORTS.search(plugins)
    if not found:
        raise PatchError("patch for plugins/plugins.go: no import block in %s@%s" % (module, module_version))
    kept = "import (\n%s\n)" % "\n".join('\t_ "%s/discovery/%s"' % (module, name) for name in PROMETHEUS_SD)
    return Recipe(key="prometheus-%s" % version, module=module, version=module_version,
                  packages=("%s/cmd/prometheus" % module,), component="prometheus",
                  ldflags=("-X", "github.com/prometheus/common/version.Version=%s" % version.lstrip("v")),
                  replaces=module_replaces_from_gomod(gomod_text), excludes=module_excludes_from_gomod(gomod_text),
                  patches=(SourcePatch("plugins/plugins.go", found.group(0), kept),), module_dir=module_dir)


# CoreDNS answers the real node's pods for in-cluster names (Services, their pods), from the
# API through its kubernetes plugin. Upstream's main package imports every plugin (the
# cloud providers' SDKs among them); this main imports the few a cluster DNS uses, and
# lists their directives in upstream's order (core/dnsserver/zdirectives.go). No
# ``forward``: pods here have nowhere outside the cluster to resolve.
COREDNS_PLUGINS = ("ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes")
_COREDNS_MAIN = """package main

import (
\t"github.com/coredns/coredns/core/dnsserver"
\t"github.com/coredns/coredns/coremain"
%s
)

func init() {
\tdnsserver.Directives = []string{%s}
}

func main() {
\tcoremain.Run()
}
""" % ("\n".join('\t_ "github.com/coredns/coredns/plugin/%s"' % name for name in COREDNS_PLUGINS),
       ", ".join('"%s"' % name for name in COREDNS_PLUGINS))


def coredns_recipe(version):
    """CoreDNS with the plugins of :data:`COREDNS_PLUGINS`; the release goes where upstream's Makefile stamps
    the commit (``coremain.GitCommit``), as the module has no commit of its own here."""
    check_version("coredns_version", version)
    module = "github.com/coredns/coredns"
    return Recipe(key="coredns-%s" % version, module=module, version=version, packages=("coredns",),
                  main_source=_COREDNS_MAIN, component="coredns",
                  ldflags=("-X", "%s/coremain.GitCommit=%s" % (module, version)))


def registry_recipe(version):
    """The CNCF distribution registry (an OCI registry) that image automation scans."""
    check_version("registry_version", version)
    major = _semver(version, "registry_version")[0]
    module = "github.com/distribution/distribution/v%d" % major
    return Recipe(key="registry-%s" % version, module=module, version=version,
                  packages=("%s/cmd/registry" % module,), component="registry",
                  ldflags=("-X", "%s/version.version=%s" % (module, version)))


def recipes_for(components, versions, go="go"):
    """Recipes for component names (kubernetes, etcd, kwok, flagger, kubectl, flux, flux-image,
    flux-cli, helm, helm3, registry, kubernetes-node, cni, demo-app, pause, traefik, hey, coredns, prometheus).

    ``versions`` maps ``<component>_version`` to a release. The Kubernetes recipe reads
    the list of staging modules from k8s.io/kubernetes' own go.mod at that release.
    """
    kube_version = versions.get("kubernetes_version")

    def staging():
        return staging_modules_from_gomod(module_gomod("k8s.io/kubernetes", kube_version, go))

    flux_gomod = {}

    def flux():
        """The Flux release's go.mod, read once for every Flux component."""
        if "text" not in flux_gomod:
            flux_gomod["text"] = module_gomod("github.com/fluxcd/flux2/v2", versions["flux_version"], go)
        return flux_gomod["text"]

    def prometheus():
        info = download_module("github.com/prometheus/prometheus",
                               prometheus_module_version(versions["prometheus_version"]), go)
        with open(info["GoMod"]) as gomod:
            return prometheus_recipe(versions["prometheus_version"], gomod.read(), info["Dir"])

    def traefik():
        info = download_module(traefik_module(versions["traefik_version"]), versions["traefik_version"], go)
        with open(info["GoMod"]) as gomod:
            return traefik_recipe(versions["traefik_version"], gomod.read(), info["Dir"])

    builders = {
        "kubernetes": lambda: kubernetes_recipe(kube_version, staging()),
        "etcd": lambda: etcd_recipe(versions["etcd_version"]),
        "kwok": lambda: kwok_recipe(versions["kwok_version"], kube_version),
        "flagger": lambda: flagger_recipe(versions["flagger_version"]),
        "kubectl": lambda: kubectl_recipe(kube_version, staging()),
        "kubernetes-node": lambda: kubernetes_node_recipe(kube_version, staging()),
        "cni": lambda: cni_recipe(versions["cni_version"]),
        "demo-app": demo_app_recipe,
        "pause": pause_recipe,
        "flux": lambda: flux_recipes(flux(), go),
        "flux-image": lambda: flux_recipes(flux(), go, FLUX_IMAGE_CONTROLLERS),
        "flux-cli": lambda: flux_cli_recipe(versions["flux_version"], flux()),
        "helm": lambda: helm_recipe(helm_version_for_flux(flux(), go)),
        "helm3": lambda: helm_recipe(versions["helm3_version"]),
        "registry": lambda: registry_recipe(versions["registry_version"]),
        "traefik": traefik,
        "hey": lambda: hey_recipe(versions["hey_version"]),
        "coredns": lambda: coredns_recipe(versions["coredns_version"]),
        "prometheus": prometheus,
    }
    unknown = sorted(set(components) - set(builders))
    if unknown:
        raise ValueError("components: unknown %s; choose from %s" % (
            ", ".join(unknown), ", ".join(sorted(builders))))
    check_versions(versions)
    recipes = []
    for name in dict.fromkeys(components):
        built = builders[name]()
        recipes += built if isinstance(built, list) else [built]
    return recipes


def staging_modules_from_gomod(gomod_text):
    """The modules a k8s.io/kubernetes go.mod replaces with ./staging directories."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", gomod_text, re.M)))


def wrapper_gomod(recipe, go_version="1.24"):
    """The wrapper's go.mod. ``recipe.replaces`` holds ``(module, version)`` pins and
    ``(module, other module, version)`` swaps."""
    check_version("%s version" % recipe.module, recipe.version)
    lines = ["module gitops.progressive/simbuild/%s" % re.sub(r"[^\w.-]", "-", recipe.key), "",
             "go %s" % (recipe.go_version or go_version)]
    if recipe.module:
        lines += ["", "require %s %s" % (recipe.module, recipe.version)]
    if recipe.replaces:
        lines += ["", "replace ("]
        for replace in recipe.replaces:
            module, target, version = replace if len(replace) == 3 else (replace[0], replace[0], replace[1])
            lines.append("\t%s => %s %s" % (module, target, version))
        lines.append(")")
    if recipe.excludes:
        lines += ["", "exclude ("] + ["\t%s %s" % exclude for exclude in recipe.excludes] + [")"]
    if recipe.patches or recipe.generate:
        lines += ["", "// The patched copy of the module (see SourcePatch in gobuild.py).",
                  "replace %s => ./%s" % (recipe.module, PATCHED_MODULE_DIR)]
    return "\n".join(lines) + "\n"


PATCHED_MODULE_DIR = "module"


def copy_patched_module(module_dir, dest, patches):
    """Copy a module's files to ``dest`` (writable, unlike the module cache) and patch them."""
    shutil.rmtree(dest, ignore_errors=True)
    for directory, _subdirs, files in os.walk(module_dir):
        target = os.path.join(dest, os.path.relpath(directory, module_dir))
        os.makedirs(target, exist_ok=True)
        for name in files:
            shutil.copyfile(os.path.join(directory, name), os.path.join(target, name))
    by_file = {}
    for patch in patches:
        by_file.setdefault(patch.path, []).append(patch)
    for path, file_patches in by_file.items():
        full = os.path.join(dest, path)
        try:
            with open(full) as source:
                text = source.read()
        except OSError as error:
            raise PatchError("patch for %s: the module has no such file (%s)" % (path, error))
        for patch in file_patches:
            text = apply_patch(text, patch)
        with open(full, "w") as source:
            source.write(text)


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
        """Build ``recipe`` unless the cache holds it. Returns seconds spent (0 if cached).

        One build of a recipe at a time across processes (a lock file per recipe): two
        playbooks that start on a cold cache do not write the same scratch directory;
        the second finds the first one's binaries when it gets the lock.
        """
        if self.is_built(recipe):
            return 0.0
        os.makedirs(os.path.join(self.root, "locks"), exist_ok=True)
        with open(os.path.join(self.root, "locks", "%s.lock" % recipe.key), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.is_built(recipe):
                return 0.0
            return self._build_locked(recipe, log_path)

    def _build_locked(self, recipe, log_path):
        started = time.monotonic()
        # Written files first come from a checked recipe: a version is a path and a go.mod token.
        gomod_text = wrapper_gomod(recipe)
        source_dir = os.path.join(self.root, "src", recipe.key)
        os.makedirs(source_dir, exist_ok=True)
        if recipe.patches or recipe.generate:
            module_dir = download_module(recipe.module, recipe.version, self.go)["Dir"]
            copy_patched_module(module_dir, os.path.join(source_dir, PATCHED_MODULE_DIR), recipe.patches)
        with open(os.path.join(source_dir, "go.mod"), "w") as gomod:
            gomod.write(gomod_text)
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
            commands = [command]
            if recipe.generate:
                commands.insert(0, GENERATORS[recipe.generate][1](self, recipe, source_dir))
            for step in commands:
                log.write("$ %s\n" % " ".join(step))
                log.flush()
                result = subprocess.run(step, cwd=source_dir, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, check=False)
                if result.returncode != 0:
                    break
        if result.returncode != 0:
            raise BuildError("building %s %s failed (exit %d); last lines of %s:\n%s" % (
                recipe.module, recipe.version, result.returncode, log_path, _tail(log_path)))
        with open(os.path.join(scratch, STAMP_NAME), "w") as stamp:
            json.dump({"fingerprint": recipe.fingerprint(), "module": recipe.module,
                       "version": recipe.version, "binaries": list(recipe.binaries),
                       "patched": sorted({patch.path for patch in recipe.patches}),
                       "seconds": round(time.monotonic() - started, 1)}, stamp)
        shutil.rmtree(self.bin_dir(recipe), ignore_errors=True)
        os.rename(scratch, self.bin_dir(recipe))
        return time.monotonic() - started

    def build_all(self, recipes, jobs=2, progress=None, poll=1.0):
        """Build the recipes the cache lacks, ``jobs`` at a time.

        ``progress`` (a :class:`BuildProgress`) hears of every build as it starts, is
        asked for its periodic report every ``poll`` seconds, and hears of every end;
        all of that from this thread, so its reporter needs no locking.

        Returns ``{recipe.key: seconds}``; raises BuildError naming every recipe that
        failed once all have finished.
        """
        seconds, failures = {}, []
        started = queue.Queue()

        def build(recipe):
            started.put(recipe)
            return self.build(recipe)

        def drain_started():
            recipes_started = []
            while True:
                try:
                    recipes_started.append(started.get_nowait())
                except queue.Empty:
                    return recipes_started

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(build, recipe): recipe for recipe in recipes}
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=poll,
                                                        return_when=concurrent.futures.FIRST_COMPLETED)
                # In the order things happened: a build that started and ended since the
                # last look says so first, then the ends, then the builds that took their slot.
                just_started, ended = drain_started(), {futures[future].key for future in done}
                if progress is not None:
                    for recipe in just_started:
                        if recipe.key in ended:
                            progress.started(recipe)
                for future in done:
                    recipe = futures[future]
                    try:
                        seconds[recipe.key] = future.result()
                    except (BuildError, OSError) as error:
                        failures.append(str(error))
                        if progress is not None:
                            progress.failed(recipe)
                    else:
                        if progress is not None:
                            progress.finished(recipe, seconds[recipe.key])
                if progress is not None:
                    for recipe in just_started:
                        if recipe.key not in ended:
                            progress.started(recipe)
                    progress.tick()
        if failures:
            raise BuildError("\n\n".join(failures))
        return seconds


def format_duration(seconds):
    """``45s``, ``2m10s``, ``1h02m03s``."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return "%dh%02dm%02ds" % (hours, minutes, seconds)
    if minutes:
        return "%dm%02ds" % (minutes, seconds)
    return "%ds" % seconds


class BuildProgress:
    """Lines that say what is being built and for how long: at the start of each build,
    every ``interval`` seconds while it runs, and at its end.

    ``report(line)`` prints (Ansible's Display on the controller, a list in tests);
    ``clock`` is injected so the unit tests drive time by hand.
    """

    def __init__(self, report, clock=time.monotonic, interval=30.0):
        self.report, self.clock, self.interval = report, clock, interval
        self.running = {}  # key -> [recipe, started at, last reported at]
        self.lock = threading.Lock()

    def started(self, recipe):
        now = self.clock()
        with self.lock:
            self.running[recipe.key] = [recipe, now, now]
        self.report("building %s: %s" % (recipe.title, format_duration(0)))

    def tick(self):
        now = self.clock()
        with self.lock:
            due = [entry for entry in self.running.values() if now - entry[2] >= self.interval]
            for entry in due:
                entry[2] = now
        for recipe, since, _last in sorted(due, key=lambda entry: entry[1]):
            self.report("building %s: %s" % (recipe.title, format_duration(now - since)))

    def finished(self, recipe, seconds):
        with self.lock:
            self.running.pop(recipe.key, None)
        if seconds:
            self.report("built %s in %d s" % (recipe.title, round(seconds)))
        else:
            self.report("found %s in the cache (built by another run)" % recipe.title)

    def failed(self, recipe):
        with self.lock:
            entry = self.running.pop(recipe.key, None)
        elapsed = self.clock() - entry[1] if entry else 0
        self.report("building %s failed after %d s" % (recipe.title, round(elapsed)))


def download_module(module, version, go="go"):
    """Fetch ``module@version`` through the module proxy; returns ``go mod download -json``."""
    try:
        result = subprocess.run([go, "mod", "download", "-json", "%s@%s" % (module, version)],
                                capture_output=True, text=True, check=False, timeout=DOWNLOAD_TIMEOUT,
                                env=dict(os.environ, GOTOOLCHAIN="local"))
    except subprocess.TimeoutExpired:
        raise BuildError("cannot download %s@%s: no answer within %d s" % (module, version, DOWNLOAD_TIMEOUT))
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


def _semver(version, option="kubernetes_version"):
    """``(major, minor, patch, "-prerelease" or "")`` of a checked version."""
    check_version(option, version)
    match = re.match(r"^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.]+)?$", version)
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4) or ""


def _tail(path, lines=30):
    with open(path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])


def _flux_manifests(cache, recipe, source_dir):
    """Lay the flux CLI's manifests out in the module's copy; returns the command that builds
    them (flux_cli.py)."""
    module_copy = os.path.join(source_dir, PATCHED_MODULE_DIR)
    try:
        pairs = plan_manifests(module_copy, lambda module, version: download_module(module, version, cache.go)["Dir"])
    except ManifestError as error:
        raise BuildError("building %s %s: %s" % (recipe.module, recipe.version, error))
    os.makedirs(os.path.join(source_dir, BUNDLE_DIR), exist_ok=True)
    with open(os.path.join(source_dir, BUNDLE_DIR, "main.go"), "w") as main:
        main.write(BUNDLE_MAIN)
    return [cache.go, "run", "-mod=mod", "./" + BUNDLE_DIR] + [path for pair in pairs for path in pair]


# What a recipe's ``generate`` names: (identity for the fingerprint, step that lays files
# out and returns the command that makes them).
GENERATORS = {"flux-manifests": (FLUX_GENERATOR_ID, _flux_manifests)}


def flux_cli_recipe(version, gomod_text):
    """The ``flux`` CLI of a Flux release, with the manifests it embeds made here (flux_cli.py),
    the replaces of its go.mod, ``main.VERSION`` without the ``v`` as upstream stamps it."""
    check_version("flux_version", version)
    return Recipe(key="flux-cli-%s" % version, module=FLUX2_MODULE, version=version,
                  packages=("%s/cmd/flux" % FLUX2_MODULE,), component="flux-cli",
                  ldflags=("-X", "main.VERSION=%s" % version[1:]),
                  replaces=module_replaces_from_gomod(gomod_text),
                  go_version=re.search(r"^go\s+(\d+\.\d+)", gomod_text, re.M).group(1),
                  generate="flux-manifests")
