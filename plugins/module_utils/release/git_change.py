# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""git_release's change strategies: a commit Flux applies, or image automation's commit.

Every git step (sync, edit, commit, push, revert) runs under the working copy's file lock
(git/repo.py), so two tasks on one controller never mix their edits in one commit; a push
that loses a race with another writer is redone on the new head, for the change and the
revert alike. Flux gets its share of the budget (never so much that the analysis no
longer fits) and is waited for by revision: *this* commit, or a later one; a later one
that changed the same files holds another writer's change too, and its verdict would
not be this release's (``superseded``).
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flux import objects
from ansible_collections.gitops.progressive.plugins.module_utils.flux.reconcile import (
    FluxError,
    Reconcile,
    check_not_suspended,
    source_of,
)
from ansible_collections.gitops.progressive.plugins.module_utils.flux.suspend import set_suspended
from ansible_collections.gitops.progressive.plugins.module_utils.git import edit
from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import (
    LOCK_TIMEOUT,
    check_git_options,
    commit_and_push,
    default_workdir,
    repo_from_params,
    revert_and_push,
)
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import REPOSITORY, quote, redact_url, too_many
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.release.args import LONGEST_WAIT, plain_text_problems
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import Change
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import describe_awx, holder

# Seconds git and Flux need at the least before an analysis can start (a push, two reconciles).
FLUX_MINIMUM = 15.0
# Seconds between two requests to reconcile when the API server did not take the first.
RETRY_PAUSE = 2.0
# A Kustomization waiting on a dependency that is applying a new revision (a revert just
# pushed, say) says Ready=False, DependencyNotReady for a few seconds: waited out this long.
DEPENDENCY_WAIT = 30.0


def requested_by(args, environ=None, who=None):
    """Who asked for the release, for the commit message: the task's ``requested_by``, the
    AWX job (and the user who launched it), or user@host (as the release's Lease names its
    holder, ``who`` when the task gave one)."""
    if args.get("requested_by"):
        return args["requested_by"]
    who = who or holder(environ)
    if who.get("awx_job"):
        return describe_awx(who)
    return "%s@%s" % (who["user"], who["host"])


def plain(value):
    """``value`` as plain JSON data: Ansible's tagged strings would not survive a YAML dump."""
    return json.loads(json.dumps(value))


VALUE_FIELDS = ("file", "path", "value", "kind")
KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}\Z")


def check_git_request(inputs, args):
    """git_release's own options into ``inputs`` (inputs.py), before any request: the
    repository's (git/repo.py), the app's directory and files, the kustomize image names
    with their tags or references, the values' YAML paths, the Flux objects' names."""
    check_git_options(inputs, args)
    if not args.get("images") and not args.get("values"):
        inputs.add(["images or values must say what to release"])
    inputs.repo_path("path", args.get("path"))
    # More than MOST_ENTRIES is one problem, not one for each entry.
    images = (args.get("images") or {}) if inputs.add(too_many("images", args.get("images"))) else {}
    values = (args.get("values") or []) if inputs.add(too_many("values", args.get("values"))) else []
    for name, value in images.items():
        if not isinstance(name, str) or len(name) > 255 or not REPOSITORY.match(name):
            inputs.add(["images: %s is not a kustomize image name (the image's repository in lower case, as in the "
                        "kustomization's images list)" % quote(name)])
        elif isinstance(value, str) and re.search(r"[/:@]", value):
            inputs.image("images[%s]" % name, value)
        else:
            inputs.tag("images[%s]" % name, value)
    for index, value in enumerate(values):
        where = "values[%d]" % index
        if not isinstance(value, dict):
            inputs.add(["%s must be a mapping with file, path and value, got %s" % (where, quote(value))])
            continue
        unknown = sorted(set(value) - set(VALUE_FIELDS), key=str)
        if unknown:
            inputs.add(["%s: unknown field %s (it takes %s)" % (where, ", ".join(map(quote, unknown)),
                                                                ", ".join(VALUE_FIELDS))])
        inputs.repo_path("%s.file" % where, value.get("file"))
        if not isinstance(value.get("path"), str) or not value["path"]:
            inputs.add(["%s.path must be a YAML path such as spec.replicas, got %s" % (
                where, quote(value.get("path")))])
        else:
            try:
                edit.parse_path(value["path"])
            except edit.EditError as error:
                inputs.add(["%s.path: %s" % (where, error)])
        if value.get("value") is None:
            inputs.add(["%s.value is required and may not be null" % where])
        if value.get("kind") is not None and not (isinstance(value["kind"], str) and KIND.match(value["kind"])):
            inputs.add(["%s.kind must be a Kubernetes kind such as Deployment, got %s" % (where, quote(value["kind"]))])
    inputs.number("flux_timeout", args.get("flux_timeout"), 1, LONGEST_WAIT, "seconds")
    inputs.name("kustomization", args.get("kustomization"))
    inputs.namespace("kustomization_namespace", args.get("kustomization_namespace"))
    inputs.add(plain_text_problems("requested_by", args.get("requested_by"), 256))
    if args.get("image_automation") is not None:
        inputs.name("image_automation", args["image_automation"])
        if not args.get("images"):
            inputs.add(["image_automation: name the tags the automation is to write (images)"])
        if args.get("values"):
            inputs.add(["image_automation: values cannot be followed (image automation writes tags only)"])


