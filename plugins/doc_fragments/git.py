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
      - HTTP(S) URL of the platform repository (or C(file://) for one on this machine), or an SSH address
        (C(ssh://git@host:2222/org/platform.git), or scp's C(git@host:org/platform.git)).
      - Credentials do not belong in it (they would be logged); one that holds them is refused,
        and masked in the output. Use O(git_username) and O(git_password) over HTTP(S), a deploy key
        (O(git_ssh_key) or O(git_ssh_key_file)) and the pinned host key (O(git_known_hosts)) over SSH.
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
  git_ssh_key:
    description:
      - Private key (OpenSSH or PEM text, without a passphrase) of a deploy key, for an SSH O(repo_url), as an AWX
        machine or source control credential gives it. Written for each git command to a file only this user can
        read, in a directory of its own, and removed after; never shown (C(no_log)).
      - Mutually exclusive with O(git_ssh_key_file). With neither, ssh uses the user's own keys and agent.
    type: str
  git_ssh_key_file:
    description:
      - Path of the deploy key's private key file on the controller, for an SSH O(repo_url). With it, ssh uses this
        key alone (no agent, no C(~/.ssh/config)).
    type: path
  git_known_hosts:
    description:
      - The SSH server's host keys as known_hosts lines (C([git.example.com]:2222 ssh-ed25519 AAAA...)), required with
        an SSH O(repo_url). ssh checks the server against these alone (C(StrictHostKeyChecking=yes), no other known
        hosts file, nothing added), so git never trusts a key it sees for the first time.
      - Get them from a source you trust (the git host's documentation, or C(ssh-keyscan) checked against the
        fingerprints the host publishes).
    type: str
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
