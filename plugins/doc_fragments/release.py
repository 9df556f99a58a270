# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options of the release engine (canary_rollout and git_release)."""

    DOCUMENTATION = r"""
options:
  approval:
    description:
      - What to do when the release waits at a manual gate (C(Waiting), C(WaitingPromotion), or a
        held traffic increase).
      - C(auto) opens the gate through the load tester the canary's gate webhooks name and closes it
        again once Flagger has passed it, and at the end whatever happens.
      - C(manual) waits for someone else to approve (M(gitops.progressive.canary_gate) with
        C(action=promote)) for up to O(approval_timeout) seconds at each gate, the timer starting
        afresh at each; then the task fails and the release stays held.
    type: str
    choices: [auto, manual]
    default: manual
  approval_timeout:
    description: Seconds to wait for a manual approval at each gate (1 to 604800); O(wait_timeout) when not set.
    type: int
  loadtester_url:
    description:
      - How to reach the load tester the canary's gate webhooks name, from where the task runs, when
        their address does not resolve there (an in-cluster name). An address with credentials in it is refused
        (they would be logged).
    type: str
  in_flight:
    description:
      - What to do when another release of the canary is in flight when this one would start.
      - C(wait) waits for its verdict, then starts this release, so each gets its own analysis.
      - C(supersede) starts this release now; Flagger restarts its analysis with this revision and the
        release in flight is never promoted. In C(Promoting) or C(Finalising) the task waits anyway.
      - C(fail) refuses to start.
    type: str
    choices: [wait, supersede, fail]
    default: wait
  fail_on_rollback:
    description: Fail the task when the release is not promoted (rolled back, superseded, not approved in time, stalled).
    type: bool
    default: true
  publish_stats:
    description:
      - Publish the outcome with C(set_stats) semantics for AWX workflows (the job's artifacts), under the
        task's own name (C(canary_rollout) or C(git_release)) keyed by namespace/name, with the verdict,
        phase, revision, duration and reason.
      - Ansible publishes the stats of a task that does not fail only. For a workflow's failure branch to
        get the verdict of a rollback, set O(fail_on_rollback=false) and fail the job in a later task, as
        the collection's C(playbooks/release.yml) does (it also publishes an C(error) verdict when the
        release fails before one).
    type: bool
    default: false
  report:
    description:
      - Write an HTML report of the release to this file (its directory must exist; an existing file is replaced whole)
        when it ends, whatever the verdict. One self-contained file, nothing fetched, no script. An inline SVG chart of
        the traffic weight and of each metric against its threshold over the release (for a metric with a
        MetricTemplate or a query of its own, its series from O(prometheus_url) when given; for the others, and
        without it, the values Flagger named when a check failed), the phases, the pushed and applied
        moments, the verdict, the commits, the steps and Flagger's events.
      - For one release (O(name)); canary_rollout refuses it with C(label_selector). Not written in check mode.
    type: path
  progress:
    description: Print each change of phase, weight and failed checks as it happens.
    type: bool
    default: true
  prometheus_url:
    description:
      - Prometheus as Flagger queries it, from where the task runs. Before the release, the
        task checks that it answers and that each of the canary's metrics returns data for
        the workload serving now (C(<target>-primary)); otherwise Flagger would roll a
        healthy release back with "no values found", and the task refuses to start it.
      - Not checked when not set. An address with credentials in it is refused (they would be logged).
    type: str
  mesh_provider:
    description:
      - The mesh whose telemetry the built-in metrics read (as Flagger's C(-mesh-provider)), unless the canary names one.
      - One of the providers Flagger knows (C(gatewayapi:v1), not C(gatewayapi)); another would be routed as C(istio).
    type: str
    default: istio
  metric_window:
    description:
      - What to do when the canary's previous analysis failed less than its longest metric
        C(interval) ago. That window still holds the failed run's traffic and would fail this release.
      - C(wait) waits it out, saying so on the console (the time counts in O(wait_timeout)); C(fail) refuses
        with the time left.
      - The window is measured on the API server's clock (the C(Date) of its answers), never
        this machine's, so a skewed clock neither lengthens nor skips the wait.
    type: str
    choices: [wait, fail]
    default: wait
notes:
  - B(One release per app at a time.) A release that changes something holds a
    C(coordination.k8s.io/v1) Lease C(gitops-progressive-release-<name>) in the canary's
    namespace, naming who holds it (user, host, PID, the AWX job). A second release of the
    app, from this controller or another, is refused before anything is written, naming the
    holder and since when. The Lease is renewed while the release runs and released on every
    way out; a Lease its holder stopped renewing (a controller that died) is taken over once
    it has expired (60 s after its last renewal, on the API server's clock). The task's
    credentials need C(get), C(create), C(update) and C(delete) on C(leases) in that namespace.
  - B(A verdict is this release's own.) Taken only from an analysis of the template this
    release wrote; a change already in place that Flagger has not promoted is followed, not
    answered from the previous revision; a revision written by someone else before Flagger
    takes this one up, or promoted instead of it, is reported C(superseded).
  - B(Time.) O(wait_timeout) is refused only when it is below what the analysis itself needs
    (interval times steps or iterations, plus git and Flux for C(git_release)), and a warning
    says when it is below the worst case (plus the progress deadline, for slow pods). The floor is
    checked again against the time left right before the change, after a release in flight
    was waited for and after the metric window.
  - B(Interrupted) (Ctrl-C or an AWX cancel, that is SIGINT or SIGTERM), the task closes the
    gates it opened, releases the Lease, and says what it leaves behind (a patched target, a
    pushed commit), in its result and as a C(ReleaseInterrupted) Event on the canary; during a
    rollback C(git_release) still pushes the revert.
"""
