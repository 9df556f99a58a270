# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the release action plugins (canary_rollout, git_release) share: run a workflow on
the controller with live progress, and turn its errors into one clean failure.

The options are checked (release/pipeline.py check_task_options) before the Kubernetes
client is made or anything is read. Everything the task shows (its result, messages,
warnings and progress lines) goes out with the credentials of any address in it redacted
(inputs.py redact_urls): an action plugin's result is not filtered by a module's
``no_log_values``."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import redact_urls
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube
from ansible_collections.gitops.progressive.plugins.module_utils.release import pipeline

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


def run_release(action, result, task, argument_spec):
    """Validate the task's options against ``argument_spec`` and the release's own checks,
    then run ``task``'s workflow (``canary_rollout`` or ``git_release``).

    A failure before anything changed is a plain task failure; after a change, the
    workflow's partial result (with ``changed``) is returned as failed.
    """
    _validation, args = action.validate_argument_spec(argument_spec=argument_spec)
    release = None
    try:
        pipeline.check_task_options(task, args)
        release = WORKFLOWS[task](Kube.from_args(args), args, check_mode=action._task.check_mode,
                                  say=lambda line: display.display(redact_urls(line)))
        result.update(release.run())
    except CollectionError as error:
        if release is None or not release.result.get("changed"):
            raise AnsibleActionFail(redact_urls(str(error)), result=redacted(dict(error.details)))
        result.update(release.result, failed=True, msg=str(error))
    if not action._task.diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        display.warning(redact_urls(warning))
    return redacted(result)