def image_policy_markers(text):
    """``{image name: "namespace:policy"}`` from the ``# {"$imagepolicy": ...}`` markers of a
    kustomization's ``images`` entries (a marker belongs to the entry whose lines hold it)."""
    entries, entry = [], None
    for line in text.splitlines():
        if re.match(r"^\s*-\s", line):
            entry = {}
            entries.append(entry)
        if entry is None:
            continue
        named = re.match(r"""^\s*(?:-\s+)?name:\s*["']?([^"'#\s]+)""", line)
        if named:
            entry["name"] = named.group(1)
        marker = re.search(r'\{\s*"\$imagepolicy"\s*:\s*"([^"]+)"\s*\}', line)
        if marker:
            entry["marker"] = ":".join(marker.group(1).split(":")[:2])
    return {entry["name"]: entry["marker"] for entry in entries if entry.get("name") and entry.get("marker")}


def followed_branch(ref):
    """``(branch, None)`` a GitRepository's ``spec.ref`` follows, or ``(None, what it follows
    instead)``. Flux's precedence: commit, name, semver, tag, branch; no ref is ``master``."""
    ref = ref or {}
    if ref.get("commit"):
        return None, "commit %s" % ref["commit"]
    if ref.get("name"):
        if ref["name"].startswith("refs/heads/"):
            return ref["name"][len("refs/heads/"):], None
        return None, "the reference %s" % ref["name"]
    if ref.get("semver"):
        return None, "the tags matching %s" % ref["semver"]
    if ref.get("tag"):
        return None, "tag %s" % ref["tag"]
    return ref.get("branch") or "master", None


def _under(directory, top):
    return top in ("", ".") or directory == top or directory.startswith(top.rstrip("/") + "/")


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def applied_directories(path_of, start):
    """What a Flux Kustomization at ``start`` applies, in the working copy (``path_of(relative)``
    gives a file's path, refusing links): ``(directories reached through kustomization
    files' resources and components, directories applied whole)``. A directory without a
    kustomization file is applied whole, as kustomize-controller generates one over every
    manifest below it."""
    import yaml

    reached, whole, todo = set(), set(), [start]
    while todo:
        directory = todo.pop()
        if directory in reached or directory.startswith(".."):
            continue
        reached.add(directory)
        found = [name for name in KUSTOMIZATION_NAMES if os.path.isfile(path_of(os.path.join(directory, name)))]
        if not found:
            whole.add(directory)
            continue
        try:
            with open(path_of(os.path.join(directory, found[0]))) as handle:
                kustomization = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError):
            whole.add(directory)  # kustomize-controller will say what is wrong with it; not this check's business
            continue
        entries = [] if not isinstance(kustomization, dict) else [
            entry for key in ("resources", "components", "bases") for entry in kustomization.get(key) or []
            if isinstance(entry, str) and "://" not in entry]
        for entry in entries:
            child = os.path.normpath(os.path.join(directory, entry))
            try:
                if os.path.isdir(path_of(child)):
                    todo.append(child)
            except CollectionError:
                continue  # outside the repository or through a link: kustomize-controller refuses it too
    return reached, whole


