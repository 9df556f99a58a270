# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_rollout runs on the controller, so its progress reaches the console as it happens.

The release engine is module_utils/release/ (pipeline.py); this file only connects it to Ansible.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.gitops.progressive.plugins.module_utils.release.args import rollout_argument_spec
from ansible_collections.gitops.progressive.plugins.plugin_utils.release_action import run_release


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        return run_release(self, super().run(tmp, task_vars), "canary_rollout", rollout_argument_spec(), task_vars)
