#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: git_release
short_description: Ship a release through git, Flux and a Flagger canary; revert the commit on rollback
version_added: 0.1.0
description:
  - The GitOps way to release, in one task. Nobody patches the cluster; the change is a commit.
  - B(Preflight), before anything is written. The options; the Kustomization that applies
    O(path) and its source exist and are not suspended; then the checks of
    M(gitops.progressive.canary_rollout). The canary exists and is initialised, no
    rollback request is open, a release in flight is waited for (O(in_flight)), the
    timeout covers the analysis floor, the metric window is clear (O(metric_window)),
    and with O(prometheus_url) the canary's metrics return data.
  - B(Commit). Sets O(images) in the C(kustomization.yaml) of O(path) (kustomize's
    C(images), like C(kustomize edit set image)) and O(values) at YAML paths. It commits
    with a message naming the app, each old and new value, and who ran it, and pushes.
  - B(Apply). Reconciles the source and the Kustomization and waits until that commit is
    the applied revision. A commit Flux cannot apply (a broken manifest) is reverted at
    once and the task fails with kustomize-controller's message; git is left as it was found.
  - B(Analyse). Follows the canary that change starts to its verdict with the release
    engine, live progress on the console (see M(gitops.progressive.canary_rollout)).
  - B(Revert on rollback). When Flagger rolls the release back, the task reverts its own
    commit, pushes, reconciles and reports both commits, so git and the cluster agree again.
  - Idempotent. Releasing what git already holds commits nothing; once Flux applied it, it is
    C(promoted) only when the primary runs it, and otherwise followed like any release.
  - B(Refuses up front) every malformed option, naming each problem and the canary in one
    failure, before any request. O(repo_url) with credentials (they belong in O(git_password)),
    a O(branch) git would not accept, paths that are absolute, climb out with C(..) or enter
    C(.git), tags and image references that are neither, unknown keys in O(values), timeouts
    below 1 s or above a week, more than 1000 O(images) or O(values), control or format
    characters (such as U+202E) in O(requested_by), the author or O(git_username).
  - B(Refuses before anything is written) a commit nothing would apply or follow, that is a
    O(branch) other than the one the GitRepository follows (Flux's default without a C(ref)
    is C(master); a GitRepository that follows a tag, a semver range or a commit takes no
    branch), a source that is not a GitRepository, a O(path) or a O(values) file that the
    Kustomization does not apply (under its C(spec.path), or reached from there through
    kustomization C(resources) and C(components), such as C(../base/podinfo)), and another
    app's change. Each image of O(images) must be one the canary's target runs (as the
    kustomization renders it, its C(newName) or its name), and each O(values) file must
    hold the target (a C(kind) and C(metadata.name) like the canary's C(targetRef)) or lie
    beside a file that does, such as its patch; otherwise the release would be that app's,
    unfollowed and never reverted. Last, a Kustomization that is failing already
    (C(Ready=False) from an earlier commit, for which this one would be blamed and reverted).
  - Every git step takes the working copy's file lock, so tasks on one controller (two
    environments of C(release.yml)) never mix their edits; a push that loses a race with
    another writer is redone on the new head, for the commit and the revert alike; a push
    that timed out is checked against the remote before it is called unwritten.
  - Runs on the controller (an action plugin), where the working copy lives; it must reach
    the git server and the API server.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.flux_git
  - gitops.progressive.attributes.action_plugin
  - gitops.progressive.attributes.canary_object
  - gitops.progressive.wait
  - gitops.progressive.git
  - gitops.progressive.release
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details:
      - The same preflight; the commit's diff is computed (shown with C(--diff)); nothing is committed, pushed or followed.
      - The local working copy (O(workdir)) is brought to the remote branch's head to compute the diff.
  diff_mode:
    support: full
    details: The diff of the commit the release makes.
requirements:
  - kubernetes >= 24.2.0
  - git
options:
  path:
    description:
      - The app's directory in the repository, holding the C(kustomization.yaml) O(images) edits (for example
        C(apps/staging)). Relative to the repository's top; no C(..), nothing in C(.git).
    type: str
    required: true
  images:
    description:
      - New version per kustomize image name (the image's repository, as in the kustomization's C(images)).
        A tag (C(6.7.1), at most 128 letters, digits, C(_), C(.) and C(-); quote a number) sets C(newTag); a full reference
        (C(ghcr.io/stefanprodan/podinfo:6.7.1) or with C(@sha256:...)) sets C(newName), C(newTag) and C(digest).
    type: dict
    default: {}
  values:
    description:
      - Values to set at YAML paths in files of the repository, for what is not an image.
      - Each has C(file) (relative to the repository root), C(path) (dotted keys with list selectors,
        like C(spec.template.spec.containers[name=podinfo].env[name=ERROR_FRACTION].value) or C(spec.ports[0].port)),
        C(value) (not null), and optionally C(kind) to pick the document of that kind in a multi-document file.
        Other keys are refused (a typo).
    type: list
    elements: dict
    default: []
  kustomization:
    description: The Flux Kustomization that applies O(path).
    type: str
    default: apps
  kustomization_namespace:
    description: Namespace of O(kustomization).
    type: str
    default: flux-system
  flux_timeout:
    description: Seconds for Flux to apply the commit (and a revert), counted in O(wait_timeout); from 1 to 604800.
    type: int
    default: 120
  revert_on_rollback:
    description: Revert the release's commit when Flagger rolls the release back.
    type: bool
    default: true
  requested_by:
    description:
      - Who asked for the release, for the commit message (one line). Defaults to the AWX job or the user and host.
    type: str
  image_automation:
    description:
      - Follow the release Flux's image automation makes of a pushed tag instead of committing one. The name
        of the ImageUpdateAutomation (in O(kustomization_namespace)); O(images) names the tags it is to write.
      - The task waits, within O(flux_timeout), for a commit on the branch that holds O(images) (whoever wrote
        it), then follows it like its own. On a rollback, or when Flux cannot apply it, the automation is
        suspended before the commit is reverted (its policy still selects the bad tag and would write it
        back); RV(automation_suspended) says so. Resume it once a fixed tag is pushed (O(resume_automation)).
      - O(values) cannot be followed this way.
    type: str
  resume_automation:
    description:
      - With O(image_automation), a suspended automation (a rollback suspended it) is resumed once the task
        has recorded the canary as it is, so the release of the fixed tag already pushed is followed from its
        start; RV(automation_resumed) says so. Without it a suspended automation fails the task.
    type: bool
    default: false
  wait:
    description: Follow the release to its verdict. With V(false) the task returns once Flux applied the commit.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take (git, Flux, the analysis, a release in flight waited for); from 1 to
        604800 (a week).
      - A timeout below what the canary's analysis needs (interval × steps or iterations, plus
        C(progressDeadlineSeconds)) is refused before anything is written.
    type: int
    default: 1800
    aliases: [timeout]
