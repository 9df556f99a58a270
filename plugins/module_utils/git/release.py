# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release through git: commit, Flux applies it, Flagger judges it, revert on rollback.

:class:`GitRelease` is the release engine of ``canary_rollout`` (flagger/release.py) with
another change: instead of patching the target, it

1. checks before anything is written: the options, the Flux objects that apply the app
   (the Kustomization and its source exist and are not suspended), then everything the
   engine checks (canary initialised, no rollback request, a release in flight, the
   timeout floor, the metric window, the metrics having data);
2. edits the app's directory in the platform repository (kustomize ``images`` and values
   at YAML paths, module_utils/git/edit.py), commits with a message that says what, from
   what to what and who ran it, and pushes;
3. reconciles the source and the Kustomization and waits until *that* commit is applied
   (flux/reconcile.py); a commit Flux cannot apply (a broken manifest) is reverted at
   once, so git is left as it was found;
4. follows the canary to its verdict with the engine (live progress);
5. on rollback, reverts its own commit, pushes, reconciles, and reports both commits, so
   git and the cluster agree again.

A release whose values git already holds changes nothing. Check mode computes the
commit's diff and pushes nothing.

With ``image_automation`` (an ImageUpdateAutomation) the change is not this task's to
make: a tag was pushed to the registry, and the task follows the release that Flux's
image automation makes of it. Step 2 becomes a wait, within ``flux_timeout``, for a
commit on the branch that holds ``images`` (whoever wrote it); on a rollback, or when
Flux cannot apply it, the automation is suspended *before* the commit is reverted
(otherwise its next run writes the same tag back, since the policy still selects it) and
the result says so: it stays suspended until a fixed tag is pushed and it is resumed.
"""

from __future__ import annotations

import getpass
import json
import os
import socket

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.release import (
    Release,
    ReleaseError,
    check_request,
)
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
    default_workdir,
    repo_from_params,
)


def check_git_request(args):
    """Problems with git_release's own options, before any request."""
    errors = []
    if not args.get("images") and not args.get("values"):
        errors.append("images or values must say what to release")
    path = args.get("path") or ""
    if not path or os.path.isabs(path) or ".." in path.split("/"):
        errors.append("path must be a directory inside the repository, like apps/staging, got %r" % path)
    for index, value in enumerate(args.get("values") or []):
        if not isinstance(value, dict) or not value.get("file") or not value.get("path") or "value" not in value:
            errors.append("values[%d] needs file, path and value" % index)
        elif ".." in str(value["file"]).split("/") or os.path.isabs(str(value["file"])):
            errors.append("values[%d].file must be inside the repository, got %r" % (index, value["file"]))
        elif value["value"] is None:
            errors.append("values[%d].value must not be null" % index)
    if args.get("flux_timeout") is not None and args["flux_timeout"] <= 0:
        errors.append("flux_timeout must be a positive number of seconds, got %r" % args["flux_timeout"])
    return errors


def requested_by(args, environ=None):
    environ = environ if environ is not None else os.environ
    if args.get("requested_by"):
        return args["requested_by"]
    who = environ.get("AWX_JOB_ID") and "AWX job %s" % environ["AWX_JOB_ID"]
    if not who:
        try:
            who = "%s@%s" % (getpass.getuser(), socket.gethostname())
        except (KeyError, OSError):
            who = "unknown"
    return who


