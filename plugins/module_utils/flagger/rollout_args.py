# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_rollout's options, shared by the action plugin and the module that documents it."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec


def rollout_argument_spec():
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        images=dict(type="dict", default={}),
        env=dict(type="dict", default={}),
        env_container=dict(type="str"),
        annotations=dict(type="dict", default={}),
        timeout=dict(type="int", default=1800),
        approval=dict(type="str", choices=["auto", "manual"], default="manual"),
        approval_timeout=dict(type="int"),
        loadtester_url=dict(type="str"),
        fail_on_rollback=dict(type="bool", default=True),
        publish_stats=dict(type="bool", default=False),
        progress=dict(type="bool", default=True),
    )
    return spec
