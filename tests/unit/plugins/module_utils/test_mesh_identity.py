# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linkerd identity: what is kept, what is made, and that keys never leave the Secrets."""

from __future__ import annotations

import base64
import datetime

import pytest
import yaml

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
