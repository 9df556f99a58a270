# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An app's database credentials, the way the app gets them: its service account's token
(from the API server's TokenRequest), a Kubernetes-auth login, then ``<mount>/creds/<role>``,
and, when it has a transit key, a value encrypted and decrypted back with that key.

Used to prove the wiring of an app (log in, get credentials, hand them back only when
asked, revoke the lease right away when asked) and to give a job the app's credentials.
Vault's state is checked first: a sealed or stopped Vault is named as such, not as a
failed login.
"""

from __future__ import annotations

import base64
import os

from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import SERVICE_ACCOUNT
from ansible_collections.gitops.progressive.plugins.module_utils.vault.client import (
    VaultError,
    describe,
    first_line,
    request_error,
    require_unsealed,
)


def service_account_token(kube, namespace, name, audiences=None, seconds=600):
    """A short-lived token of ``namespace/name`` from the TokenRequest API."""
    spec = {"expirationSeconds": seconds}
    if audiences:
        spec["audiences"] = list(audiences)
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    answer = kube.request("POST", SERVICE_ACCOUNT.path(namespace, name) + "/token", "requesting a token for",
                          SERVICE_ACCOUNT.describe(namespace, name), body=body)
    return answer["status"]["token"]


def issue(client, url, jwt, who, auth_mount, auth_role, db_mount, db_role, revoke=False, transit_key=None,
          transit_mount="transit"):
    """Log in as ``who`` (``namespace/name``) and read ``<db_mount>/creds/<db_role>``;
    with ``transit_key`` also encrypt a value with that key and decrypt it back.

    ``jwt`` is the service account's token, or a function that gets it, called only once
    Vault is known to be unsealed.

    The result holds the credentials and their lease, which is a child of the login token:
    they end when either ends. With ``revoke`` the token is revoked before returning, and
    the credentials with it (a check that leaves nothing behind)."""
    doing = "issue database credentials %s/creds/%s to service account %s" % (db_mount, db_role, who)
    require_unsealed(client, url, doing)
    if callable(jwt):
        jwt = jwt()
    try:
        login = client.auth.kubernetes.login(role=auth_role, jwt=jwt, mount_point=auth_mount, use_token=True)
    except Exception as error:  # pylint: disable=broad-except
        raised = request_error(error, url, "auth/%s/login" % auth_mount, doing)
        if type(error).__name__ in ("Forbidden", "InvalidRequest"):
            raised = VaultError("%s refused the login of service account %s with Kubernetes auth role %s (%s): "
                                "is the role bound to this service account and namespace?" % (
                                    describe(url), who, auth_role, first_line(error, 200)), vault_state="unsealed")
        raise raised
    try:
        found = _database_credentials(client, url, login, doing, db_mount, db_role)
        if transit_key:
            found["transit_checked"] = round_trip(client, url, transit_mount, transit_key, who)
    except BaseException:
        # Whatever went wrong, the login (and any credentials it got) ends here.
        _revoke_token(client)
        raise
    if revoke:
        # The lease is the login token's child: revoking the token revokes the credentials.
        found["revoked"] = _revoke_token(client)
        if not found["revoked"]:
            raise VaultError("%s issued credentials %s to service account %s but did not revoke its login token: they "
                             "stay valid for up to %s s" % (describe(url), found["lease_id"], who, found["lease_duration"]),
                             vault_state="unsealed")
    client.token = None
    return found


def _database_credentials(client, url, login, doing, db_mount, db_role):
    """The database credentials as the logged-in app."""
    try:
        answer = client.secrets.database.generate_credentials(name=db_role, mount_point=db_mount)
        found = dict(username=answer["data"]["username"], password=answer["data"]["password"],
                     lease_id=answer["lease_id"], lease_duration=answer["lease_duration"],
                     policies=sorted(login["auth"].get("token_policies") or login["auth"].get("policies") or []),
                     token_ttl=login["auth"].get("lease_duration"), revoked=False, transit_checked=False)
    except Exception as error:  # pylint: disable=broad-except
        raise request_error(error, url, "%s/creds/%s" % (db_mount, db_role), doing)
    return found


def round_trip(client, url, mount, key, who):
    """Encrypt a random value with transit key ``mount/key`` and decrypt it back, as the
    app does with what it stores; True, or a VaultError naming the key."""
    doing = "encrypt and decrypt with transit key %s/%s as service account %s" % (mount, key, who)
    value = base64.b64encode(os.urandom(16)).decode("ascii")
    try:
        ciphertext = client.secrets.transit.encrypt_data(name=key, plaintext=value, mount_point=mount)["data"]["ciphertext"]
    except Exception as error:  # pylint: disable=broad-except
        raise request_error(error, url, "%s/encrypt/%s" % (mount, key), doing)
    try:
        opened = client.secrets.transit.decrypt_data(name=key, ciphertext=ciphertext, mount_point=mount)["data"]["plaintext"]
    except Exception as error:  # pylint: disable=broad-except
        raise request_error(error, url, "%s/decrypt/%s" % (mount, key), doing)
    if opened != value or value in ciphertext:
        raise VaultError("%s did not give back what transit key %s/%s encrypted for service account %s"
                         % (describe(url), mount, key, who), vault_state="unsealed")
    return True


def _revoke_token(client):
    try:
        client.auth.token.revoke_self()
        return True
    except Exception:  # pylint: disable=broad-except
        return False  # the login token (and its leases) end with its TTL anyway
