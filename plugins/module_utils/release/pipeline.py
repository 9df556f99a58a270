# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release engine: one pipeline behind canary_rollout and git_release.

    check -> lock -> in-flight -> preflight -> change -> apply -> follow -> conclude -> report

Each step is a method with one job; what differs between the tasks is the change
strategy (change.py, git_change.py) and what differs between controllers is the backend
(backend.py; Flagger's is flagger/backend.py). One :class:`~.budget.Budget` carries the
deadline through every step.

Why the order:

1. **check**: the options, the object (initialised: a change to an uninitialised
   canary rolls out with no analysis), the platform the change goes through, the
   analysis floor against the timeout. Nothing is written.
2. **lock**: a Lease per app (lease.py), so two releases of one app never interleave
   (their verdicts would swap); refused naming the holder, before anything is written.
3. **in-flight**: what an earlier release left is cleared or refused first (an open
   rollback request would roll this release back; a gate left open would approve it).
   A change the target already holds goes to ``already_there``. Otherwise a release
   already in flight is waited for when a change now would get no analysis (Promoting,
   Finalising) and, with ``in_flight=wait``, always; if that wait ends without a
   verdict, this release is refused, never started on top of it.
4. **preflight**: the metric window of a failed analysis (on the API server's clock,
   out of the budget), the metrics' data; then the floor again, against the time *left*.
5. **change** and **apply**: the strategy writes and waits until the cluster holds it.
6. **follow**: the backend's judge, through one watch; the revision it takes up must
   be this release's own (the target still holds the template this release wrote).
7. **conclude**: the verdict is checked once more (promoted: what serves now is this
   template; failed: the target still holds it), else it is ``superseded``; a rollback
   undoes the change (git: revert).
8. **report**: the result, and ``set_stats`` data when asked.

Every way out (a failure, a timeout, an interrupt) runs the cleanup: gates this release
opened are closed and the Lease is released (the working copy needs none: every git step
starts from the remote's head); an interrupt during a rollback still pushes the revert,
and whatever is left is said in the result and in an Event on the canary.
"""

from __future__ import annotations

import time

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.flagger import canaries
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.kube.wait import WaitStats
from ansible_collections.gitops.progressive.plugins.module_utils.release.args import check_request, subject
from ansible_collections.gitops.progressive.plugins.module_utils.release.budget import Budget
from ansible_collections.gitops.progressive.plugins.module_utils.release.change import TargetPatch
from ansible_collections.gitops.progressive.plugins.module_utils.release.errors import (
    ReleaseError,
    ReleaseInterrupted,
)
from ansible_collections.gitops.progressive.plugins.module_utils.release.follow import Followed, Follower
from ansible_collections.gitops.progressive.plugins.module_utils.release.interrupt import interrupts_raise
from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import ReleaseLease


class Release:
    """One release; ``run()`` returns the task result (a dict)."""

    def __init__(self, kube, args, change, backend, check_mode=False, say=None, clock=time.monotonic,
                 sleep=time.sleep, lease_holder=None):
        self.kube, self.args, self.change, self.backend = kube, args, change, backend
        self.check_mode = check_mode
        self.say = say or (lambda message: None)
        self.budget = Budget(args.get("wait_timeout") or 1800, clock, sleep)
        self.lease_holder = lease_holder
        self.result = {"changed": False}
        self.stats = WaitStats()
        self.cleanup = []  # ("gate", Followed) entries the follower opened
        self.follower = Follower(backend, self.budget, self._say, self.warn, self.cleanup, self.stats,
                                 progress=args.get("progress", True),
                                 before_write=lambda: self.ensure_lease("opening a gate"))
        self.lease = None
        self.need = (0.0, 0.0)
        self.key = "%s/%s" % (args.get("namespace"), args.get("name"))
        self.book = None
        self.concluded = False  # the verdict once concluded
        self.interrupted = None  # the signal's name once one arrived

    # --- small helpers every step uses ----------------------------------------------
    def _say(self, message):
        self.say(message)

    def describe(self):
        return "%s %s" % (self.backend.noun, self.key)

    def warn(self, message):
        self.result.setdefault("warnings", []).append(message)

    # --- the pipeline -------------------------------------------------------------------
    def run(self):
        with interrupts_raise() as guard:
            try:
                return self._pipeline()
            except ReleaseInterrupted as interrupt:
                guard.quiet()
                return self._interrupted(interrupt)
            finally:
                # Once started, the cleanup runs to its end: a second Ctrl-C must not cut it.
                guard.quiet()
                self._clean_up()

    def _pipeline(self):
        self.check()
        if self.args.get("label_selector"):
            return self.follow_selected()
        obj = self.backend.get(self.args["namespace"], self.args["name"])
        self.result["revision_before"] = self.backend.revision(obj)
        if not self.change.requested():
            return self.follow_one(obj)
        self.check_floor(obj)
        self.change.prepare(self, obj)
        self.lock()
        # What an earlier release left (a rollback request, an open gate) spoils this one, whatever it is.
        self.backend.before_change(obj, self.args.get("approval") or "manual", self.check_mode, self.result,
                                   self.say, self.warn)
        change = self.change.pending(self, obj)
        if change is None:
            return self.already_there(obj)
        obj = self.in_flight(obj)
        change = self.change.pending(self, obj)  # the release in flight may have brought the same change
        if change is None:
            return self.already_there(obj)
        obj = self.preflight(obj)
        if self.check_mode:
            self.change.preview(self, obj, change)
            self.result["phase"] = self.backend.phase(obj)
            return self.result
        baseline = self.backend.baseline(obj)
        self.ensure_lease("writing the change")
        self.change.make(self, obj, change)
        if not self.args.get("wait", True):
            self.result.update(msg="%s: release started (not followed: wait=false)" % self.describe(),
                               phase=self.backend.phase(obj))
            return self.result
        try:
            template = self.change.apply(self, obj)
            applied = self.budget.clock()
            self.say("%s: change applied, following the new revision" % self.describe())
            outcome = self.follow_change(obj, baseline, template)
        except ReleaseError as error:
            if error.details.get("revert_commit") or error.details.get("lease_lost"):
                raise  # the change was taken back (or is not ours to follow): a plain failure
            return self._stopped(error, obj)
        except CollectionError as error:
            return self._stopped(error, obj)
        if "timings" in self.result:
            self.result["timings"]["analysis"] = round(self.budget.clock() - applied, 3)
        return self.conclude(outcome)

    def _stopped(self, error, obj):
        """The change is made and the follow could not go on: say so, with what it leaves."""
        self.result.update(failed=True, msg="%s: %s" % (self.describe(), error), phase=self.backend.phase(obj))
        note = self.change.left_behind(self)
        if note:
            self.warn(note)
            self.result["msg"] += "; %s" % note
        return self.result

    def ensure_lease(self, what):
        if self.lease is not None:
            self.lease.ensure_held(what)

    # --- check ----------------------------------------------------------------------------
    def check(self):
        check_options(type(self.change), self.args)

    def check_floor(self, obj):
        """The timeout against what the analysis needs: refused only below what it needs at
        the least; a warning below the worst case (plus the progress deadline, for slow pods)."""
        self.need = self.backend.need(obj)
        if not self.args.get("wait", True):
            return
        minimum, worst = self.need
        before_min, before_worst = self.change.overhead
        timeout = self.budget.timeout
        extra = " plus %d s for git and Flux" % before_min if before_min else ""
        if timeout < minimum + before_min:
            raise ReleaseError(
                "wait_timeout %d s is too short for %s: its analysis needs at least %d s%s. Raise wait_timeout to "
                "%d or more; nothing was written" % (timeout, self.describe(), minimum, extra, minimum + before_min),
                floor=minimum + before_min)
        if timeout < worst + before_worst:
            self.warn("wait_timeout %d s is below the worst case of %s (%d s: the analysis plus its progress "
                      "deadline%s); a slow analysis may end as a timeout" % (
                          timeout, self.describe(), worst + before_worst,
                          " and flux_timeout" if before_worst else ""))

    # --- lock -------------------------------------------------------------------------------
    def lock(self):
        lease = ReleaseLease(self.kube, self.args["namespace"], self.args["name"], who=self.lease_holder,
                             on_problem=self.warn)
        if self.check_mode:
            lease.check()
            return
        self.lease = lease  # before acquire(): an interrupt in between still releases what was taken
        lease.acquire()
        self.result["lease"] = dict(name=lease.describe(), holder=lease.identity)

    # --- in flight ----------------------------------------------------------------------------
    def _busy(self, obj):
        policy = self.args.get("in_flight") or "wait"
        return self.backend.promoting(obj) or (
            policy != "supersede" and self.backend.in_flight(obj) and not self.backend.gate_held(obj))

    def in_flight(self, obj):
        """Wait for the release in flight when a change now would not get an analysis of its
        own; refuse when that wait ends without a verdict."""
        if not self._busy(obj):
            return obj
        phase = self.backend.phase(obj)
        if (self.args.get("in_flight") or "wait") == "fail":
            raise ReleaseError("%s: another release is in flight (phase %s, revision %s); in_flight=fail refuses "
                               "to start this one" % (self.describe(), phase, self.backend.revision(obj)))
        if self.check_mode:
            self.result["in_flight"] = phase
            return obj
        self.say("%s: a release is in flight (%s); waiting for its verdict before starting this one" % (
            self.describe(), phase))
        before_min = self.change.overhead[0]
        item = self._followed(obj, self.backend.baseline(obj, follow=True), follow=True, approve=False)
        earlier = self._outcome(self.follower.follow([item], self._source(), keep=self.need[0] + before_min)[
            self.key])
        self.result["waited_for"] = {"verdict": earlier["verdict"], "revision": earlier.get("revision")}
        obj = self.backend.get(self.args["namespace"], self.args["name"])
        if earlier["verdict"] not in ("promoted", "failed") or self._busy(obj):
            raise ReleaseError(
                "%s: the release in flight did not reach a verdict (%s: %s; now %s); starting this one on top of it "
                "would %s. Nothing was written" % (
                    self.describe(), earlier["verdict"], earlier.get("reason") or earlier.get("message") or "",
                    self.backend.phase(obj), "copy it to the primary with no analysis" if self.backend.promoting(obj)
                    else "restart or skip its analysis"), waited_for=self.result["waited_for"])
        return obj

    # --- preflight ----------------------------------------------------------------------------
    def preflight(self, obj):
        before_min = self.change.overhead[0]
        waiting = self.args.get("wait", True)
        obj = self.backend.preflight(obj, self.budget, self.args.get("metric_window") or "wait", self.check_mode,
                                     self.result, self.say, need_after=self.need[0] + before_min if waiting else 0)
        if waiting and not self.check_mode:
            # Right before the change: what the waits above spent is no longer there.
            self.budget.require(self.need[0] + before_min, "%s: the analysis%s" % (
                self.describe(), " with git and Flux before it" if before_min else ""))
        return obj

    # --- follow -------------------------------------------------------------------------------------
    def _source(self):
        single = not self.args.get("label_selector")
        return self.backend.source(self.args.get("namespace"), self.args.get("name") if single else None,
                                   self.args.get("label_selector"))

    def _book(self):
        if self.book is None:
            single = not self.args.get("label_selector")
            self.book = self.backend.events(self.args.get("namespace"), self.args.get("name") if single else None)
        return self.book

    def _followed(self, obj, baseline, follow, approve=True, owned=None, start_window=None):
        key = "%s/%s" % (obj["metadata"]["namespace"], obj["metadata"]["name"])
        approval = (self.args.get("approval") or "manual") if approve else "manual"
        timeout = self.budget.timeout
        approval_timeout = (self.args.get("approval_timeout") or timeout) if approve else timeout
        judge = self.backend.judge(key, obj, baseline, self.budget.clock, self._book(), follow, approval,
                                   approval_timeout, start_window=start_window)
        gate = self.backend.gate(obj) if approval == "auto" else None
        return Followed(key, obj, judge, self.backend.timeline(self.budget.clock, self.budget.started), gate=gate,
                        owned=owned)

    def _events(self, key):
        """Flagger's latest events on the object: for the report only, so a blip there costs
        the report its events, never the verdict (or the revert that follows it)."""
        try:
            self._book().refresh()
        except CollectionError as error:
            self.warn("could not read the events of %s for the report: %s" % (key, error))
        return self._book().events(key)[-20:]

    def _outcome(self, item):
        return self.backend.outcome(item.key, item.obj, item.verdict, item.timeline.entries, self._events(item.key))

    def _target_template(self, obj):
        return canaries.pod_template(self.backend.target(obj))

    def follow_change(self, obj, baseline, template):
        """Follow the revision this release's change starts; its verdict, checked to be its own."""
        someone_else = self.change.owns_applied(self)
        if someone_else:
            return dict(verdict="superseded", phase=self.backend.phase(obj), revision=self.backend.revision(obj),
                        reason=someone_else, timeline=[], weights=[], events=[])

        def owned():
            return self._target_template(obj) == template

        item = self._followed(obj, baseline, follow=False, owned=owned)
        self.follower.follow([item], self._source())
        outcome = self._outcome(item)
        return self._own_verdict(item.obj, outcome, template)

    def _own_verdict(self, obj, outcome, template):
        """A verdict is this release's only if what it judged is this release's template."""
        try:
            if outcome["verdict"] == "promoted":
                serving = self.backend.serving_matches(obj, template)
                if serving is None:  # nothing to compare with: the target must still hold it
                    serving = self._target_template(obj) == template
                if not serving:
                    outcome.update(verdict="superseded", reason="what was promoted is not this release's template: "
                                   "the target was changed again before the verdict, and that change was promoted")
            elif outcome["verdict"] == "failed" and self._target_template(obj) != template:
                outcome.update(verdict="superseded", reason="the target was changed again before the verdict: "
                               "this verdict belongs to that change")
        except CollectionError as error:
            # Not knowing whose verdict it is, a promotion must not be reported as this release's.
            if outcome["verdict"] == "promoted":
                outcome.update(verdict="unknown", reason="could not check that the promoted revision is this "
                               "release's: %s" % error)
            else:
                self.warn("could not check that the verdict is this release's: %s" % error)
        return outcome

    def follow_one(self, obj):
        """No change asked for: follow the release the object holds (in flight, or its last verdict)."""
        if self.check_mode:
            self.result.update(phase=self.backend.phase(obj), revision=self.backend.revision(obj),
                               msg="check mode: would follow %s (now %s); nothing waited for" % (
                                   self.describe(), self.backend.phase(obj)))
            return self.result
        item = self._followed(obj, self.backend.baseline(obj, follow=True), follow=True)
        self.follower.follow([item], self._source())
        return self.report(self._outcome(item))

    def already_there(self, obj):
        """The target (or git) holds the change already. That is not proof that Flagger
        analysed it: a change made during Promoting is copied to the primary unanalysed and
        taken up at Flagger's next look. So a release in flight is followed to its verdict
        first (which template it analyses cannot be told from the status), and then one
        look of Flagger's (the analysis interval and some slack) is watched: a new revision
        is followed as this release; none means there is nothing left to analyse, and the
        verdict is what the primary runs."""
        obj = self.change.settle(self, obj)
        if self.check_mode or not self.args.get("wait", True):
            self.result.update(phase=self.backend.phase(obj), revision=self.backend.revision(obj),
                               msg="%s: the target holds this change already; %s" % (
                                   self.describe(), "nothing written, nothing waited for" if self.check_mode
                                   else "not followed (wait=false)"))
            return self.result
        if self.backend.in_flight(obj):
            self.say("%s: the target holds this change and a release is in flight (%s): following it to its "
                     "verdict first" % (self.describe(), self.backend.phase(obj)))
            item = self._followed(obj, self.backend.baseline(obj, follow=True), follow=True)
            self.follower.follow([item], self._source())
            earlier = self._outcome(item)
            if earlier["verdict"] not in ("promoted", "failed"):
                return self.report(earlier)
            self.result["waited_for"] = {"verdict": earlier["verdict"], "revision": earlier.get("revision")}
            obj = self.backend.get(self.args["namespace"], self.args["name"])
        template = self._target_template(obj)
        serving = self.backend.serving_matches(obj, template)
        baseline = self.backend.baseline(obj)
        window = self.backend.confirm_window(obj)
        self.say("%s: the target holds this change already; watching %d s for Flagger to take it up" % (
            self.describe(), window))
        item = self._followed(obj, baseline, follow=False, owned=lambda: self._target_template(obj) == template,
                              start_window=window)
        self.follower.follow([item], self._source())
        outcome = self._outcome(item)
        if outcome["verdict"] == "not_started":
            if serving:
                outcome.pop("reason", None)
                outcome.update(verdict="promoted", message=(
                    "already at that version, nothing to release (the primary runs it, and Flagger took up no "
                    "new revision within %d s)" % window))
            elif baseline.phase == "Failed":
                outcome.update(verdict="failed", reason=(
                    "Flagger rolled this version back before and does not analyse it again (%s); change something "
                    "to release it again" % outcome.get("reason", "")))
        return self.report(self._own_verdict(item.obj, outcome, template))

    def follow_selected(self):
        namespace, selector = self.args.get("namespace"), self.args["label_selector"]
        found = self.backend.select(namespace, selector)
        if not found:
            raise ReleaseError("no %s matches label selector %r%s" % (
                self.backend.noun, selector, " in namespace %s" % namespace if namespace else ""))
        if self.check_mode:
            releases = {"%s/%s" % (o["metadata"]["namespace"], o["metadata"]["name"]): {
                "phase": self.backend.phase(o)} for o in found}
            self.result.update(msg="check mode: would follow %d %ss; nothing waited for" % (
                len(found), self.backend.noun), releases=releases)
            return self.result
        items = [self._followed(obj, self.backend.baseline(obj, follow=True), follow=True) for obj in found]
        self.follower.follow(items, self._source())
        outcomes = {item.key: self._outcome(item) for item in items}
        verdicts = [outcome["verdict"] for outcome in outcomes.values()]
        all_promoted = all(verdict == "promoted" for verdict in verdicts)
        self.result.update(releases=outcomes, verdict="promoted" if all_promoted else "failed",
                           duration=round(self.budget.spent(), 3), watch=self._watch(),
                           msg="%d of %d releases promoted" % (verdicts.count("promoted"), len(verdicts)))
        if not all_promoted:
            self.result["reason"] = "; ".join("%s %s: %s" % (key, o["verdict"], o.get("reason", ""))
                                              for key, o in sorted(outcomes.items()) if o["verdict"] != "promoted")
            self.result["failed"] = bool(self.args.get("fail_on_rollback", True))
        self._publish(outcomes)
        return self.result

    # --- conclude and report ---------------------------------------------------------------------
    def conclude(self, outcome):
        self.concluded = outcome["verdict"]
        if outcome["verdict"] == "failed":
            try:
                self.ensure_lease("taking the change back")
                why = outcome.get("reason") or "failed analysis"
                self.change.undo(self, "Flagger rolled the release back: %s" % why)
            except CollectionError as error:
                self.warn("could not take the change back after the rollback: %s" % error)
        return self.report(outcome)

    def _watch(self):
        return dict(lists=self.stats.lists, watches=self.stats.watches, events=self.stats.events,
                    retries=self.stats.retries)

    def report(self, outcome):
        self.result.update({field: value for field, value in outcome.items() if field != "message"})
        self.result["duration"] = round(self.budget.spent(), 3)
        self.result["watch"] = self._watch()
        promoted = outcome["verdict"] == "promoted"
        message = outcome.get("message") or outcome["verdict"]
        if promoted:
            self.result["msg"] = "%s %s" % (self.key, message)
        else:
            self.result["msg"] = "%s %s: %s" % (self.key, outcome["verdict"], outcome.get("reason") or message)
        self._publish({self.key: outcome})
        if not promoted and self.args.get("fail_on_rollback", True):
            self.result["failed"] = True
        return self.result

    def _publish(self, outcomes):
        if self.args.get("publish_stats"):
            self.result["ansible_stats"] = dict(
                data={self.change.task: {key: dict(
                    verdict=o["verdict"], phase=o.get("phase"), revision=o.get("revision"),
                    duration=round(self.budget.spent(), 3), reason=o.get("reason"))
                    for key, o in outcomes.items()}},
                per_host=False, aggregate=True)

    # --- every way out -------------------------------------------------------------------------------
    def _interrupted(self, interrupt):
        """Ctrl-C or a cancel: finish a rollback under way (git: push the revert), say what is left."""
        self.say = lambda message: None  # the console may be gone with ansible-playbook
        self.interrupted = interrupt.name
        try:
            self.change.confirm_written(self)  # a write whose answer the signal cut off
        except CollectionError as error:
            self.warn("interrupted during a write, whose outcome could not be checked: %s" % error)
        if self.result.get("changed") and self.concluded in (False, "failed"):
            try:
                rolling_back = self.concluded == "failed" or self.backend.phase(
                    self.backend.get(self.args["namespace"], self.args["name"])) == "Failed"
                if rolling_back and self.change.undo(
                        self, "the release was interrupted (%s) while Flagger rolled it back" % interrupt.name):
                    self.result["reverted_on_interrupt"] = True
            except CollectionError as error:
                self.warn("interrupted during a rollback, and could not take the change back: %s" % error)
        left = self.change.left_behind(self)
        self.result.update(failed=True, interrupted=interrupt.name, msg="%s: interrupted by %s%s" % (
            self.describe(), interrupt.name, "; %s" % left if left else "; nothing was left open"))
        # The console that started the task may be gone: the object keeps the record.
        self.backend.record(self.args["namespace"], self.args["name"], "ReleaseInterrupted", self.result["msg"],
                            self.warn)
        return self.result

    def _clean_up(self):
        for kind, item in list(self.cleanup):
            if kind == "gate":
                self.follower.close_gate(item, whatever_it_says=True)
        if self.lease is not None:
            try:
                self.lease.release()
            except CollectionError as error:
                self.warn("could not release %s (it expires %d s after its last renewal): %s" % (
                    self.lease.describe(), self.lease.seconds, error))


def _flagger(kube, args, opener):
    from ansible_collections.gitops.progressive.plugins.module_utils.flagger.backend import FlaggerBackend

    return FlaggerBackend(kube, opener=opener, loadtester_url=args.get("loadtester_url"),
                          prometheus_url=args.get("prometheus_url"), mesh_provider=args.get("mesh_provider"))


def check_options(change_class, args):
    """Every option of a release task, checked before any request (and before the change
    strategy is made from them): one InputError naming each problem and the object."""
    inputs = Inputs(subject(change_class.task, args))
    check_request(inputs, args, container_images=issubclass(change_class, TargetPatch))
    change_class.check(inputs, args)
    inputs.done()


def change_class_for(task, args):
    """The change strategy of ``task`` (canary_rollout, git_release) for these options."""
    if task == "canary_rollout":
        return TargetPatch
    from ansible_collections.gitops.progressive.plugins.module_utils.release.git_change import (
        GitCommit,
        ImageAutomation,
    )

    return ImageAutomation if args.get("image_automation") else GitCommit


def check_task_options(task, args):
    check_options(change_class_for(task, args), args)


def canary_rollout(kube, args, check_mode=False, say=None, opener=None, **kwargs):
    """canary_rollout's release: a patch of the target, judged by Flagger."""
    check_options(TargetPatch, args)
    return Release(kube, args, TargetPatch(args), _flagger(kube, args, opener), check_mode=check_mode, say=say,
                   **kwargs)


def git_release(kube, args, check_mode=False, say=None, opener=None, **kwargs):
    """git_release's release: a commit (or image automation's), applied by Flux, judged by Flagger."""
    change_class = change_class_for("git_release", args)
    check_options(change_class, args)
    return Release(kube, args, change_class(args), _flagger(kube, args, opener), check_mode=check_mode, say=say,
                   **kwargs)
