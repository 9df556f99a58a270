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

import getpass
import json
import os
import socket

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
    commit_and_push,
    default_workdir,
    repo_from_params,
    revert_and_push,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import ApiError
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import Change
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import ReleaseError

# Seconds git and Flux need at the least before an analysis can start (a push, two reconciles).
FLUX_MINIMUM = 15.0
# Seconds between two requests to reconcile when the API server did not take the first.
RETRY_PAUSE = 2.0


def requested_by(args, environ=None):
    """Who asked for the release, for the commit message: AWX sets JOB_ID (and the user)."""
    environ = environ if environ is not None else os.environ
    if args.get("requested_by"):
        return args["requested_by"]
    if environ.get("JOB_ID"):
        return "AWX job %s" % environ["JOB_ID"]
    try:
        return "%s@%s" % (getpass.getuser(), socket.gethostname())
    except (KeyError, OSError):
        return "unknown"


def plain(value):
    """``value`` as plain JSON data: Ansible's tagged strings would not survive a YAML dump."""
    return json.loads(json.dumps(value))


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
    if args.get("image_automation"):
        if not args.get("images"):
            errors.append("image_automation: name the tags the automation is to write (images)")
        if args.get("values"):
            errors.append("image_automation: values cannot be followed (image automation writes tags only)")
    return errors


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
        self.reverted = None
        self.applied_revision = None

    @property
    def overhead(self):
        return FLUX_MINIMUM, float(self.args.get("flux_timeout") or 120)

    def check(self):
        return check_git_request(self.args)

    def files(self):
        """The files this release edits, relative to the repository."""
        names = [os.path.join(self.args["path"], "kustomization.yaml")] if self.args.get("images") else []
        return names + [value["file"] for value in self.args.get("values") or []]

    # --- before anything is written ------------------------------------------------
    def prepare(self, run):
        """The Flux objects that apply the app exist, are not suspended, are not failing
        already, and follow this branch; then the working copy at the remote's head."""
        namespace, name = self.args["kustomization_namespace"], self.args["kustomization"]
        kustomization = run.kube.get(objects.KUSTOMIZATION, namespace, name)
        if kustomization is None:
            raise ReleaseError("git_release: %s not found; which Kustomization applies %s? (option kustomization)" % (
                objects.KUSTOMIZATION.describe(namespace, name), self.args["path"]))
        kustomization.setdefault("kind", "Kustomization")
        check_not_suspended(kustomization)
        ready = objects.condition(kustomization, "Ready") or {}
        if ready.get("status") == "False":
            raise ReleaseError(
                "git_release: %s is failing already (Ready=False, %s: %s); a commit now would be blamed for it "
                "and reverted. Fix it first; nothing was written" % (
                    objects.KUSTOMIZATION.describe(namespace, name), ready.get("reason"), ready.get("message")),
                object=objects.summarize(kustomization))
        source = source_of(kustomization)
        source_obj = run.kube.get(*source)
        if source_obj is None:
            raise ReleaseError("git_release: the source of %s, %s, not found" % (
                objects.KUSTOMIZATION.describe(namespace, name), source[0].describe(source[1], source[2])))
        source_obj.setdefault("kind", source[0].kind)
        check_not_suspended(source_obj)
        followed = ((source_obj.get("spec") or {}).get("ref") or {}).get("branch")
        branch = self.args.get("branch") or "main"
        if source[0] is objects.GIT_REPOSITORY and followed and followed != branch:
            raise ReleaseError("git_release: branch is %r, but %s follows branch %r: a commit there would never "
                               "be applied; nothing was written" % (
                                   branch, source[0].describe(source[1], source[2]), followed))
        with self.repo.locked():
            run.result["commit_before"] = self.repo.sync()

    def _edit(self):
        """The edits on the working copy (synced by the caller); ``[(what, old, new)]``."""
        changes = []
        if self.args.get("images"):
            changes += self._edit_file(os.path.join(self.args["path"], "kustomization.yaml"),
                                       lambda text, where: edit.set_images(text, self.args["images"], where))
        for value in self.args.get("values") or []:
            changes += self._edit_file(value["file"], lambda text, where, value=value: edit.set_value(
                text, value["path"], value["value"], value.get("kind"), where))
        return changes

    def _edit_file(self, relative, change):
        full = self.repo.path(relative)  # refuses symlinks and paths outside the working copy
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
            run.key, what, requested_by(self.args), self.args["path"])

    # --- the change ------------------------------------------------------------------
    def make(self, run, obj, change):
        made = {}

        def build(_repo):
            made["changes"] = self._edit()
            return made["changes"]

        commit = commit_and_push(self.repo, build, lambda changes: self._message(run, changes))
        if commit is None:
            raise ReleaseError("git_release: git received these values from someone else while this task waited; "
                               "nothing was committed. That release is not this task's to judge: follow it with "
                               "canary_rollout (no images), or release again")
        self.commit = commit
        message = self._message(run, made["changes"])
        run.result.update(changed=True, commit=commit, changes=_changes(made["changes"]),
                          message=message.split("\n")[0])
        run.result["timings"] = dict(preflight_and_git=round(run.budget.spent(), 3))
        run.say("git_release: pushed %s (%s)" % (commit[:12], message.split("\n")[0]))

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
        """A later commit Flux applied instead of ours that changed the same files holds
        another writer's change: the revision Flagger analyses is not this release's."""
        applied = self.applied_revision
        if not self.commit or not applied or applied == self.commit:
            return None
        if not self.repo.contains(self.commit, applied):  # fetches the applied commit when it is new here
            return "Flux applied %s, which does not hold this release's commit %s" % (applied[:12], self.commit[:12])
        changed = self.repo.git("diff", "--name-only", self.commit, applied, "--", *self.files(), check=False)
        if changed:
            return "Flux applied %s, a later commit that changed %s again; its verdict would be that change's" % (
                applied[:12], ", ".join(changed.split()))
        return None

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
                                   'git_release.' % (subject, why))
        if reverted is None:
            # Someone else took the change back already: git holds none of it.
            run.warn("%s was not reverted: the branch no longer holds any of its changes" % commit[:12])
            self.reverted = "(already taken back)"
            return self.reverted
        self.reverted = reverted
        run.result.update(changed=True, revert_commit=reverted)
        run.say("git_release: reverted %s with %s" % (commit[:12], reverted[:12]))
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

    def finish(self, run):
        try:
            with self.repo.locked():
                self.repo.discard()
        except CollectionError as error:
            run.warn("could not clean the working copy: %s" % error)


