# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Initialise and unseal a Vault (or OpenBao), keeping its keys out of every output.

The unseal keys and the root token go to one place only: ``keys_file`` (JSON, created
with mode 0600, never overwritten; Ansible Vault-encrypted when a password is given),
and the root token alone to ``token_file`` (0600) for community.hashi_vault's token
authentication (``token_path``/``token_file``), so that no later task carries the token
in a variable. Nothing returned holds a key or a token.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.gitops.progressive.plugins.module_utils.vault import encrypted
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import (
    VaultError,
    describe,
    request_error,
    seal_status,
)


def reserve_private(path):
    """Create ``path`` empty, readable by its owner only (0600), before anything is put in
    it; never replace a file. The open descriptor."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
    except OSError as error:
        raise VaultError("cannot create %s for Vault's keys: %s" % (path, error.strerror or error))
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultError("%s already exists; it is never overwritten (it may hold another Vault's keys)" % path)
    except OSError as error:
        raise VaultError("cannot create %s for Vault's keys: %s" % (path, error.strerror or error))


def fill(descriptor, path, text):
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise VaultError("could not write %s: %s" % (path, error.strerror or error))


def read_keys(path, url, password=None):
    """The unseal keys in ``path`` (written by :func:`initialize`, in plain JSON or Ansible
    Vault-encrypted); clear errors naming the file."""
    try:
        with open(path) as handle:
            text = handle.read()
        if encrypted.is_encrypted(text):
            if not password:
                raise VaultError("the keys file %s is encrypted with Ansible Vault: give its password "
                                 "(keys_file_password)" % path, vault_state="sealed")
            text = encrypted.decrypt(text, password, path)
        record = json.loads(text)
    except FileNotFoundError:
        raise VaultError("%s is sealed and its keys file %s does not exist: give the file written when it was "
                         "initialised" % (describe(url), path), vault_state="sealed")
    except (OSError, ValueError) as error:
        raise VaultError("the keys file %s cannot be read as JSON: %s" % (path, type(error).__name__),
                         vault_state="sealed")
    keys = record.get("keys_base64") if isinstance(record, dict) else None
    if not keys or not isinstance(keys, list):
        raise VaultError("the keys file %s holds no keys_base64 list" % path, vault_state="sealed")
    return keys


def refuse_existing(url, *paths):
    for path in filter(None, paths):
        if os.path.exists(path):
            raise VaultError("%s is not initialised, but %s exists: refusing to overwrite it (is it another "
                             "Vault's?). Move it away to initialise this one." % (describe(url), path),
                             vault_state="uninitialized")


def initialize(client, url, keys_file, token_file, shares, threshold, keys_password=None):
    """Initialise Vault; the keys go to ``keys_file`` (encrypted with ``keys_password`` in
    Ansible Vault's format when given) and the root token to ``token_file``.

    Both files are created (empty, 0600) before Vault is asked, so keys are never issued
    with nowhere to keep them (never over existing ones, see :func:`ensure`); they are
    removed again if Vault refuses."""
    reserved = [(keys_file, reserve_private(keys_file))]
    try:
        if token_file:
            reserved.append((token_file, reserve_private(token_file)))
        answer = client.sys.initialize(secret_shares=shares, secret_threshold=threshold)
    except Exception as error:  # pylint: disable=broad-except
        for path, descriptor in reserved:
            os.close(descriptor)
            os.unlink(path)
        if isinstance(error, VaultError):
            raise
        raise request_error(error, url, "sys/init", "initialise")
    record = dict(keys_base64=answer["keys_base64"], root_token=answer["root_token"], shares=shares,
                  threshold=threshold)
    text = json.dumps(record, indent=2) + "\n"
    if keys_password:
        text = encrypted.encrypt(text.encode("utf-8"), keys_password)
    fill(reserved[0][1], keys_file, text)
    if token_file:
        fill(reserved[1][1], token_file, answer["root_token"])


def unseal(client, url, keys, timeout=30.0, clock=time.monotonic, sleep=time.sleep):
    """Submit unseal keys until Vault is unsealed, then wait (bounded) until it is active."""
    status = seal_status(client, url)
    for key in keys:
        if not status.get("sealed"):
            break
        try:
            status = client.sys.submit_unseal_key(key)
        except Exception as error:  # pylint: disable=broad-except
            raise request_error(error, url, "sys/unseal", "unseal")
    if status.get("sealed"):
        raise VaultError("%s is still sealed after the %d keys of the keys file (%d of %d accepted): they are not "
                         "this Vault's keys" % (describe(url), len(keys), status.get("progress", 0),
                                                status.get("t", 0)), vault_state="sealed")
    wait_active(client, url, timeout, clock, sleep)


def wait_active(client, url, timeout=30.0, clock=time.monotonic, sleep=time.sleep):
    """Wait until Vault answers as the active node (a new raft leader takes a moment)."""
    deadline = clock() + timeout
    while True:
        try:
            health = client.sys.read_health_status(method="GET")
        except Exception:  # pylint: disable=broad-except
            health = None
        if isinstance(health, dict) and not health.get("sealed") and not health.get("standby"):
            return health
        if clock() >= deadline:
            raise VaultError("%s is unsealed but did not become active within %d s" % (describe(url), timeout),
                             vault_state="standby")
        sleep(0.5)


def ensure(client, url, keys_file, token_file, shares, threshold, do_unseal, check_mode, keys_password=None):
    """Initialise (when not) and unseal (when sealed and ``do_unseal``); what was done.
    ``keys_password`` (bytes) encrypts the keys file a new Vault's keys go to, and
    decrypts an encrypted one to unseal. The options are checked before (``checks.check_init``)."""
    status = seal_status(client, url)
    done = []
    if not status.get("initialized"):
        done.append("initialised")
        refuse_existing(url, keys_file, token_file)
        if keys_password:
            # Encryption that fails once Vault has issued its keys would lose them: try it first.
            encrypted.self_test(keys_password)
        if check_mode:
            return dict(changed=True, done=done + (["unsealed"] if do_unseal else []), initialized=False,
                        sealed=True)
        initialize(client, url, keys_file, token_file, shares, threshold, keys_password)
        status = seal_status(client, url)
    if status.get("sealed") and do_unseal:
        keys = read_keys(keys_file, url, keys_password)
        done.append("unsealed")
        if not check_mode:
            unseal(client, url, keys)
            status = seal_status(client, url)
        else:
            status = dict(status, sealed=False)
    elif not status.get("sealed") and not check_mode:
        wait_active(client, url)
    return dict(changed=bool(done), done=done, initialized=True, sealed=bool(status.get("sealed")),
                version=status.get("version"), keys_file_encrypted=file_encrypted(keys_file))


def file_encrypted(path):
    """Whether the keys file is in Ansible Vault's format; None when it cannot be read."""
    try:
        with open(path) as handle:
            return encrypted.is_encrypted(handle.read(64))
    except OSError:
        return None