class GitRelease(Release):
    task = "git_release"

    def __init__(self, kube, args, check_mode=False, say=None, **kwargs):
        # Plain data: Ansible's tagged strings would not survive a YAML dump into the repository.
        args = dict(args, images=plain(args.get("images") or {}), values=plain(args.get("values") or []))
        super().__init__(kube, args, check_mode=check_mode, say=say, **kwargs)
        self.repo = repo_from_params(args, default_workdir(args["repo_url"], args.get("branch") or "main"))
        self.kustomization = None
        self.applied_at = None

    # --- checks ------------------------------------------------------------------------
    def _check_request(self):
        args = dict(self.args)
        args.pop("images", None)  # image names here are kustomize image names, checked by edit.py
        errors = check_request(args) + check_git_request(self.args)
        if self.args.get("image_automation"):
            if not self.args.get("images"):
                errors.append("image_automation: name the tags the automation is to write (images)")
            if self.args.get("values"):
                errors.append("image_automation: values cannot be followed (image automation writes tags only)")
        return errors

    def _asks_for_change(self):
        return True

    @property
    def overhead(self):
        """git and Flux come before the analysis: the floor check counts Flux's share."""
        return float(self.args.get("flux_timeout") or 120)

    def run(self):
        errors = self._check_request()
        if errors:
            raise ReleaseError("git_release: %s" % "; ".join(errors))
        self._check_flux()
        self.result["commit_before"] = self.repo.sync()
        try:
            return super().run()
        finally:
            if not self.result.get("commit"):
                self.repo.discard()

    def _check_flux(self):
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        kustomization = self.kube.get(objects.KUSTOMIZATION, namespace, name)
        if kustomization is None:
            raise ReleaseError("git_release: %s not found; which Kustomization applies %s? (option kustomization)" % (
                objects.KUSTOMIZATION.describe(namespace, name), self.args["path"]))
        kustomization.setdefault("kind", "Kustomization")
        check_not_suspended(kustomization)
        source = source_of(kustomization)
        source_obj = self.kube.get(*source)
        if source_obj is None:
            raise ReleaseError("git_release: the source of %s, %s, not found" % (
                objects.KUSTOMIZATION.describe(namespace, name), source[0].describe(source[1], source[2])))
        source_obj.setdefault("kind", source[0].kind)
        check_not_suspended(source_obj)
        self.kustomization = kustomization
        if self.args.get("image_automation"):
            automation = self.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, self.args["image_automation"])
            if automation is None:
                raise ReleaseError("git_release: %s not found (option image_automation)" % (
                    objects.IMAGE_UPDATE_AUTOMATION.describe(namespace, self.args["image_automation"])))
            automation.setdefault("kind", "ImageUpdateAutomation")
            if not self.args.get("resume_automation"):
                check_not_suspended(automation)

    # --- the change --------------------------------------------------------------------
    def _edit(self):
        """Apply the edits to the working copy (from a clean state); ``[(what, old, new)]``."""
        self.repo.discard()
        changes = []
        if self.args.get("images"):
            changes += self._edit_file(os.path.join(self.args["path"], "kustomization.yaml"),
                                       lambda text, where: edit.set_images(text, self.args["images"], where))
        for value in self.args.get("values") or []:
            changes += self._edit_file(value["file"], lambda text, where, value=value: edit.set_value(
                text, value["path"], value["value"], value.get("kind"), where))
        return changes

    def _edit_file(self, relative, change):
        full = self.repo.path(relative)
        try:
            with open(full) as handle:
                text = handle.read()
        except OSError:
            raise ReleaseError("git_release: %s is not in the repository %s" % (relative, self.repo.url))
        new_text, changes = change(text, relative)
        if changes:
            with open(full, "w") as handle:
                handle.write(new_text)
        return changes

    def _pending_change(self, canary):
        changes = self._edit()
        if not changes:
            return None
        return dict(changes=changes, diff=self.repo.diff())

    def _message(self, changes):
        key = "%s/%s" % (self.args["namespace"], self.args["name"])
        what = ", ".join("%s %s -> %s" % (name, old or "(unset)", new) for name, old, new in changes)
        return "Release %s: %s\n\nRequested by %s through gitops.progressive.git_release.\nPath: %s" % (
            key, what, requested_by(self.args), self.args["path"])

    def _already_there(self, key, canary):
        """Git already holds these values: make sure Flux applied them before judging."""
        if not self.check_mode and self.result.get("commit_before"):
            try:
                self.result["flux"] = self._apply(self.result["commit_before"])
            except FluxError as error:
                raise ReleaseError("git_release: git already holds these values, but Flux has not applied "
                                   "them: %s" % error)
            namespace, name = key.split("/", 1)
            canary = self._canary(namespace, name)
        return super()._already_there(key, canary)

    def _preview(self, canary, change, obj):
        self.repo.discard()
        if self.args.get("image_automation"):
            self.result.update(changed=False, changes=_changes(change["changes"]), diff=dict(prepared=change["diff"]),
                               msg="%s: would wait for image automation %s to commit this" % (
                                   obj, self.args["image_automation"]))
            return self.result
        self.result.update(changed=True, changes=_changes(change["changes"]), diff=dict(prepared=change["diff"]),
                           msg="%s: would commit and push: %s" % (obj, self._message(change["changes"]).split("\n")[0]))
        return self.result

    def _awaited_commit(self):
        """Wait, within flux_timeout and the task's time left, until the branch holds the
        images (image automation wrote them); the commit that did, and when it was seen."""
        left = (self.args.get("wait_timeout") or 1800) - (self.clock() - self.started)
        deadline = self.clock() + max(1.0, min(float(self.args.get("flux_timeout") or 120), left))
        path = os.path.join(self.args["path"], "kustomization.yaml")
        self.say("git_release: waiting for image automation %s to commit %s" % (
            self.args["image_automation"], ", ".join("%s:%s" % item for item in sorted(self.args["images"].items()))))
        while True:
            self.repo.sync()
            if not self._edit():
                commit = self.repo.git("log", "-1", "--format=%H", "--", path)
                return commit, self.repo.git("log", "-1", "--format=%an <%ae>", commit)
            self.repo.discard()
            if self.clock() >= deadline:
                raise ReleaseError("git_release: image automation %s did not commit %s within %d s (is the tag in "
                                   "the registry, and does the ImagePolicy select it?)" % (
                                       self.args["image_automation"], ", ".join(sorted(self.args["images"])),
                                       round(deadline - self.started)))
            self.sleep(min(2.0, max(0.0, deadline - self.clock())))

    def _suspend_automation(self, why):
        """Stop image automation from writing the tag back after a revert."""
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        automation = self.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)
        if automation is None:
            return
        set_suspended(self.kube, [(objects.IMAGE_UPDATE_AUTOMATION, automation)], True)
        self.result.update(changed=True, automation_suspended="%s/%s" % (namespace, name))
        self.result.setdefault("warnings", []).append(
            "image automation %s/%s is suspended (%s), or it would write the tag back: push a fixed tag, then "
            "resume it (gitops.progressive.flux_suspend, suspend: false)" % (namespace, name, why))
        self.say("git_release: suspended image automation %s/%s" % (namespace, name))

    def _resume_automation(self):
        """Resume the automation a rollback suspended, now that the canary's baseline is recorded."""
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        automation = self.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)
        if automation is not None and objects.is_suspended(automation):
            set_suspended(self.kube, [(objects.IMAGE_UPDATE_AUTOMATION, automation)], False)
            self.result.update(changed=True, automation_resumed="%s/%s" % (namespace, name))
            self.say("git_release: resumed image automation %s/%s" % (namespace, name))

    def _follow_automation(self, canary):
        if self.args.get("resume_automation"):
            self._resume_automation()
        commit, author = self._awaited_commit()
        seen = self.clock()
        self.result.update(commit=commit, author=author, message=self.repo.subject(commit))
        self.result["timings"] = dict(preflight_and_git=round(seen - self.started, 3))
        self.say("git_release: image automation committed %s (%s)" % (commit[:12], author))
        try:
            self.result["flux"] = self._apply(commit)
        except CollectionError as error:
            self._suspend_automation("Flux did not apply its commit")
            reverted = self._revert(commit, "Flux did not apply it: %s" % error)
            raise ReleaseError("git_release: Flux did not apply %s: %s. Suspended the image automation and "
                               "reverted it with %s." % (commit[:12], error, reverted[:12]),
                               commit=commit, revert_commit=reverted)
        self.applied_at = self.clock()
        self.result["timings"]["flux"] = round(self.applied_at - seen, 3)
        return canaries.pod_template(canaries.get_target(self.kube, canary))

    def _make_change(self, canary, change):
        if self.args.get("image_automation"):
            return self._follow_automation(canary)
        # The in-flight wait and the metric window may have taken minutes: start from the remote's head.
        self.result["commit_before"] = self.repo.sync()
        changes = self._edit()
        if not changes:
            raise ReleaseError("git_release: git received these values while this task waited (%s); nothing "
                               "to commit. Run the task again to follow that release." % self.result["commit_before"])
        message = self._message(changes)
        commit = self.repo.commit(message)
        self.repo.push()
        pushed = self.clock()
        self.result.update(changed=True, commit=commit, changes=_changes(changes), message=message.split("\n")[0])
        self.result["timings"] = dict(preflight_and_git=round(pushed - self.started, 3))
        self.say("git_release: pushed %s (%s)" % (commit[:12], message.split("\n")[0]))
        try:
            self.result["flux"] = self._apply(commit)
            self.applied_at = self.clock()
            self.result["timings"]["flux"] = round(self.applied_at - pushed, 3)
            return canaries.pod_template(canaries.get_target(self.kube, canary))
        except CollectionError as error:
            # Flux failed it, gave no answer in time, or the cluster could not be asked:
            # nobody would follow this commit, so it goes (git as it was found).
            reverted = self._revert(commit, "Flux did not apply it: %s" % error)
            raise ReleaseError("git_release: Flux did not apply %s: %s. Reverted it with %s; git is as it was "
                               "found." % (commit[:12], error, reverted[:12]), commit=commit, revert_commit=reverted)

    def _apply(self, commit):
        """Reconcile the source and the Kustomization; wait until ``commit`` (or a later
        commit that contains it) is applied, within flux_timeout and the task's time left."""
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        left = (self.args.get("wait_timeout") or 1800) - (self.clock() - self.started)
        timeout = max(1.0, min(float(self.args.get("flux_timeout") or 120), left))

        def applied(revision):
            return self.repo.contains(commit, objects.commit_of(revision))

        result = Reconcile(self.kube, objects.KUSTOMIZATION, namespace, name, timeout,
                           with_source=True, revision=applied, report=self.say, clock=self.clock).run()
        return dict(seconds=result["seconds"], revision=result["revision"], steps=result["steps"])

    def _revert(self, commit, why):
        self.repo.sync()
        subject = self.repo.subject(commit)
        reverted = self.repo.revert(commit, 'Revert "%s"\n\n%s\nReverted by gitops.progressive.git_release.' % (
            subject, why))
        self.repo.push()
        self.result.update(changed=True, revert_commit=reverted)
        self.say("git_release: reverted %s with %s" % (commit[:12], reverted[:12]))
        try:
            self.result["revert_flux"] = self._apply(reverted)
        except FluxError as error:
            self.result.setdefault("warnings", []).append(
                "the revert %s is pushed but Flux has not applied it: %s" % (reverted[:12], error))
        return reverted

    def _conclude(self, outcome):
        if self.applied_at is not None:
            self.result["timings"]["analysis"] = round(self.clock() - self.applied_at, 3)
        if outcome["verdict"] == "failed" and self.result.get("commit") and self.args.get("revert_on_rollback", True):
            try:
                if self.args.get("image_automation"):
                    self._suspend_automation("Flagger rolled the release back")
                self._revert(self.result["commit"], "Flagger rolled the release back: %s" % (
                    outcome.get("reason") or "failed analysis"))
            except CollectionError as error:
                self.result.setdefault("warnings", []).append(
                    "could not revert %s after the rollback: %s" % (self.result["commit"][:12], error))
        return self._report(outcome)


def plain(value):
    """``value`` as plain JSON data (str, int, float, bool, None, list, dict)."""
    return json.loads(json.dumps(value))


def _changes(changes):
    return [dict(what=what, old=old, new=new) for what, old, new in changes]


def git_release_argument_spec():
    """git_release's options: the engine's (canary_rollout) without the target patch, plus git and Flux."""
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.rollout_args import rollout_argument_spec
    from ansible_collections.gitops.progressive.plugins.module_utils.git.repo import git_argument_spec

    spec = rollout_argument_spec()
    for option in ("label_selector", "env", "env_container", "annotations"):
        spec.pop(option)
    spec["name"]["required"] = True
    spec["namespace"]["required"] = True
    spec["wait_timeout"]["default"] = 1800
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
