# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release tasks' options (canary_rollout, git_release) and their checks before any request."""

from __future__ import annotations

import re

from ansible_collections.gitops.progressive.plugins.module_utils.args import wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import (
    hidden_characters,
    name_problems,
    quote,
    too_many,
    url_credentials,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.kube.module import label_selector_problems
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import normalise_env

IN_FLIGHT_CHOICES = ("wait", "supersede", "fail")
# A week: longer than any release with manual approvals; more is a typo (or an overflow in a timer).
LONGEST_WAIT = 7 * 24 * 3600
# What Kubernetes 1.30+ takes as an environment variable's name (RelaxedEnvironmentVariableValidation):
# printable ASCII but '=', which would end the name in the process's environment.
ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+\Z")
# An annotation key: [DNS-1123 subdomain prefix/]name of at most 63 characters.
QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")


def subject(task, args):
    """The object a task's errors name: ``git_release test/podinfo`` (what the options say, quoted when odd)."""
    namespace, name = args.get("namespace"), args.get("name")
    if isinstance(name, str) and name and isinstance(namespace, str) and namespace:
        key = "%s/%s" % (namespace, name)
        return "%s %s" % (task, key if re.match(r"^[-a-z0-9./]{1,120}\Z", key) else quote(key, 60))
    if args.get("label_selector"):
        return "%s (label selector %s)" % (task, quote(args["label_selector"], 60))
    return task


def plain_text_problems(option, value, longest=1024):
    """Text that goes into a commit, a header or a label selector: not blank, and no control or format
    character (a line break would forge a line of the commit; U+202E would make it read otherwise)."""
    if value is None:
        return []
    if not isinstance(value, str):
        return ["%s must be a string, got %s" % (option, type(value).__name__)]
    if not value.strip():
        return ["%s may not be empty or blank" % option]
    hidden = hidden_characters(value)
    if hidden:
        return ["%s may not hold line breaks, control or format characters (%s): %s" % (option, hidden, quote(value))]
    if len(value) > longest:
        return ["%s is longer than %d characters: %s" % (option, longest, quote(value))]
    return []


def annotation_key_problems(option, key):
    """An annotation key as the API server takes it: ``[prefix/]name``, the prefix a DNS-1123 subdomain."""
    prefix, slash, name = key.rpartition("/") if isinstance(key, str) else ("", "", key)
    if not isinstance(key, str) or not QUALIFIED_NAME.match(name) or (slash and name_problems("", prefix)):
        return ["%s: %s is not an annotation key ([a DNS subdomain prefix/]a name of at most 63 letters, digits, "
                "'-', '_' and '.', starting and ending with a letter or digit)" % (option, quote(key))]
    return []


def mesh_provider_problems(option, value):
    """A provider Flagger routes as named; any other it routes as istio without a word (flagger/validate.py)."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.validate import PROVIDERS, _provider_errors

    if not isinstance(value, str) or not value:
        return ["%s must be one of Flagger's providers (%s), got %s" % (option, ", ".join(PROVIDERS), quote(value))]
    return [problem.replace("spec.provider", option, 1) for problem in _provider_errors(value)]


def report_path_problems(path):
    """``report``: a file to (over)write in a directory that exists, on one line."""
    import os

    if path is None:
        return []
    if not isinstance(path, str) or not path.strip() or re.search(r"[\x00-\x1f\x7f]", path):
        return ["report must be the path of a file on one line, got %r" % (path,)]
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(full):
        return ["report %s is a directory: name the HTML file to write" % full]
    if not os.path.isdir(os.path.dirname(full)):
        return ["report %s: its directory %s does not exist" % (full, os.path.dirname(full))]
    return []


def check_request(inputs, args, container_images=True):
    """Every problem with the options the release tasks share, known before any request, into ``inputs``.

    ``container_images``: images are keyed by container (canary_rollout); git_release's are
    kustomize image names, checked with its own options (git_change.py check_git_request).
    """
    selector = args.get("label_selector")
    if selector is not None:
        if inputs.add(plain_text_problems("label_selector", selector, 4096)):
            inputs.add([problem.replace("label_selector[0]", "label_selector", 1)
                        for problem in label_selector_problems("label_selector", [selector])])
        if args.get("name"):
            inputs.add(["name and label_selector are exclusive: follow one canary or those a label selects"])
        if args.get("images") or args.get("env") or args.get("annotations"):
            inputs.add(["label_selector follows releases in flight: it takes no images, env or annotations"])
        if args.get("namespace") is not None:
            inputs.namespace("namespace", args.get("namespace"))
        if args.get("report"):
            inputs.add(["report is written for one release: give name and namespace, not label_selector"])
    else:
        inputs.name("name", args.get("name"))
        inputs.namespace("namespace", args.get("namespace"))
    inputs.add(report_path_problems(args.get("report")))
    # More than MOST_ENTRIES is one problem, not one for each entry (git_release sizes its own images).
    sized = {option: args.get(option) or {} for option in ("images", "env", "annotations")}
    for option, value in sized.items():
        if (container_images or option != "images") and not inputs.add(too_many(option, value)):
            sized[option] = {}
    if container_images:
        for key, image in sized["images"].items():
            if inputs.name("images key %s" % quote(key), key, kind="label"):
                inputs.image("images[%s]" % key, image)
    env = sized["env"]
    for key in env:
        if not isinstance(key, str) or not ENV_NAME.match(key):
            inputs.add(["env: %s is not an environment variable name (printable ASCII characters but '=')"
                        % quote(key)])
    inputs.add(normalise_env(env)[1])
    if args.get("env_container") is not None:
        inputs.name("env_container", args["env_container"], kind="label")
    for key, value in sized["annotations"].items():
        if inputs.add(annotation_key_problems("annotations", key)) and not isinstance(value, str):
            inputs.add(["annotations.%s must be a string, got %s" % (key, quote(value))])
    for option in ("wait_timeout", "approval_timeout"):
        inputs.number(option, args.get(option), 1, LONGEST_WAIT, "seconds")
    for option in ("loadtester_url", "prometheus_url"):
        inputs.url(option, args.get(option), required=False)
    if url_credentials(args.get("host")):
        inputs.add(["host may not carry credentials (they would be logged with the address); give them in "
                    "api_key, or username and password: %s" % quote(args["host"])])
    if args.get("in_flight", "wait") not in IN_FLIGHT_CHOICES:
        inputs.add(["in_flight must be one of %s" % ", ".join(IN_FLIGHT_CHOICES)])
    if args.get("mesh_provider") is not None:
        inputs.add(mesh_provider_problems("mesh_provider", args["mesh_provider"]))


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
        report=dict(type="path"),
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
