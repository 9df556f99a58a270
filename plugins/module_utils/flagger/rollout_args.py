# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_rollout's options, shared by the action plugin and the module that documents it."""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.args import wait_argument_spec
from ansible_collections.gitops.progressive.plugins.module_utils.flagger.release import IN_FLIGHT_CHOICES
from ansible_collections.gitops.progressive.plugins.module_utils.kube.client import auth_argument_spec


def rollout_argument_spec():
    spec = auth_argument_spec()
    spec.update(wait_argument_spec(wait=True, wait_timeout=1800))
    spec["wait_timeout"]["aliases"] = ["timeout"]
    spec.update(
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selector=dict(type="str"),
        images=dict(type="dict", default={}),
        env=dict(type="dict", default={}),
        env_container=dict(type="str"),
        annotations=dict(type="dict", default={}),
        approval=dict(type="str", choices=["auto", "manual"], default="manual"),
        approval_timeout=dict(type="int"),
        loadtester_url=dict(type="str", no_log=False),
        in_flight=dict(type="str", choices=list(IN_FLIGHT_CHOICES), default="wait"),
        fail_on_rollback=dict(type="bool", default=True),
        publish_stats=dict(type="bool", default=False),
        progress=dict(type="bool", default=True),
        prometheus_url=dict(type="str"),
        mesh_provider=dict(type="str", default="istio"),
        metric_window=dict(type="str", choices=["wait", "fail"], default="wait"),
    )
    return spec
