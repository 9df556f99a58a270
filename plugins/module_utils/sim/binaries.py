# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sim_binaries task: its options, and planning and running the builds.

Internal use: the ``sim_binaries`` action plugin (which runs it on the controller so
that build progress reaches the console as it happens) and its module file (which
carries the documentation) share this argument spec.
"""

from __future__ import annotations

import time

from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.sim.gobuild import (
    BinaryCache,
    BuildError,
    BuildProgress,
    check_versions,
    download_module,
    parse_source,
    recipes_for,
)

DEFAULT_CACHE = "~/.cache/gitops-progressive"
COMPONENTS = ["kubernetes", "etcd", "kwok", "flagger", "kubectl", "flux", "flux-image", "flux-cli", "helm", "helm3", "registry",
              "kubernetes-node", "cni", "demo-app", "pause", "traefik", "hey", "coredns", "prometheus"]
PROGRESS_INTERVAL = 30
# Each build is a go process with its own parallelism: more at once only thrashes.
JOBS_MAX = 64
PROGRESS_INTERVAL_MAX = 3600


def binaries_argument_spec():
    return dict(
        components=dict(type="list", elements="str", default=[], choices=COMPONENTS),
        sources=dict(type="list", elements="str", default=[]),
        kubernetes_version=dict(type="str", default="v1.33.13"),
        etcd_version=dict(type="str", default="v3.5.24"),
        kwok_version=dict(type="str", default="v0.8.0"),
        flagger_version=dict(type="str", default="v1.41.0"),
        flux_version=dict(type="str", default="v2.9.3"),
        registry_version=dict(type="str", default="v3.1.2"),
        helm3_version=dict(type="str", default="v3.22.0"),
        cni_version=dict(type="str", default="v1.10.0"),
        traefik_version=dict(type="str", default="v3.6.12"),
        hey_version=dict(type="str", default="v0.1.5"),
        coredns_version=dict(type="str", default="v1.14.7"),
        prometheus_version=dict(type="str", default="v2.41.0"),
        cache_dir=dict(type="path"),
        jobs=dict(type="int", default=2),
        go=dict(type="path", default="go"),
        progress_interval=dict(type="int", default=PROGRESS_INTERVAL),
    )


def cache_root(params, environ):
    return params.get("cache_dir") or environ.get("GITOPS_PROGRESSIVE_CACHE") or DEFAULT_CACHE


def check_options(params):
    """Every problem of sim_binaries' options, as one ValueError naming each option; before anything runs.

    A ValueError, as the action plugin reports those as the task's failure.
    """
    inputs = Inputs("sim_binaries")
    inputs.number("jobs", params["jobs"], 1, JOBS_MAX)
    inputs.number("progress_interval", params["progress_interval"], 1, PROGRESS_INTERVAL_MAX, "seconds")
    for option in ("cache_dir", "go"):
        inputs.not_empty(option, params.get(option))
    try:
        check_versions(params)
    except ValueError as error:
        inputs.add([str(error)])
    for index, source in enumerate(params["sources"] or []):
        try:
            parse_source("sources[%d]" % index, source)
        except ValueError as error:
            inputs.add([str(error)])
    if inputs.problems:
        raise ValueError("; ".join(inputs.problems))


def plan(params, environ):
    """``(cache, recipes, source_dirs)``, every option checked before anything is written.

    Raises ValueError naming the option, or BuildError when a module cannot be fetched.
    """
    check_options(params)
    sources = [parse_source("sources[%d]" % index, source) for index, source in enumerate(params["sources"])]
    cache = BinaryCache(cache_root(params, environ), go=params["go"])
    recipes = recipes_for(params["components"], params, go=params["go"])
    source_dirs = {}
    for module, version in sources:
        source_dirs["%s@%s" % (module, version)] = download_module(module, version, params["go"])["Dir"]
    return cache, recipes, source_dirs


def run(params, check_mode, environ, report=None, clock=time.monotonic):
    """Build what the cache lacks; returns the task result. ``report(line)`` gets progress.

    Raises ValueError for a bad option; a failed build raises BuildError with the
    partial result in its ``result`` attribute.
    """
    cache, recipes, source_dirs = plan(params, environ)
    missing = [recipe for recipe in recipes if not cache.is_built(recipe)]
    binaries = {}
    for recipe in recipes:
        binaries.update(cache.paths(recipe))
    result = dict(changed=bool(missing), binaries=binaries, cache_dir=cache.root, source_dirs=source_dirs,
                  built=[recipe.key for recipe in missing], seconds={},
                  modules={recipe.component: recipe.module_dir for recipe in recipes if recipe.module_dir})
    if missing and not check_mode:
        progress = BuildProgress(report, clock=clock, interval=params["progress_interval"]) if report else None
        if report:
            report("sim_binaries: %d to build (%s), %d at a time; logs in %s/logs" % (
                len(missing), ", ".join(recipe.key for recipe in missing), params["jobs"], cache.root))
        try:
            result["seconds"] = {key: round(value, 1) for key, value in
                                 cache.build_all(missing, jobs=params["jobs"], progress=progress).items()}
        except BuildError as error:
            error.result = result
            raise
    return result
