# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change strategies: how a release's change is made. One class each.

A strategy says whether the task asks for a change at all, what is pending (None: the
platform already holds it), previews it (check mode, diff), makes it, waits until the
cluster runs it (``apply``: the target's pod template this release leads to), and undoes
it when the release is rolled back. The pipeline (pipeline.py) calls them in that order;
nothing here follows a verdict.

- :class:`TargetPatch` (canary_rollout): a patch of the target's pod template.
- :class:`~.git_change.GitCommit` (git_release): a commit Flux applies, reverted on rollback.
- :class:`~.git_change.ImageAutomation` (git_release with image_automation): a tag pushed to a
  registry, committed by Flux's image automation, suspended and reverted on rollback.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries


def normalise_env(env):
    """Environment values as Kubernetes wants them (strings); errors for the ambiguous ones."""
    values, errors = {}, []
    for key, value in (env or {}).items():
        if value is None or isinstance(value, bool):
            errors.append("env.%s must be a string (quote it: %r is ambiguous in YAML), got %r" % (
                key, value, value))
        elif isinstance(value, (int, float, str)):
            values[key] = str(value)
        else:
            errors.append("env.%s must be a string, got a %s" % (key, type(value).__name__))
    return values, errors


class Change:
    """The interface; see the module docstring."""

    task = "release"
    # Seconds the change takes before the analysis can start: refused below the first, warned below the second.
    overhead = (0.0, 0.0)

    def __init__(self, args):
        self.args = args

    def requested(self):
        return True

    @staticmethod
    def check(inputs, args):
        """Problems with the strategy's own options into ``inputs`` (inputs.py), before any request."""

    def prepare(self, run, obj):
        """Checks of the platform the change goes through for ``obj`` (nothing written)."""

    def pending(self, run, obj):
        raise NotImplementedError

    def preview(self, run, obj, change):
        raise NotImplementedError

    def make(self, run, obj, change):
        """Write the change; ``run.result["changed"]`` from here on."""
        raise NotImplementedError

    def apply(self, run, obj):
        """Wait until the cluster holds the change; the target's pod template it leads to."""
        raise NotImplementedError

    def settle(self, run, obj):
        """The change was there already: make sure the cluster holds it before judging; the object then."""
        return obj

    def owns_applied(self, run):
        """None, or why the applied revision holds other writers' changes to this app too."""
        return None

    def undo(self, run, why):
        """Take the change back after a rollback (git); False when there is nothing to undo."""
        return False

    def left_behind(self, run):
        """What an interrupted release leaves, in words, or None."""
        return None

    def confirm_written(self, run):
        """After an interrupt: find out whether a write whose answer never came back landed,
        and record it (``changed``, what to report) if it did."""


class TargetPatch(Change):
    """canary_rollout's change: a strategic-merge patch of the target's pod template."""

    task = "canary_rollout"

    def __init__(self, args):
        super().__init__(args)
        self.template = None
        self.patching = None  # the patch sent, until its answer is in

    def requested(self):
        return bool(self.args.get("images") or self.args.get("env") or self.args.get("annotations"))

    def pending(self, run, obj):
        env = normalise_env(self.args.get("env"))[0]
        return canaries.template_patch(run.backend.target(obj), self.args.get("images"), env,
                                       self.args.get("env_container"), self.args.get("annotations"))

    def _patch(self, run, obj, change, dry_run):
        resource, namespace, name = run.backend.target_of(obj)
        return run.kube.patch(resource, namespace, name, change, dry_run=dry_run)

    def preview(self, run, obj, change):
        self._patch(run, obj, change, True)  # the server's dry run: what it would refuse, it refuses now
        run.result.update(changed=True, patch=canaries.without_env_values(change),
                          msg="%s: would start a release" % run.describe(), phase=run.backend.phase(obj))

    def make(self, run, obj, change):
        self.patching = (obj, change)
        patched = self._patch(run, obj, change, False)
        run.result.update(changed=True, patch=canaries.without_env_values(change))
        self.template = canaries.pod_template(patched)
        self.patching = None

    def confirm_written(self, run):
        if self.patching is None:
            return
        obj, change = self.patching
        if self.pending(run, obj) is None:  # the target holds the change: the patch landed
            run.result.update(changed=True, patch=canaries.without_env_values(change))

    def apply(self, run, obj):
        return self.template

    def left_behind(self, run):
        if run.result.get("changed"):
            return "the target is patched; Flagger analyses it on its own, and nobody follows it now"
        return None
