# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes every module of the collection shares, and each module's action groups (meta/runtime.yml)."""

from __future__ import annotations


class ModuleDocFragment:

    # With ansible.builtin.action_common_attributes (and .actiongroups), which describe them.
    DOCUMENTATION = r"""
attributes:
  platform:
    support: full
    platforms: posix
"""

    CANARY = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.canary, gitops.progressive.k8s]
"""

    FLUX = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.flux, gitops.progressive.k8s]
"""

    # git_release: a Flux module that also takes the git options.
    FLUX_GIT = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.flux, gitops.progressive.git, gitops.progressive.k8s]
"""

    REPO = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.git]
"""

    K8S = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.k8s]
"""

    SIM = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.sim]
"""

    VAULT = r"""
attributes:
  action_group:
    support: full
    membership: [gitops.progressive.vault]
"""

    # An action plugin: it runs on the controller, once per host, and cannot run async.
    ACTION_PLUGIN = r"""
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
"""

    # The canary a task works on.
    CANARY_OBJECT = r"""
options:
  name:
    description: Name of the canary.
    type: str
    required: true
  namespace:
    description: Namespace of the canary.
    type: str
    required: true
"""