class ImageAutomation(GitCommit):
    """A tag pushed to a registry: Flux's image automation commits it; this follows that
    commit and, on rollback, suspends the automation before reverting (otherwise its next
    run writes the same tag back, since the policy still selects it)."""

    def __init__(self, args):
        super().__init__(args)
        self.suspended = None

    def preview(self, run, obj, change):
        run.result.update(changed=False, changes=_changes(change["changes"]), diff=dict(prepared=change["diff"]),
                          msg="%s: would wait for image automation %s to commit this" % (
                              run.describe(), self.args["image_automation"]))

    def prepare(self, run):
        super().prepare(run)
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        automation = run.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)
        if automation is None:
            raise ReleaseError("git_release: %s not found (option image_automation)" % (
                objects.IMAGE_UPDATE_AUTOMATION.describe(namespace, name)))
        automation.setdefault("kind", "ImageUpdateAutomation")
        if not self.args.get("resume_automation"):
            check_not_suspended(automation)

    def _check_policies_select(self, run):
        """Resuming is only safe once every ImagePolicy in play selects the wanted tag;
        otherwise the automation writes another tag (the bad one) back."""
        namespace = self.args["kustomization_namespace"]
        policies, _version = run.kube.list(objects.IMAGE_POLICY, namespace)
        wanted = {edit.split_image(image)[1] for image in self.args["images"].values()}
        selected = {}
        for policy in policies:
            latest = ((policy.get("status") or {}).get("latestRef") or {})
            tag = latest.get("tag") or (policy.get("status") or {}).get("latestImage", ":").rsplit(":", 1)[-1]
            image = latest.get("name") or ""
            for wanted_image in self.args["images"]:
                if wanted_image == image or wanted_image.split("/")[-1] == image.split("/")[-1]:
                    selected[wanted_image] = (policy["metadata"]["name"], tag)
        wrong = ["ImagePolicy %s/%s selects %s, not %s" % (namespace, policy, tag, self.args["images"][image])
                 for image, (policy, tag) in sorted(selected.items()) if tag not in wanted]
        if wrong:
            raise ReleaseError("git_release: image automation %s/%s is not resumed: %s. Resumed now, it would "
                               "write that tag back; push the fixed tag so that the policy selects it (a "
                               "higher version), then run again; nothing was written" % (
                                   namespace, self.args["image_automation"], "; ".join(wrong)))

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
        """Wait, within flux_timeout and the budget, until the branch holds the images."""
        path = os.path.join(self.args["path"], "kustomization.yaml")
        share = run.budget.share(float(self.args.get("flux_timeout") or 120), keep=run.need[0])
        deadline = run.budget.clock() + share
        run.say("git_release: waiting for image automation %s to commit %s" % (
            self.args["image_automation"], ", ".join("%s:%s" % item for item in sorted(self.args["images"].items()))))
        while True:
            with self.repo.locked():
                self.repo.sync()
                try:
                    if not self._edit():
                        commit = self.repo.git("log", "-1", "--format=%H", "--", path)
                        return commit, self.repo.git("log", "-1", "--format=%an <%ae>", commit)
                finally:
                    self.repo.discard()
            if run.budget.clock() >= deadline:
                raise ReleaseError("git_release: image automation %s did not commit %s within %d s (is the tag in "
                                   "the registry, and does the ImagePolicy select it?)" % (
                                       self.args["image_automation"], ", ".join(sorted(self.args["images"])),
                                       round(share)))
            run.budget.sleep(min(2.0, max(0.0, deadline - run.budget.clock())))

    def _automation(self, run):
        namespace, name = self.args["kustomization_namespace"], self.args["image_automation"]
        return namespace, name, run.kube.get(objects.IMAGE_UPDATE_AUTOMATION, namespace, name)

    def _suspend(self, run, why):
        namespace, name, automation = self._automation(run)
        if automation is None:
            return
        set_suspended(run.kube, [(objects.IMAGE_UPDATE_AUTOMATION, automation)], True)
        self.suspended = "%s/%s" % (namespace, name)
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
