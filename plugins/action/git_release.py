# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""git_release runs on the controller (the working copy lives there; progress reaches the
console as it happens). The workflow is module_utils/git/release.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.git.release import (
    GitRelease,
    git_release_argument_spec,
)
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import Kube

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=git_release_argument_spec())
        release = None
        try:
            release = GitRelease(Kube.from_args(args), args, check_mode=self._task.check_mode, say=display.display)
            result.update(release.run())
        except CollectionError as error:
            if release is None or not release.result.get("changed"):
                raise AnsibleActionFail(str(error), result=dict(error.details))
            result.update(release.result, failed=True, msg=str(error))
        if not self._task.diff:
            result.pop("diff", None)
        for warning in result.pop("warnings", []):
            display.warning(warning)
        return result