def _repository(image):
    """An image's repository as a container runtime names it (no tag or digest, docker.io's defaults dropped)."""
    name = edit.split_image(image)[0] if image else ""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _rendered_images(text, where):
    """``{image name: repository the kustomization renders it as}`` (``newName`` or the name)."""
    import yaml

    try:
        kustomization = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ReleaseError("git_release: %s is not valid YAML: %s" % (where, error))
    entries = kustomization.get("images") if isinstance(kustomization, dict) else None
    return {entry["name"]: entry.get("newName") or entry["name"] for entry in entries or []
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)}


def _holds(text, kind, name):
    """Whether the YAML ``text`` has a document of ``kind`` named ``name``."""
    import yaml

    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return False
    return any(isinstance(document, dict) and document.get("kind") == kind
               and ((document.get("metadata") or {}).get("name")) == name for document in documents)


def _changes(changes):
    return [dict(what=what, old=old, new=new) for what, old, new in changes]


class GitCommit(Change):
    """A commit in the platform repository; Flux applies it; reverted on rollback."""

    task = "git_release"

    def __init__(self, args):
        args = dict(args, images=plain(args.get("images") or {}), values=plain(args.get("values") or []))
        super().__init__(args)
        self.repo = repo_from_params(args, default_workdir(args["repo_url"], args.get("branch") or "main"))
        self.commit = None
        self.pushing = None  # a commit being pushed, until the push's answer is in
        self.reverted = None
        self.applied_revision = None

    @property
    def overhead(self):
        return FLUX_MINIMUM, float(self.args.get("flux_timeout") or 120)

    check = staticmethod(check_git_request)

    def files(self):
        """The files this release edits, relative to the repository."""
        names = [os.path.join(self.args["path"], "kustomization.yaml")] if self.args.get("images") else []
        return names + [value["file"] for value in self.args.get("values") or []]

    # --- before anything is written ------------------------------------------------
    def prepare(self, run, obj):
        """Before anything is written: the Flux objects that apply the app exist and are not
        suspended; the commit goes where Flux reads (the branch its GitRepository follows, a
        path its Kustomization applies) and is the canary's app's (``_check_app``), checked on
        the working copy brought to the remote's head; and the Kustomization is not failing
        already. The user's own mistakes come first (the edits are tried in memory too), the
        platform's state last."""
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        kustomization = run.kube.get(objects.KUSTOMIZATION, namespace, name)
        if kustomization is None:
            raise ReleaseError("git_release: %s not found; which Kustomization applies %s? (option kustomization)" % (
                objects.KUSTOMIZATION.describe(namespace, name), self.args["path"]))
        kustomization.setdefault("kind", "Kustomization")
        check_not_suspended(kustomization)
        source = source_of(kustomization)
        source_obj = run.kube.get(*source)
        if source_obj is None:
            raise ReleaseError("git_release: the source of %s, %s, not found" % (
                objects.KUSTOMIZATION.describe(namespace, name), source[0].describe(source[1], source[2])))
        source_obj.setdefault("kind", source[0].kind)
        check_not_suspended(source_obj)
        self._check_followed(kustomization, source, source_obj)
        with self.repo.locked():
            run.result["commit_before"] = self.repo.sync()
            self._check_applied(kustomization)
            self._check_app(run, obj)
            self._try_edits()
        started = run.budget.clock()
        kustomization = self._past_dependencies(run, kustomization)
        check_not_suspended(kustomization)
        ready = objects.condition(kustomization, "Ready") or {}
        if ready.get("status") == "False":
            waited = ("; waited %.0f s for its dependency (wait_timeout leaves the release no more)" % (
                run.budget.clock() - started) if ready.get("reason") == "DependencyNotReady" else "")
            raise ReleaseError(
                "git_release: %s is failing already (Ready=False, %s: %s)%s; a commit now would be blamed for it "
                "and reverted. Fix it first; nothing was written" % (
                    objects.KUSTOMIZATION.describe(namespace, name), ready.get("reason"), ready.get("message"), waited),
                object=objects.summarize(kustomization))

    def _past_dependencies(self, run, kustomization):
        """The Kustomization once it no longer waits on a dependency (``DependencyNotReady``
        is what a dependency applying a new revision looks like for a few seconds), within
        ``DEPENDENCY_WAIT`` and what the release needs of the budget after it."""
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        wait = run.budget.share(DEPENDENCY_WAIT, keep=run.need[0] + self.overhead[0])
        deadline = run.budget.clock() + wait
        told = False
        while (objects.condition(kustomization, "Ready") or {}).get("reason") == "DependencyNotReady":
            if run.budget.clock() >= deadline:
                break
            if not told:
                run.say("git_release: %s waits on a dependency (%s); waiting up to %.0f s for it" % (
                    objects.KUSTOMIZATION.describe(namespace, name),
                    (objects.condition(kustomization, "Ready") or {}).get("message"), wait))
                told = True
            run.budget.sleep(min(1.0, max(0.0, deadline - run.budget.clock())))
            kustomization = run.kube.get(objects.KUSTOMIZATION, namespace, name) or kustomization
            kustomization.setdefault("kind", "Kustomization")
        return kustomization

    def _check_followed(self, kustomization, source, source_obj):
        """The commit goes where Flux reads: the Kustomization's source is a GitRepository that
        follows ``branch`` (Flux's default, with no ref, is ``master``)."""
        described = "%s (the source of %s)" % (source[0].describe(source[1], source[2]), objects.KUSTOMIZATION.describe(
            kustomization["metadata"].get("namespace"), kustomization["metadata"].get("name")))
        if source[0] is not objects.GIT_REPOSITORY:
            raise ReleaseError("git_release: %s is not a GitRepository: a commit to %s never reaches it; nothing was "
                               "written (option kustomization)" % (described, redact_url(self.args["repo_url"])))
        branch = self.args.get("branch") or "main"
        followed, what = followed_branch((source_obj.get("spec") or {}).get("ref"))
        if followed is None:
            raise ReleaseError("git_release: %s follows %s, not a branch: a commit pushed to branch %r would never be "
                               "applied; nothing was written" % (described, what, branch))
        if followed != branch:
            raise ReleaseError("git_release: branch is %r, but %s follows branch %r: a commit there would never be "
                               "applied; nothing was written" % (branch, described, followed))

    def _check_applied(self, kustomization):
        """``path`` and the values' files are among what the Kustomization applies: under its
        ``spec.path``, or in a directory its kustomization files reach (``resources``,
        ``components``, such as ``../base/podinfo``). Otherwise nothing would apply the commit."""
        start = os.path.normpath((kustomization.get("spec") or {}).get("path") or ".")
        reached, whole = applied_directories(self.repo.path, start)
        where = "%s (spec.path %r)" % (objects.KUSTOMIZATION.describe(
            kustomization["metadata"].get("namespace"), kustomization["metadata"].get("name")),
            (kustomization.get("spec") or {}).get("path") or "./")
        wanted = [("path", os.path.normpath(self.args["path"]), self.args["path"])] + [
            ("values[%d].file" % index, os.path.dirname(os.path.normpath(value["file"])) or ".", value["file"])
            for index, value in enumerate(self.args.get("values") or [])]
        outside = ["%s %r" % (option, shown) for option, directory, shown in wanted
                   if directory not in reached and not any(_under(directory, top) for top in whole)]
        if outside:
            raise ReleaseError("git_release: %s is not applied by %s: Flux would never apply the commit; nothing was "
                               "written. Name the Kustomization that applies it (option kustomization)" % (
                                   ", ".join(outside), where))

    def _check_app(self, run, obj):
        """The change is the canary's app's: each image of ``images`` is one the canary's
        target runs (as the kustomization renders it: ``newName`` or the name), and each
        file of ``values`` holds the target, or sits beside a file that does (its patches).
        Another app's change would be released unfollowed and never reverted."""
        target = run.backend.target(obj)
        kind, name = target.get("kind") or "Deployment", target["metadata"]["name"]
        described = "%s %s/%s" % (kind, target["metadata"]["namespace"], name)
        spec = canaries.pod_template(target).get("spec") or {}
        running = sorted(set(_repository(container.get("image") or "") for container in
                             (spec.get("containers") or []) + (spec.get("initContainers") or [])))
        problems = []
        if self.args.get("images"):
            relative = os.path.join(self.args["path"], "kustomization.yaml")
            rendered = _rendered_images(self._read(relative), relative)
            for image in sorted(self.args["images"]):
                repository = rendered.get(image)
                if repository is not None and _repository(repository) not in running:
                    problems.append("images[%s]: the canary's target %s runs %s, not %s (as %s renders it): that "
                                    "is another app's image" % (
                                        image, described, ", ".join(running) or "nothing", repository, relative))
        for index, value in enumerate(self.args.get("values") or []):
            if not _holds(self._read(value["file"]), kind, name) and not any(
                    _holds(self._read(sibling), kind, name) for sibling in self._siblings(value["file"])):
                problems.append("values[%d].file: %s holds no %s named %s, and no file beside it does: that is another "
                                "app's file" % (index, value["file"], kind, name))
        if problems:
            raise ReleaseError("git_release: %s; releasing it here would go unfollowed by canary %s and never be "
                               "reverted. Name the canary of that app (options name, namespace); nothing was written"
                               % ("; ".join(problems), run.key))

    def _try_edits(self):
        """Each edit tried on the file's text in memory (nothing written): a value the file
        cannot take (a mapping where it holds a string, a path that is not there) is the
        user's mistake, told before the platform's state is looked at."""
        for relative, change in self._edits():
            change(self._read(relative), relative)

    def _read(self, relative):
        full = self.repo.path(relative)  # refuses symlinks and paths outside the working copy
        try:
            with open(full) as handle:
                return handle.read()
        except OSError:
            raise ReleaseError("git_release: %s is not in the repository %s" % (relative, redact_url(self.repo.url)))

    def _siblings(self, relative):
        directory = os.path.dirname(os.path.normpath(relative))
        full = self.repo.path(directory or ".")
        return [os.path.join(directory, entry) for entry in sorted(os.listdir(full))
                if entry.endswith((".yaml", ".yml")) and os.path.join(directory, entry) != os.path.normpath(relative)
                and os.path.isfile(os.path.join(full, entry)) and not os.path.islink(os.path.join(full, entry))]

    def _edits(self):
        """``[(file, edit)]``: what this release sets, file by file; ``edit(text, where)`` gives
        ``(new_text, [(what, old, new)])``, no changes when the text holds it already."""
        edits = []
        if self.args.get("images"):
            edits.append((os.path.join(self.args["path"], "kustomization.yaml"),
                          lambda text, where: edit.set_images(text, self.args["images"], where)))
        for value in self.args.get("values") or []:
            edits.append((value["file"], lambda text, where, value=value: edit.set_value(
                text, value["path"], value["value"], value.get("kind"), where)))
        return edits

    def _edit(self):
        """The edits on the working copy (synced by the caller); ``[(what, old, new)]``."""
        changes = []
        for relative, change in self._edits():
            changes += self._edit_file(relative, change)
        return changes

    def _edit_file(self, relative, change):
        full = self.repo.path(relative)  # refuses symlinks and paths outside the working copy
        try:
            with open(full) as handle:
                text = handle.read()
        except OSError:
            raise ReleaseError("git_release: %s is not in the repository %s" % (relative, redact_url(self.repo.url)))
        new_text, changes = change(text, relative)
        if changes:
            with open(full, "w") as handle:
                handle.write(new_text)
        return changes

    def pending(self, run, obj):
        with self.repo.locked():
            self.repo.sync()
            try:
                changes = self._edit()
                return dict(changes=changes, diff=self.repo.diff()) if changes else None
            finally:
                self.repo.discard()

    def preview(self, run, obj, change):
        run.result.update(changed=True, changes=_changes(change["changes"]), diff=dict(prepared=change["diff"]),
                          msg="%s: would commit and push: %s" % (
                              run.describe(), self._message(run, change["changes"]).split("\n")[0]))

    def _message(self, run, changes):
        what = ", ".join("%s %s -> %s" % (name, old or "(unset)", new) for name, old, new in changes)
        return "Release %s: %s\n\nRequested by %s through gitops.progressive.git_release.\nPath: %s" % (
            run.key, what, requested_by(self.args, who=run.lease_holder), self.args["path"])

    # --- the change ------------------------------------------------------------------
    def make(self, run, obj, change):
        made = {}
        need = run.need[0] + self.overhead[0]

        def build(_repo):
            # Another task may have held the working copy for a while: the analysis must still fit.
            run.budget.require(need, "%s: the analysis, with git and Flux before it" % run.describe())
            made["changes"] = self._edit()
            return made["changes"]

        commit = commit_and_push(self.repo, build, lambda changes: self._message(run, changes),
                                 lock_timeout=self._lock_share(run, keep=need),
                                 on_commit=lambda sha: setattr(self, "pushing", sha))
        self.pushing = None
        if commit is None:
            raise ReleaseError("git_release: git received these values from someone else while this task waited; "
                               "nothing was committed. That release is not this task's to judge: follow it with "
                               "canary_rollout (no images), or release again")
        self._record_commit(run, commit, made["changes"])

    def _record_commit(self, run, commit, changes):
        self.commit = commit
        message = self._message(run, changes) if changes else self.repo.subject(commit)
        run.result.update(changed=True, commit=commit, message=message.split("\n")[0])
        if changes:
            run.result["changes"] = _changes(changes)
        run.result["timings"] = dict(preflight_and_git=round(run.budget.spent(), 3))
        run.say("git_release: pushed %s (%s)" % (commit[:12], message.split("\n")[0]))

    @staticmethod
    def _lock_share(run, keep=0.0):
        """How long to wait for another task's hold on the working copy: out of the budget."""
        return max(1.0, run.budget.share(LOCK_TIMEOUT, keep=keep))

    def confirm_written(self, run):
        """Interrupted while pushing: the remote tells whether the commit landed."""
        if self.pushing and not self.commit and self.repo.remote_head() == self.pushing:
            self._record_commit(run, self.pushing, None)

    def apply(self, run, obj):
        pushed = run.budget.clock()
        try:
            run.result["flux"] = self._reconcile(run, self.commit, keep=run.need[0])
        except CollectionError as error:
            # Flux failed it or gave no answer within its share: nobody would follow this
            # commit, so it goes (git as it was found).
            reverted = self._take_back(run, "Flux did not apply it: %s" % error)
            raise ReleaseError("git_release: Flux did not apply %s: %s. Reverted it with %s; git is as it was "
                               "found." % (self.commit[:12], error, reverted[:12]),
                               commit=self.commit, revert_commit=reverted)
        run.result["timings"]["flux"] = round(run.budget.clock() - pushed, 3)
        return canaries.pod_template(run.backend.target(obj))

    def _reconcile(self, run, commit, keep=0.0):
        """Reconcile the source and the Kustomization; wait until ``commit`` (or a later commit
        that contains it) is applied, within flux_timeout and the budget (keeping ``keep``)."""
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        timeout = run.budget.share(float(self.args.get("flux_timeout") or 120), keep=keep)
        if timeout <= 0:
            raise FluxError("no time left in wait_timeout for Flux to apply %s" % commit[:12])

        def applied(revision):
            with self.repo.locked(self._lock_share(run)):  # contains() may fetch into the shared copy
                return self.repo.contains(commit, objects.commit_of(revision))

        deadline = run.budget.clock() + timeout
        while True:
            try:
                result = Reconcile(run.kube, objects.KUSTOMIZATION, namespace, name,
                                   max(1.0, deadline - run.budget.clock()), with_source=True, revision=applied,
                                   report=run.say, clock=run.budget.clock).run()
                break
            except ApiError as error:
                # A blip on the request itself (the wait retries on its own): asking again is
                # cheap, while giving up would revert a commit Flux may well apply.
                transient = error.unreachable or (error.status or 0) >= 500 or error.status == 429
                if not transient or deadline - run.budget.clock() < RETRY_PAUSE * 2:
                    raise
                run.warn("asking Flux to reconcile failed (%s); asking again" % error)
                run.budget.sleep(RETRY_PAUSE)
        self.applied_revision = result.get("commit") or objects.commit_of(result.get("revision"))
        return dict(seconds=result["seconds"], revision=result["revision"], steps=result["steps"])

    def owns_applied(self, run):
        """Flux applied a later commit than ours. If it holds other values for what this
        release set (another writer's tag for this image, another value at these paths), the
        revision Flagger analyses is not this release's. Other apps' entries in the same
        file are none of its business."""
        applied = self.applied_revision
        if not self.commit or not applied or applied == self.commit:
            return None
        with self.repo.locked(self._lock_share(run)):
            if not self.repo.contains(self.commit, applied):  # fetches the applied commit when it is new here
                return "Flux applied %s, which does not hold this release's commit %s" % (
                    applied[:12], self.commit[:12])
            changed = [what for relative, edit_text in self._edits()
                       for what, _old, _new in edit_text(self._text_at(applied, relative), relative)[1]]
        if changed:
            return "Flux applied %s, a later commit that set %s again; its verdict would be that change's" % (
                applied[:12], ", ".join(changed))
        return None

    def _text_at(self, commit, relative):
        return self.repo.git("show", "%s:%s" % (commit, relative), doing="show %s at %s" % (relative, commit[:12]))

    def settle(self, run, obj):
        """Git holds these values already: Flux must have applied them before they are judged."""
        if run.check_mode or not run.result.get("commit_before"):
            return obj
        try:
            run.result["flux"] = self._reconcile(run, run.result["commit_before"])
        except FluxError as error:
            raise ReleaseError("git_release: git already holds these values, but Flux has not applied them: %s" %
                               error)
        return run.backend.get(obj["metadata"]["namespace"], obj["metadata"]["name"])

    # --- taking it back ------------------------------------------------------------------
    def undo(self, run, why):
        if not self.commit or self.reverted or not self.args.get("revert_on_rollback", True):
            return False
        self._take_back(run, why)
        return True

    def _take_back(self, run, why):
        return self._revert(run, why)

    def _revert(self, run, why):
        commit = self.commit
        subject = self.repo.subject(commit)
        reverted = revert_and_push(self.repo, commit, 'Revert "%s"\n\n%s\nReverted by gitops.progressive.'
                                   'git_release.' % (subject, why), lock_timeout=self._lock_share(run))
        if reverted is None:
            # Someone else took the change back already: git holds none of it.
            run.warn("%s was not reverted: the branch no longer holds any of its changes" % commit[:12])
            self.reverted = "(already taken back)"
            return self.reverted
        self.reverted = reverted
        run.result.update(changed=True, revert_commit=reverted)
        run.say("git_release: reverted %s with %s" % (commit[:12], reverted[:12]))
        if run.interrupted:
            return reverted  # the revert is pushed; Flux applies it on its own, nobody waits now
        try:
            run.result["revert_flux"] = self._reconcile(run, reverted)
        except FluxError as error:
            run.warn("the revert %s is pushed but Flux has not applied it: %s" % (reverted[:12], error))
        return reverted

    def left_behind(self, run):
        if self.commit and not self.reverted:
            return "commit %s is pushed and not reverted; Flux applies it and Flagger analyses it, unfollowed" % (
                self.commit[:12])
        return None


