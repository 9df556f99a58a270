# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release tasks' options (canary_rollout, git_release) and their checks before any request."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.args import wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.gates import redact, valid_url
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import normalise_env

IN_FLIGHT_CHOICES = ("wait", "supersede", "fail")


def check_request(args, container_images=True):
    """Every problem with the task's options that is known before any request.

    ``container_images``: images are keyed by container (canary_rollout); git_release's are
    kustomize image names, checked by git/edit.py.
    """
    errors = []
    if args.get("label_selector"):
        if args.get("name"):
            errors.append("name and label_selector are exclusive: follow one canary or those a label selects")
        if args.get("images") or args.get("env") or args.get("annotations"):
            errors.append("label_selector follows releases in flight: it takes no images, env or annotations")
    elif not args.get("name") or not args.get("namespace"):
        errors.append("name and namespace are required (or label_selector to follow many canaries)")
    if container_images:
        for key, image in (args.get("images") or {}).items():
            if not isinstance(image, str) or not image.strip():
                errors.append("images.%s must be a non-empty image reference, got %r" % (key, image))
    errors += normalise_env(args.get("env"))[1]
    for key, value in (args.get("annotations") or {}).items():
        if not isinstance(value, str):
            errors.append("annotations.%s must be a string, got %r" % (key, value))
    for option in ("wait_timeout", "approval_timeout"):
        if args.get(option) is not None and args[option] <= 0:
            errors.append("%s must be a positive number of seconds, got %r" % (option, args[option]))
    if args.get("loadtester_url") and not valid_url(args["loadtester_url"]):
        errors.append("loadtester_url must be an http(s) URL, got %r" % redact(args["loadtester_url"]))
    if args.get("in_flight", "wait") not in IN_FLIGHT_CHOICES:
        errors.append("in_flight must be one of %s" % ", ".join(IN_FLIGHT_CHOICES))
    return errors


def rollout_argument_spec():
    spec = auth_argument_spec()
    spec.update(wait_argument_spec(wait=True, wait_timeout=1800))
    spec["wait_timeout"]["aliases"] = ["timeout"]
    spec.update(
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selector=dict(type="str"),
        images=dict(type="dict", default={}),
        env=dict(type="dict", default={}),
        env_container=dict(type="str"),
        annotations=dict(type="dict", default={}),
        approval=dict(type="str", choices=["auto", "manual"], default="manual"),
        approval_timeout=dict(type="int"),
        loadtester_url=dict(type="str", no_log=False),
        in_flight=dict(type="str", choices=list(IN_FLIGHT_CHOICES), default="wait"),
        fail_on_rollback=dict(type="bool", default=True),
        publish_stats=dict(type="bool", default=False),
        progress=dict(type="bool", default=True),
        prometheus_url=dict(type="str"),
        mesh_provider=dict(type="str", default="istio"),
        metric_window=dict(type="str", choices=["wait", "fail"], default="wait"),
    )
    return spec


def git_release_argument_spec():
    """git_release's options: the engine's (canary_rollout) without the target patch, plus git and Flux."""
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import git_argument_spec

    spec = rollout_argument_spec()
    for option in ("label_selector", "env", "env_container", "annotations"):
        spec.pop(option)
    spec["name"]["required"] = True
    spec["namespace"]["required"] = True
    spec.update(git_argument_spec())  # git_username / git_password: username and password are the API server's
    spec.update(
        path=dict(type="str", required=True),
        values=dict(type="list", elements="dict", default=[]),
        kustomization=dict(type="str", default="apps"),
        kustomization_namespace=dict(type="str", default="flux-system"),
        flux_timeout=dict(type="int", default=120),
        revert_on_rollback=dict(type="bool", default=True),
        requested_by=dict(type="str"),
        image_automation=dict(type="str"),
        resume_automation=dict(type="bool", default=False),
    )
    return spec
