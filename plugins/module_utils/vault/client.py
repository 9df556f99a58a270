# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault's state before anything is asked of it, and its errors as one clear message.

Every module of the collection that talks to Vault (or OpenBao) gets its hvac client from
community.hashi_vault's connection and authentication options, then calls
:func:`require_unsealed` before anything else, so that a Vault that is down, not
initialised or sealed fails the task with a message naming Vault, its address and its
state, before a single write.
"""

from __future__ import annotations

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError


class VaultError(CollectionError):
    """Vault did not answer, is not ready, or refused a request."""


def describe(url):
    return "Vault at %s" % (url or "(no address)")


def seal_status(client, url):
    """``sys/seal-status`` (unauthenticated): initialized, sealed, progress, t, n, version."""
    try:
        return client.sys.read_seal_status()
    except Exception as error:  # pylint: disable=broad-except
        raise VaultError("%s does not answer: %s" % (describe(url), first_line(error)), vault_state="unreachable")


def require_unsealed(client, url, doing):
    """Fail with Vault's state unless it is initialised and unsealed; ``doing`` says what waits on it."""
    status = seal_status(client, url)
    if not status.get("initialized"):
        raise VaultError("%s is not initialised, so it cannot %s: initialise and unseal it first (the vault role, "
                         "or gitops.progressive.vault_init)" % (describe(url), doing), vault_state="uninitialized")
    if status.get("sealed"):
        raise VaultError("%s is sealed (%d of %d unseal keys given), so it cannot %s: unseal it first (the vault "
                         "role, or gitops.progressive.vault_init)" % (
                             describe(url), status.get("progress", 0), status.get("t", 0), doing),
                         vault_state="sealed")
    return status


def request_error(error, url, path, doing):
    """An hvac exception of a request to ``path`` as a VaultError (no request data in it)."""
    name = type(error).__name__
    if name == "Forbidden":
        return VaultError("%s refused %s (permission denied) while trying to %s: the token's policies do not allow "
                          "it" % (describe(url), path, doing), vault_state="unsealed")
    if name == "VaultDown":
        return VaultError("%s is sealed or down while trying to %s (%s)" % (describe(url), doing, path),
                          vault_state="sealed")
    if name in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout"):
        return VaultError("%s does not answer while trying to %s (%s): %s" % (
            describe(url), doing, path, first_line(error)), vault_state="unreachable")
    return VaultError("%s failed %s while trying to %s: %s" % (describe(url), path, doing, first_line(error)))


def first_line(error, limit=300):
    """The first line of an error's message (at most ``limit`` characters), else its type's name."""
    text = str(error).strip().splitlines()
    return text[0][:limit] if text else type(error).__name__


def connect(module):
    """An unauthenticated hvac client from community.hashi_vault's connection options (processed and checked
    by ``checks``, before), and Vault's address."""
    client = module.helper.get_vault_client(**module.connection_options.get_hvac_connection_options())
    return client, module.adapter.get_option("url")


def authenticate(module, client, url):
    """Log the client in with community.hashi_vault's authentication options (validated by
    ``checks.check_config``, before)."""
    try:
        module.authenticator.authenticate(client)
    except Exception as error:  # pylint: disable=broad-except
        raise VaultError("could not log in to %s with auth method %s: %s" % (
            describe(url), module.params.get("auth_method"), first_line(error)))
    finally:
        # The token auth method copies a token read from token_path/token_file into the
        # module's parameters after no_log was worked out: mask it in the invocation too.
        for secret in (client.token, module.params.get("token")):
            if secret:
                module.no_log_values.add(secret)


class HvacPaths:
    """``read(path)`` and ``write(path, data)`` over hvac, with Vault's errors named."""

    def __init__(self, client, url, doing):
        self.client = client
        self.url = url
        self.doing = doing
        self.writes = 0

    def read(self, path):
        try:
            return self.client.read(path)
        except Exception as error:  # pylint: disable=broad-except
            if type(error).__name__ == "InvalidPath":
                return None
            raise request_error(error, self.url, path, self.doing)

    def write(self, path, data):
        self.writes += 1
        try:
            return self.client.write_data(path, data=data)
        except Exception as error:  # pylint: disable=broad-except
            raise request_error(error, self.url, path, self.doing)
