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
      - HTTP(S) URL of the platform repository (or C(file://) for one on this machine).
      - Credentials do not belong in it (they would be logged); one that holds them is refused,
        and masked in the output. Use O(git_username) and O(git_password).
    type: str
    required: true
  branch:
    description: Branch to work on, its short name as git accepts it (C(main), C(release/1.2); not C(refs/heads/main)).
    type: str
    default: main
  git_username:
    description: User for HTTP basic authentication to the git server (no C(:), control or format characters).
    type: str
    default: git
  git_password:
    description:
      - Password or token for HTTP basic authentication to the git server (no control characters). Sent as a
        header through the environment of the git process only; never shown (C(no_log)).
    type: str
  workdir:
    description:
      - Working copy to use (created by cloning when missing, reset to the remote branch
        otherwise). Defaults to a directory per repository and branch under
        C(~/.cache/gitops-progressive/git).
      - The task resets and cleans it (C(git reset --hard), C(git clean -fdx)) and keeps a lock file beside it
        (C(<workdir>.lock)), so, checked before anything is created, these are refused - C(/), the home directory,
        a directory right under C(/), anything in a system directory (C(/etc), C(/usr), ...), a file, an
        existing directory that holds files and is not a git working copy, and a working copy of another
        repository. The same repository at another address (the git server on a new port) is fine.
      - A working copy the collection cloned carries the file C(.git/gitops-progressive) (and those in
        C(~/.cache/gitops-progressive/git) are its own too); it is brought to the remote branch whatever it
        holds. Any other working copy of the repository (your own checkout) is used only when that loses
        nothing - no uncommitted change, no untracked or ignored file, no commit the remote branch lacks - and
        refused otherwise.
      - Files are only written through real directories of it; a path through a symbolic link is refused.
    type: path
  author_name:
    description:
      - Author and committer name of the commits made (one line, no C(<), C(>), control or format characters).
    type: str
    default: gitops.progressive
  author_email:
    description:
      - Author and committer e-mail of the commits made (one line, no C(<), C(>), control or format characters).
    type: str
    default: gitops-progressive@localhost
"""
