# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the release action plugins (canary_rollout, git_release) share: run a workflow on
the controller with live progress, and turn its errors into one clean failure."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube

display = Display()


def run_release(action, result, workflow, argument_spec):
    """Validate the task's options against ``argument_spec``, run ``workflow(kube, args, ...)``.

    A failure before anything changed is a plain task failure; after a change, the
    workflow's partial result (with ``changed``) is returned as failed.
    """
    _validation, args = action.validate_argument_spec(argument_spec=argument_spec)
    release = None
    try:
        release = workflow(Kube.from_args(args), args, check_mode=action._task.check_mode, say=display.display)
        result.update(release.run())
    except CollectionError as error:
        if release is None or not release.result.get("changed"):
            raise AnsibleActionFail(str(error), result=dict(error.details))
        result.update(release.result, failed=True, msg=str(error))
    if not action._task.diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        display.warning(warning)
    return result
