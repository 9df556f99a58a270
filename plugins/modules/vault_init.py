#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_init
short_description: Initialise and unseal Vault or OpenBao, keeping its keys in a file only
version_added: 0.1.0
description:
  - Initialises a Vault (or OpenBao) that is not, and unseals one that is sealed, through
    community.hashi_vault's connection options and hvac.
  - The unseal keys and the root token are written to O(keys_file) only (JSON, created with
    mode 0600, never overwritten), and the root token alone to O(token_file) (0600), where
    community.hashi_vault's token authentication reads it (its C(token_path) and
    C(token_file) options), so no later task carries it in a variable.
  - Nothing this module returns or prints holds a key or a token.
  - Idempotent. An initialised, unsealed Vault is left alone (C(ok)); a sealed one is
    unsealed with the keys of O(keys_file).
author:
  - gitops.progressive contributors (@gitops-progressive)
extends_documentation_fragment:
  - gitops.progressive.attributes
  - gitops.progressive.attributes.vault
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - community.hashi_vault.connection
attributes:
  check_mode:
    support: full
    details: Reads Vault's seal status and reports whether it would be initialised or unsealed.
  diff_mode:
    support: none
    details: What changes are keys; they are never shown.
requirements:
  - hvac >= 1.2.1
  - cryptography (with O(keys_file_password))
options:
  keys_file:
    description:
      - Where the unseal keys and the root token are written when Vault is initialised (JSON
        with C(keys_base64), C(root_token), C(shares), C(threshold); mode 0600, its directory
        0700 when created), and read from to unseal it.
      - An existing file is never overwritten; initialising a Vault while it exists fails.
      - With O(keys_file_password) a new Vault's keys are written encrypted in Ansible Vault's
        format (1.1, AES256) and never lie on disk in plain text; C(ansible-vault view) reads
        them. A file written in plain JSON before stays so (with a warning) until
        C(ansible-vault encrypt) is run on it with the same password.
      - An absolute path, not a symbolic link, not in a C(.git) directory; its directory must
        exist or be creatable. Keep it out of git.
    type: path
    required: true
  keys_file_password:
    description:
      - The Ansible Vault password O(keys_file) is encrypted with when Vault is initialised,
        and decrypted with to unseal. A file encrypted with C(ansible-vault encrypt) is
        read the same way.
      - Without it the file is plain JSON (mode 0600), which is refused for a new file unless
        O(keys_in_clear=true); an encrypted one cannot be read. A blank password is refused.
      - Whitespace around it is dropped, as C(ansible-vault) drops it from a password file.
      - The root token of O(token_file) stays plain (mode 0600), since community.hashi_vault
        reads it from there. Leave O(token_file) out and revoke or rotate the root token where
        that file is not wanted.
    type: str
  keys_in_clear:
    description:
      - Allow the unseal keys and the root token to be written to O(keys_file) in plain JSON
        (mode 0600) when O(keys_file_password) is not given. Without it a O(keys_file) that
        does not exist yet, with no password, is refused before Vault is asked anything.
      - Meant for throwaway platforms (the simulated one); anyone who can read that file owns
        the Vault.
    type: bool
    default: false
  token_file:
    description: Where the root token alone is written when Vault is initialised (mode 0600).
    type: path
  key_shares:
    description: Number of unseal keys (1 to 255).
    type: int
    default: 5
  key_threshold:
    description: Keys needed to unseal (1 to O(key_shares); more than 1 when O(key_shares) is).
    type: int
    default: 3
  unseal:
    description: Unseal Vault when it is sealed.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Initialise and unseal the platform's Vault
  gitops.progressive.vault_init:
    url: http://127.0.0.1:18200
    keys_file: /srv/vault/keys.json
    keys_in_clear: true
    token_file: /srv/vault/root-token
    key_shares: 3
    key_threshold: 2

- name: Keep the keys encrypted with Ansible Vault (ansible-vault view reads them)
  gitops.progressive.vault_init:
    url: http://127.0.0.1:18200
    keys_file: /srv/vault/keys.vault
    keys_file_password: "{{ lookup('ansible.builtin.file', '/etc/ansible/vault-keys.pass') }}"
    token_file: /srv/vault/root-token

- name: Configure it with the root token from that file
  gitops.progressive.vault_config:
    url: http://127.0.0.1:18200
    auth_method: token
    token_path: /srv/vault
    token_file: root-token
    secrets_engines:
      - path: transit
        type: transit
"""

RETURN = r"""
done:
  description: What this run did, of C(initialised) and C(unsealed); empty when nothing.
  returned: always
  type: list
  elements: str
  sample: [initialised, unsealed]
initialized:
  description: Whether Vault is initialised.
  returned: always
  type: bool
sealed:
  description: Whether Vault is sealed.
  returned: always
  type: bool
keys_file_encrypted:
  description: Whether O(keys_file) is encrypted with Ansible Vault; null when it cannot be read.
  returned: success
  type: bool
version:
  description: Vault's version.
  returned: when Vault answered
  type: str
  sample: 2.7.2
"""

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible.module_utils.basic import missing_required_lib
from ansible_collections.gitops.progressive.plugins.module_utils.vault import checks, encrypted, init
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import connect


def main():
    from ansible_collections.community.hashi_vault.plugins.module_utils._connection_options import (
        HashiVaultConnectionOptions,
    )

    spec = dict(HashiVaultConnectionOptions.ARGSPEC)
    spec.update(
        # Paths of files that hold secrets, not secrets.
        keys_file=dict(type="path", required=True, no_log=False),
        keys_file_password=dict(type="str", no_log=True),
        keys_in_clear=dict(type="bool", default=False),
        token_file=dict(type="path", no_log=False),
        # Counts of keys, not keys.
        key_shares=dict(type="int", default=5, no_log=False),
        key_threshold=dict(type="int", default=3, no_log=False),
        unseal=dict(type="bool", default=True),
    )
    module = checks.vault_module(spec, supports_check_mode=True)
    params = module.params
    # ansible-vault strips the password it reads from a file or a prompt: the same here.
    password = (params["keys_file_password"] or "").strip()
    if password and not encrypted.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography", reason="to encrypt the keys file"))
    try:
        checks.check_init(module)
        client, url = connect(module)
        result = init.ensure(client, url, params["keys_file"],
                             params["token_file"], params["key_shares"], params["key_threshold"], params["unseal"],
                             module.check_mode, password.encode("utf-8") if password else None)
    except CollectionError as error:
        module.fail_json(msg=str(error), **error.details)
    if password and result["keys_file_encrypted"] is False:
        module.warn("%s is plain JSON although keys_file_password is given (it was written without one): run "
                    "ansible-vault encrypt on it with the same password" % params["keys_file"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
