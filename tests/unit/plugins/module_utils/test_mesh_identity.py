# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linkerd identity: what is kept, what is made, and that keys never leave the Secrets."""

from __future__ import annotations

import base64
import datetime

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.gitops.progressive.plugins.module_utils.mesh import identity

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)


def stored(secrets):
    """The Secrets as the API server returns them (data, base64)."""
    result = []
    for secret in secrets:
        data = {key: base64.b64encode(value.encode()).decode() for key, value in secret["stringData"].items()}
        result.append(dict(secret, data=data))
    return result


@pytest.fixture(scope="module")
def first():
    decided = identity.plan(None, None, NOW)
    return decided, stored(identity.secrets("flux-system", "anchor", "values", decided))


def test_nothing_stored_makes_both(first):
    decided, _secrets = first
    assert decided["made"] == ["trust anchor", "issuer"]
    assert decided["reasons"] == ["trust anchor: none stored", "issuer: none stored"]
    assert identity.issuer_problem(decided["issuer"][0], decided["issuer"][1], decided["anchor"][0], NOW, 30) is None


def test_second_plan_keeps_both(first):
    _decided, (anchor, values) = first
    again = identity.plan(anchor, values, NOW)
    assert again["made"] == []
    assert again["anchor"] == _decided["anchor"] and again["issuer"] == _decided["issuer"]


def test_values_hold_the_chart_fields(first):
    decided, (_anchor, values) = first
    chart = yaml.safe_load(base64.b64decode(values["data"]["values.yaml"]).decode())
    assert chart["identityTrustAnchorsPEM"] == decided["anchor"][0]
    assert chart["identity"]["issuer"]["tls"] == {"crtPEM": decided["issuer"][0], "keyPEM": decided["issuer"][1]}


def test_issuer_renewed_before_it_expires(first):
    _decided, (anchor, values) = first
    later = NOW + datetime.timedelta(days=340)
    again = identity.plan(anchor, values, later)
    assert again["made"] == ["issuer"]
    assert again["reasons"][0].startswith("issuer: expires on")
    assert again["anchor"] == _decided["anchor"]


def test_issuer_of_another_anchor_is_replaced(first):
    _decided, (_anchor, values) = first
    other = stored(identity.secrets("ns", "a", "v", identity.plan(None, None, NOW)))[0]
    again = identity.plan(other, values, NOW)
    assert again["made"] == ["issuer"]
    assert again["reasons"] == ["issuer: not signed by the trust anchor"]


def test_unreadable_anchor_is_replaced_and_says_why(first):
    _decided, (anchor, values) = first
    broken = dict(anchor, data=dict(anchor["data"], **{"tls.key": base64.b64encode(b"garbage").decode()}))
    again = identity.plan(broken, values, NOW)
    assert again["made"] == ["trust anchor", "issuer"]
    assert again["reasons"][0].startswith("trust anchor: unreadable")


def test_issuer_never_outlives_its_anchor():
    anchor_cert, anchor_key = identity.new_trust_anchor(NOW, 10)
    issuer_cert, _key = identity.new_issuer(anchor_cert, anchor_key, NOW, 365)
    from cryptography import x509

    assert identity.not_after(x509.load_pem_x509_certificate(issuer_cert.encode())) <= NOW + datetime.timedelta(days=10)


def test_summary_has_no_key(first):
    decided, _secrets = first
    text = repr(identity.summary(decided))
    assert "PRIVATE KEY" not in text
    assert identity.summary(decided)["trust_anchor_pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_an_issuer_ending_with_its_anchor_is_kept_not_reissued_every_run():
    anchor = identity.new_trust_anchor(NOW, 40)
    decided = identity.plan(None, None, NOW, make_anchor=lambda now, days: anchor)
    secrets = stored(identity.secrets("ns", "a", "v", decided))
    later = NOW + datetime.timedelta(days=20)
    assert identity.plan(secrets[0], secrets[1], later)["made"] == []
    expired = NOW + datetime.timedelta(days=41)
    assert identity.plan(secrets[0], secrets[1], expired)["made"] == ["trust anchor", "issuer"]


def foreign_anchor(key):
    """A trust anchor of another key kind, as someone may have stored it by hand (PEM cert, PEM key)."""
    from cryptography.hazmat.primitives import serialization

    cert = identity._ca_certificate(identity.TRUST_ANCHOR_NAME, key.public_key(), identity.TRUST_ANCHOR_NAME, key,
                                    NOW, 3650, 1)
    return identity._pem_cert(cert), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode()


def anchor_secret(cert_key, namespace="linkerd", name="linkerd-trust-anchor"):
    return {"metadata": {"namespace": namespace, "name": name},
            "data": {"tls.crt": base64.b64encode(cert_key[0].encode()).decode(),
                     "tls.key": base64.b64encode(cert_key[1].encode()).decode()}}


@pytest.mark.parametrize("make_key, named", [
    (lambda: rsa.generate_private_key(65537, 2048), "an RSA 2048-bit key"),
    (lambda: identity.ec.generate_private_key(identity.ec.SECP384R1()), "an ECDSA secp384r1 key"),
])
def test_a_stored_anchor_that_is_not_ecdsa_p256_is_refused_naming_the_secret_and_what_to_do(make_key, named):
    anchor = anchor_secret(foreign_anchor(make_key()))
    with pytest.raises(identity.IdentityError) as error:
        identity.plan(anchor, None, NOW)
    message = str(error.value)
    assert message.startswith("trust anchor Secret linkerd/linkerd-trust-anchor holds a certificate with %s; "
                              "Linkerd's identity needs ECDSA P-256" % named)
    assert "or delete the Secret to have one made" in message


def test_an_issuer_the_old_code_signed_with_an_rsa_anchor_is_refused_not_a_crash():
    """Before the check, an RSA anchor signed an issuer, and the next run crashed verifying it as ECDSA."""
    rsa_anchor = foreign_anchor(rsa.generate_private_key(65537, 2048))
    issuer = identity.new_issuer(rsa_anchor[0], rsa_anchor[1], NOW, 365)
    values = {"data": {"values.yaml": base64.b64encode(yaml.safe_dump(
        identity.chart_values(rsa_anchor[0], *issuer)).encode()).decode()}}
    assert identity.issuer_problem(issuer[0], issuer[1], rsa_anchor[0], NOW, 30) == "not signed by the trust anchor"
    with pytest.raises(identity.IdentityError, match="RSA 2048-bit"):
        identity.plan(anchor_secret(rsa_anchor), values, NOW)


def test_an_issuer_with_an_rsa_key_is_replaced(first):
    decided, (anchor, _values) = first
    rsa_issuer = foreign_anchor(rsa.generate_private_key(65537, 2048))
    values = {"data": {"values.yaml": base64.b64encode(yaml.safe_dump(
        identity.chart_values(decided["anchor"][0], *rsa_issuer)).encode()).decode()}}
    again = identity.plan(anchor, values, NOW)
    assert again["made"] == ["issuer"]
    assert again["reasons"] == ["issuer: it has an RSA 2048-bit key, Linkerd needs ECDSA P-256"]
