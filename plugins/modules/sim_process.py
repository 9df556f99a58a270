#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sim_process
short_description: Run a simulated-platform process in the background, tracked by PID
version_added: 0.1.0
description:
  - Starts a long-running local process (Flagger, its load tester, Prometheus, the traffic
    simulator) detached from the task, records its PID and start time in a PID file, and
    optionally waits until it answers on an HTTP address.
  - The process starts with a minimal environment plus O(env), never the task's whole
    environment.
  - Idempotent. A process already running with the same command line reports C(ok); a
    changed command line restarts it (C(changed)); C(state=absent) stops it by its PID
    (SIGTERM, then SIGKILL) and never by name.
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.sim
  - gitops.progressive.wait.timeout
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Reports whether the process would be started, restarted or stopped.
  diff_mode:
    support: none
options:
  name:
    description:
      - Name of the process; names its PID file and log in O(state_dir). 1 to 64 letters, digits,
        C(.), C(_) and C(-), starting with a letter or digit.
      - Every option is checked before anything is looked at; O(state_dir) and O(chdir) must be
        absolute and not C(/), a system directory or the home directory itself, O(ready_url) on loopback
        without credentials.
    type: str
    required: true
  state:
    description: C(started) keeps it running, C(absent) stops it.
    type: str
    choices: [started, absent]
    default: started
  argv:
    description: The command line. Required with C(state=started).
    type: list
    elements: str
  state_dir:
    description:
      - Directory for C(<name>.pid), C(<name>.log) and C(<name>.argv), each written
        owner-only (mode 0600). Created owner-only (0700) when missing.
    type: path
    required: true
  env:
    description:
      - Environment variables the process gets. Of the task's own environment it keeps only
        C(PATH), C(HOME), C(LANG), C(LC_ALL), C(LC_CTYPE), C(TZ) and C(TMPDIR); credentials the
        operator exported (C(K8S_AUTH_*), C(VAULT_TOKEN), C(GITHUB_TOKEN), C(AWS_*), ...) never
        reach it. Whatever else the process needs (C(KUBECONFIG), a proxy) is given here.
      - Values may be credentials. They are never returned or shown (C(no_log)), and the
        record of how the process was started keeps only their names and a SHA-256 digest.
    type: dict
    default: {}
  chdir:
    description: Working directory of the process (with O(user), C(/) when not given).
    type: path
  user:
    description:
      - Local account (a name) the process runs as - its uid and primary group, no
        supplementary groups, umask 0077, C(no_new_privs) (a setuid program gives it
        nothing more), C(HOME), C(USER) and C(LOGNAME) from its passwd entry and not the
        task's C(HOME) or C(TMPDIR).
      - Needs root unless it is the account the task runs as (then nothing changes). The
        program in O(argv) and O(chdir) must be reachable by that account; the PID file,
        log and launch record stay the task's own (0600), the process writes its log through
        the descriptor it is given.
      - A changed O(user) restarts the process.
    type: str
  ready_url:
    description:
      - An HTTP address that answers 2xx once the process is ready.
      - When its host is local (C(127.0.0.1), C(::1), C(localhost)), the answer must come
        from this process - the socket listening on its port must belong to the process or
        one of its descendants (Linux). A port held by another process (another platform
        on the same ports) fails at once, naming that process, and before anything is
        started when it is held already.
    type: str
  wait_timeout:
    description:
      - Seconds to wait for O(ready_url), a hard limit.
      - Must be positive.
    type: int
    default: 60
    aliases: [ready_timeout]
"""

EXAMPLES = r"""
- name: Run Prometheus for Flagger
  gitops.progressive.sim_process:
    name: prometheus
    argv:
      - /usr/bin/prometheus
      - --config.file=/var/lib/sim/prometheus.yml
      - --web.listen-address=127.0.0.1:19090
    state_dir: /var/lib/sim
    ready_url: http://127.0.0.1:19090/-/ready

- name: Stop it again
  gitops.progressive.sim_process:
    name: prometheus
    state: absent
    state_dir: /var/lib/sim
"""

RETURN = r"""
pid:
  description: PID of the running process.
  returned: when state=started and not in check mode
  type: int
pidfile:
  description: Path of the PID file.
  returned: always
  type: str
log:
  description: Path of the process's log (stdout and stderr).
  returned: always
  type: str
restarted:
  description: Whether a running process was restarted because its command line changed.
  returned: always
  type: bool
"""

from ansible_collections.gitops.progressive.plugins.module_utils.args import wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.host.managed_process import ensure_process
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import masked_module


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["started", "absent"], default="started"),
        argv=dict(type="list", elements="str"),
        state_dir=dict(type="path", required=True),
        # Values may be credentials: masked in every output, never returned, only digested on disk.
        env=dict(type="dict", default={}, no_log=True),
        chdir=dict(type="path"),
        user=dict(type="str"),
        ready_url=dict(type="str"),
        **wait_argument_spec(wait=None, wait_timeout=60),
    )
    spec["wait_timeout"]["aliases"] = ["ready_timeout"]
    return spec


def main():
    module = masked_module(argument_spec=argument_spec(), required_if=[("state", "started", ("argv",))],
                           supports_check_mode=True)
    try:
        result = ensure_process(module.params, module.check_mode)
    except CollectionError as error:
        module.fail_json(msg=str(error), **error.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
