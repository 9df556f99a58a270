# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sim_binaries runs on the controller, so that a build of many minutes shows its progress.

A module reports only when it exits; the first build on a new machine takes about ten
minutes. Here every build prints a line when it starts, one every ``progress_interval``
seconds while it runs ("building kubernetes v1.33.13 (kube-apiserver, ...): 2m10s") and
one at its end ("built ... in 571 s"). The lines go to stderr, which Python flushes line
by line even into a file: ``make test`` runs this playbook in the background with its
output in a log and follows that log while it waits.

The binaries serve local processes of the simulated platform, which runs beside the
controller (``ansible_connection: local``), so building on the controller is building
where they run.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.gitops.progressive.plugins.module_utils.sim import binaries
from ansible_collections.gitops.progressive.plugins.module_utils.sim.gobuild import BuildError

display = Display()


def _say(line):
    display.display(line, stderr=True)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=binaries.binaries_argument_spec())
        try:
            outcome = binaries.run(args, self._task.check_mode, os.environ, report=_say)
        except ValueError as error:
            raise AnsibleActionFail("sim_binaries: %s" % error)
        except BuildError as error:
            result.update(getattr(error, "result", {}))
            result.update(failed=True, msg="sim_binaries: %s" % error)
            return result
        result.update(outcome)
        return result
