# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible Vault's file format (1.1, AES256), so that Vault's keys file can be written
encrypted and never lie on disk in plain text.

A module cannot import ``ansible.parsing.vault`` (it runs on the target with module_utils
only), so this is the format itself: PBKDF2-HMAC-SHA256 (10000 rounds, 32-byte salt)
gives an AES-256 key, an HMAC-SHA256 key and a CTR nonce; the PKCS7-padded text is
encrypted with AES-CTR and authenticated with the HMAC. ``ansible-vault view`` and
``ansible-vault decrypt`` read what :func:`encrypt` writes, and :func:`decrypt` reads what
``ansible-vault encrypt`` writes.
"""

from __future__ import annotations

import binascii
import hmac as hmac_compare
import os

try:
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hmac import HMAC
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module that needs it
    HAS_CRYPTOGRAPHY = False

from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import VaultError

HEADER = "$ANSIBLE_VAULT"
ROUNDS = 10000


def is_encrypted(text):
    return text.lstrip().startswith(HEADER + ";")


def _keys(password, salt):
    # The backend argument, as Ansible passes it: cryptography before 3.1 needs it.
    derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=ROUNDS,
                         backend=default_backend()).derive(password)
    return derived[:32], derived[32:64], derived[64:]


def _hmac(key, data):
    digest = HMAC(key, hashes.SHA256(), backend=default_backend())
    digest.update(data)
    return digest.finalize()


def encrypt(plaintext, password, salt=None):
    """``plaintext`` (bytes) as an Ansible Vault 1.1 AES256 document (str)."""
    if not password:
        raise VaultError("an empty password cannot encrypt the keys file")
    salt = salt or os.urandom(32)
    cipher_key, hmac_key, nonce = _keys(password, salt)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CTR(nonce), backend=default_backend()).encryptor()
    ciphertext = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    body = binascii.hexlify(b"\n".join([binascii.hexlify(salt), binascii.hexlify(_hmac(hmac_key, ciphertext)),
                                        binascii.hexlify(ciphertext)])).decode("ascii")
    lines = [HEADER + ";1.1;AES256"] + [body[start:start + 80] for start in range(0, len(body), 80)]
    return "\n".join(lines) + "\n"


def self_test(password):
    """Encrypt and decrypt a throwaway text with ``password``; a VaultError if this
    machine's cryptography cannot (before anything worth keeping is encrypted)."""
    try:
        if decrypt(encrypt(b"probe", password), password, "a test text") == b"probe":
            return
    except VaultError:
        raise
    except Exception as error:  # pylint: disable=broad-except
        raise VaultError("cannot encrypt the keys file on this machine (%s: %s); nothing was initialised"
                         % (type(error).__name__, error))
    raise VaultError("encrypting and decrypting a test text gave another text; nothing was initialised")


def decrypt(text, password, path):
    """The plain bytes of the Ansible Vault document ``text`` (read from ``path``)."""
    lines = text.strip().splitlines()
    header = lines[0].strip().split(";") if lines else []
    if len(header) < 3 or header[0] != HEADER:
        raise VaultError("%s is not an Ansible Vault file" % path, vault_state="sealed")
    if header[2].strip() != "AES256":
        raise VaultError("%s is encrypted with %s; only AES256 is read" % (path, header[2]), vault_state="sealed")
    try:
        salt, digest, ciphertext = binascii.unhexlify("".join(line.strip() for line in lines[1:])).split(b"\n", 2)
        salt, digest, ciphertext = (binascii.unhexlify(part) for part in (salt, digest, ciphertext))
    except (ValueError, binascii.Error):
        raise VaultError("%s is not a well-formed Ansible Vault file" % path, vault_state="sealed")
    cipher_key, hmac_key, nonce = _keys(password, salt)
    if not hmac_compare.compare_digest(_hmac(hmac_key, ciphertext), digest):
        raise VaultError("%s cannot be decrypted with the password given (wrong password, or the file was changed)"
                         % path, vault_state="sealed")
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CTR(nonce), backend=default_backend()).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError("%s decrypts to a malformed text" % path, vault_state="sealed")
