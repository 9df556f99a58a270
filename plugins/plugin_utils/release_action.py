# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the release action plugins (canary_rollout, git_release) share: run a workflow on
the controller with live progress, and turn its errors into one clean failure.

The options are checked (release/pipeline.py check_task_options) before the Kubernetes
client is made or anything is read. Everything the task shows (its result, messages,
warnings and progress lines) goes out with the credentials of any address in it redacted
(inputs.py redact_urls): an action plugin's result is not filtered by a module's
``no_log_values``.

The release runs in the task's ``environment:`` (an action plugin runs on the controller,
where Ansible does not apply it): ``K8S_AUTH_*`` set there reach the Kubernetes client, git
and everything else the release starts, as with a module. AWX's extra variables
(``awx_job_id``, ``awx_user_name``) name the job and its user in the Lease and the commits."""

from __future__ import annotations

import contextlib
import os

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import redact_urls
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube
from ansible_collections.gitops.progressive.plugins.module_utils.release import pipeline, report
from ansible_collections.gitops.progressive.plugins.module_utils.release.lease import holder

display = Display()

WORKFLOWS = {"canary_rollout": pipeline.canary_rollout, "git_release": pipeline.git_release}


def redacted(value):
    """``value`` (a result) with credentials in addresses redacted in every string in it."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {redacted(key): redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redacted(item) for item in value]
    return value


# AWX's extra variables naming the job and who launched it (and their names before AWX 18).
AWX_VARS = ("awx_job_id", "awx_user_name", "tower_job_id", "tower_user_name")


def task_environment(action):
    """The task's ``environment:`` (its blocks' and play's first, the task's last), templated,
    as strings: what Ansible would give a module's process."""
    merged = {}
    environments = action._task.environment or []
    for environment in environments if isinstance(environments, list) else [environments]:
        if environment:
            value = action._templar.template(environment)
            if not isinstance(value, dict):
                raise AnsibleActionFail("environment must be a dictionary, got %s" % type(value).__name__)
            merged.update(value)
    return {str(name): "" if value is None else str(value) for name, value in merged.items()}


@contextlib.contextmanager
def applied(environment, environ=None):
    """``environment`` set in this process's environment while the block runs, then put back
    as it was (the worker process runs one task, but nothing should leak out of it)."""
    environ = os.environ if environ is None else environ
    before = {name: environ.get(name) for name in environment}
    try:
        environ.update(environment)
        yield
    finally:
        for name, value in before.items():
            try:
                if value is None:
                    environ.pop(name, None)
                else:
                    environ[name] = value
            except (KeyError, ValueError):
                pass  # a name the environment never took (empty, with '=' or a NUL)


def write_report(release, path, result):
    """The release's report, best effort: whatever goes wrong (an odd answer from Prometheus, a
    full disk) is a warning, never a change of the verdict the release reached."""
    try:
        result["report"] = report.release_report(release, path, result,
                                                 warn=lambda message: display.warning(redact_urls(message)))
    except Exception as error:  # noqa: BLE001 - the report must not turn a verdict into a traceback
        display.warning(redact_urls("could not write the release report %s: %s: %s" % (
            path, type(error).__name__, error)))


def run_release(action, result, task, argument_spec, task_vars=None):
    """Validate the task's options against ``argument_spec`` and the release's own checks,
    then run ``task``'s workflow (``canary_rollout`` or ``git_release``).

    A failure before anything changed is a plain task failure; after a change, the
    workflow's partial result (with ``changed``) is returned as failed.
    """
    _validation, args = action.validate_argument_spec(argument_spec=argument_spec)
    release = None
    awx = {name: (task_vars or {}).get(name) for name in AWX_VARS if (task_vars or {}).get(name)}
    environment = task_environment(action)
    try:
        pipeline.check_task_options(task, args)
        with applied(environment):
            release = WORKFLOWS[task](Kube.from_args(args), args, check_mode=action._task.check_mode,
                                      say=lambda line: display.display(redact_urls(line)),
                                      lease_holder=holder(awx=awx))
            result.update(release.run())
    except CollectionError as error:
        if release is None or not release.result.get("changed"):
            raise AnsibleActionFail(redact_urls(str(error)), result=redacted(dict(error.details)))
        result.update(release.result, failed=True, msg=str(error))
    if args.get("report") and not action._task.check_mode:
        with applied(environment):  # Prometheus through the task's proxy settings, as the release reached it
            write_report(release, args["report"], result)
    if not action._task.diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        display.warning(redact_urls(warning))
    return redacted(result)