seealso:
  - module: gitops.progressive.canary_rollout
  - module: gitops.progressive.flux_reconcile
"""

EXAMPLES = r"""
- name: Ship podinfo 6.7.2 to staging through git
  gitops.progressive.git_release:
    name: podinfo
    namespace: demo
    repo_url: "{{ flux_platform_repo_url }}"
    git_password: "{{ git_token }}"
    path: apps/staging
    images:
      ghcr.io/stefanprodan/podinfo: 6.7.2
    prometheus_url: "{{ flagger_prometheus_url }}"
    wait_timeout: 900
  register: release

- name: Report both commits of a rolled-back release
  ansible.builtin.debug:
    msg: "{{ release.verdict }}: {{ release.commit }} reverted by {{ release.revert_commit | default('-') }}"

- name: Follow the release image automation makes of the tag CI pushed
  gitops.progressive.git_release:
    name: podinfo
    namespace: demo
    repo_url: https://git.example.com/platform.git
    git_password: "{{ git_token }}"
    path: apps/staging
    images:
      ghcr.io/stefanprodan/podinfo: "6.8.0"
    image_automation: apps-staging
    flux_timeout: 300
  register: release

- name: Release through git over SSH with a deploy key (an AWX source control credential's key)
  gitops.progressive.git_release:
    name: podinfo
    namespace: demo
    repo_url: ssh://git@git.example.com:2222/platform/fleet.git
    git_ssh_key: "{{ deploy_key }}"
    git_known_hosts: "[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    path: apps/staging
    images:
      ghcr.io/stefanprodan/podinfo: "6.8.1"
"""

RETURN = r"""
lease:
  description: The Lease that held the app for this release (released again at the end), and its holder.
  returned: when the release changed something
  type: dict
  contains:
    name:
      description: C(Lease <namespace>/gitops-progressive-release-<name>).
      type: str
    holder:
      description: Who held it (user@host pid N, and the AWX job).
      type: str
interrupted:
  description: The signal that interrupted the release (C(SIGINT), C(SIGTERM)); the message says what it left behind (a pushed commit).
  returned: when interrupted
  type: str
automation_resumed:
  description: The ImageUpdateAutomation (C(namespace/name)) O(resume_automation) resumed.
  returned: when it was suspended and O(resume_automation) resumed it
  type: str
verdict:
  description: As for M(gitops.progressive.canary_rollout) (C(promoted), C(failed), C(superseded), ...).
  returned: when a release was followed or found
  type: str
commit:
  description: The release's commit.
  returned: when a commit was pushed
  type: str
reverted_on_interrupt:
  description: True when the task was interrupted while Flagger rolled the release back, and pushed the revert anyway.
  returned: when that happened
  type: bool
revert_commit:
  description: The commit that reverted it (after a rollback, or when Flux could not apply it).
  returned: when the release was reverted
  type: str
commit_before:
  description: The branch's head before the task.
  returned: always
  type: str
message:
  description: The first line of the release's commit message.
  returned: when a commit was pushed
  type: str
changes:
  description: What the commit changes (what, old, new).
  returned: when there is a change
  type: list
  elements: dict
flux:
  description: How Flux applied the commit (seconds, revision, each reconcile step).
  returned: when a commit was pushed
  type: dict
timings:
  description: Seconds spent in the preflight and git (edit, commit, push), in Flux (until the commit was applied), and in Flagger's analysis (to the verdict).
  returned: when a commit was pushed
  type: dict
  sample: {"preflight_and_git": 0.4, "flux": 1.2, "analysis": 61.0}
author:
  description: Who wrote the release's commit (with O(image_automation), the automation's author).
  returned: when a commit was followed with O(image_automation)
  type: str
automation_suspended:
  description: The ImageUpdateAutomation (namespace/name) suspended before the revert.
  returned: when O(image_automation) was rolled back or not applied
  type: str
revert_flux:
  description: How Flux applied the revert.
  returned: when the release was reverted
  type: dict
report:
  description: The HTML report written (the O(report) option's file, absolute).
  returned: when O(report) is set and the report was written
  type: str
  sample: /var/lib/awx/reports/demo-podinfo.html
duration:
  description: Seconds the task took.
  returned: when a release was followed
  type: float
weights:
  description: The traffic weights the canary went through.
  returned: when a release was followed
  type: list
  elements: int
reason:
  description: Why the release was not promoted.
  returned: when not promoted
  type: str
metrics_checked:
  description: The metrics whose data was checked before the release (with O(prometheus_url)).
  returned: when prometheus_url is set
  type: list
  elements: str
"""
