# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The platform repository options (module_utils/git/repo.py git_argument_spec)."""

    DOCUMENTATION = r"""
options:
  repo_url:
    description:
      - HTTP(S) URL of the platform repository. Credentials do not belong in it (they
        would be logged); use O(git_username) and O(git_password).
    type: str
    required: true
  branch:
    description: Branch to work on.
    type: str
    default: main
  git_username:
    description: User for HTTP basic authentication to the git server.
    type: str
    default: git
  git_password:
    description:
      - Password or token for HTTP basic authentication to the git server. Sent as a header through the
        environment of the git process only; never shown (C(no_log)).
    type: str
  workdir:
    description:
      - Working copy to use (created by cloning when missing, reset to the remote branch
        otherwise). Defaults to a directory per repository and branch under
        C(~/.cache/gitops-progressive/git).
    type: path
  author_name:
    description: Author and committer name of the commits made.
    type: str
    default: gitops.progressive
  author_email:
    description: Author and committer e-mail of the commits made.
    type: str
    default: gitops-progressive@localhost
"""