class ImageAutomation(GitCommit):
    """A tag pushed to a registry: Flux's image automation commits it; this follows that
    commit and, on rollback, suspends the automation before reverting (otherwise its next
    run writes the same tag back, since the policy still selects it)."""

    def __init__(self, args):
        super().__init__(args)
        self.suspended = None

    def preview(self, run, obj, change):
        resume = bool(self.args.get("resume_automation"))
        if resume:
            self._check_policies_select(run)  # what the real run refuses, check mode refuses
        run.result.update(changed=resume, changes=_changes(change["changes"]), diff=dict(prepared=change["diff"]),
                          msg="%s: would %swait for image automation %s to commit this" % (
                              run.describe(), "resume and " if resume else "", self.args["image_automation"]))

    def prepare(self, run, obj):
        super().prepare(run, obj)
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        automation = run.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)
        if automation is None:
            raise ReleaseError("git_release: %s not found (option image_automation)" % (
                objects.IMAGE_UPDATE_AUTOMATION.describe(namespace, name)))
        automation.setdefault("kind", "ImageUpdateAutomation")
        if not self.args.get("resume_automation"):
            check_not_suspended(automation)

    def _wanted_tag(self, image):
        value = self.args["images"][image]
        return edit.split_image(value)[1] if re.search(r"[/:@]", value) else value

    def _check_policies_select(self, run):
        """Resuming is only safe once the ImagePolicy of each image (the one its entry's
        ``$imagepolicy`` marker names, which is what the automation writes from) selects the
        wanted tag; otherwise the automation writes another tag (the bad one) back."""
        relative = os.path.join(self.args["path"], "kustomization.yaml")
        with self.repo.locked(self._lock_share(run)):
            markers = image_policy_markers(self._text_at("HEAD", relative))
        wrong = []
        for image in sorted(self.args["images"]):
            marker = markers.get(image)
            if not marker:
                wrong.append("no $imagepolicy marker in %s names the policy of %s" % (relative, image))
                continue
            namespace, name = (marker.split(":") + [""])[:2]
            policy = run.kube.get(objects.IMAGE_POLICY, namespace, name)
            status = (policy or {}).get("status") or {}
            tag = (status.get("latestRef") or {}).get("tag") or status.get("latestImage", ":").rsplit(":", 1)[-1]
            if policy is None:
                wrong.append("ImagePolicy %s/%s (named by the marker of %s) not found" % (namespace, name, image))
            elif tag != self._wanted_tag(image):
                wrong.append("ImagePolicy %s/%s selects %s, not %s" % (namespace, name, tag or "nothing",
                                                                       self._wanted_tag(image)))
        if wrong:
            raise ReleaseError("git_release: image automation %s/%s is not resumed: %s. Resumed now, it would "
                               "write another tag; push the fixed tag so that the policy selects it (a higher "
                               "version), then run again; nothing was written" % (
                                   self.args["kustomization_namespace"], self.args["image_automation"],
                                   "; ".join(wrong)))

    def make(self, run, obj, change):
        if self.args.get("resume_automation"):
            self._check_policies_select(run)
            self._resume(run)
        commit, author = self._awaited_commit(run)
        self.commit = commit
        run.result.update(commit=commit, author=author, message=self.repo.subject(commit))
        run.result["timings"] = dict(preflight_and_git=round(run.budget.spent(), 3))
        run.say("git_release: image automation committed %s (%s)" % (commit[:12], author))

    def _awaited_commit(self, run):
        """Wait, within flux_timeout and the budget, until the branch holds the images; the
        commit that wrote them (not a later one to the same file, another app's perhaps)."""
        path = os.path.join(self.args["path"], "kustomization.yaml")
        share = run.budget.share(float(self.args.get("flux_timeout") or 120), keep=run.need[0])
        deadline = run.budget.clock() + share
        run.say("git_release: waiting for image automation %s to commit %s" % (
            self.args["image_automation"], ", ".join("%s:%s" % item for item in sorted(self.args["images"].items()))))
        while True:
            with self.repo.locked(self._lock_share(run)):
                self.repo.sync()
                try:
                    if not self._edit():
                        commit = self._writer_of(path, run.result.get("commit_before"))
                        return commit, self.repo.git("log", "-1", "--format=%an <%ae>", commit)
                finally:
                    self.repo.discard()
            if run.budget.clock() >= deadline:
                raise ReleaseError("git_release: image automation %s did not commit %s within %d s (is the tag in "
                                   "the registry, and does the ImagePolicy select it?)" % (
                                       self.args["image_automation"], ", ".join(sorted(self.args["images"])),
                                       round(share)))
            run.budget.sleep(min(2.0, max(0.0, deadline - run.budget.clock())))

    def _writer_of(self, path, since):
        """The first commit after ``since`` whose ``path`` holds the wanted images."""
        span = "%s..HEAD" % since if since else "HEAD"
        for commit in self.repo.git("log", "--reverse", "--format=%H", span, "--", path).split():
            if not edit.set_images(self._text_at(commit, path), self.args["images"], path)[1]:
                return commit
        return self.repo.head()

    def _automation(self, run):
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        return namespace, name, run.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)

    def _suspend(self, run, why):
        namespace, name, automation = self._automation(run)
        if automation is None:
            return
        self.suspended = "%s/%s" % (namespace, name)  # before the request: an interrupt still names it
        set_suspended(run.kube, [(objects.IMAGE_UPDATE_AUTOMATION, automation)], True)
        run.result.update(changed=True, automation_suspended=self.suspended)
        run.warn("image automation %s/%s is suspended (%s), or it would write the tag back: push a fixed tag, then "
                 "resume it (gitops.progressive.flux_suspend with state: resumed, or git_release with "
                 "resume_automation: true)" % (namespace, name, why))
        run.say("git_release: suspended image automation %s/%s" % (namespace, name))

    def _resume(self, run):
        namespace, name, automation = self._automation(run)
        if automation is not None and objects.is_suspended(automation):
            set_suspended(run.kube, [(objects.IMAGE_UPDATE_AUTOMATION, automation)], False)
            run.result.update(changed=True, automation_resumed="%s/%s" % (namespace, name))
            run.say("git_release: resumed image automation %s/%s" % (namespace, name))

    def _take_back(self, run, why):
        if not self.suspended:
            self._suspend(run, why)
        return self._revert(run, why)

    def left_behind(self, run):
        notes = [note for note in (super().left_behind(run),) if note]
        if self.suspended:
            notes.append("image automation %s stays suspended until a fixed tag is pushed and it is resumed" %
                         self.suspended)
        return "; ".join(notes) or None
