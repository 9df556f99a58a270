# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linkerd's identity certificates: a trust anchor and the issuer it signs.

Linkerd's Helm charts need both from the user (``linkerd install`` makes them itself):
the trust anchor (a root CA, ECDSA P-256, ``root.linkerd.cluster.local``) whose
certificate every proxy trusts, and the issuer (an intermediate CA,
``identity.linkerd.cluster.local``) that the identity service signs proxy certificates
with. Both keys stay in Kubernetes Secrets, never in git:

- the trust anchor Secret (``kubernetes.io/tls``: ``tls.crt``, ``tls.key``), the same
  shape cert-manager's CA Issuer reads, so cert-manager can take over the issuer's
  rotation later;
- the values Secret (``values.yaml``): the chart values ``identityTrustAnchorsPEM`` and
  ``identity.issuer.tls.crtPEM``/``keyPEM``, which a HelmRelease reads with
  ``valuesFrom`` (or the role passes to ``kubernetes.core.helm``).

:func:`plan` decides from what is stored what to keep and what to make: a trust anchor
is made only when none is stored (or it is unreadable, or expired: rotating a live trust
anchor is the operator's decision); an issuer is made when none is stored, it is not
signed by the stored anchor, or it expires within ``renew_before`` (unless it already
ends with its anchor, where a new one could not last longer). Everything but the key generation is pure and unit-tested.
"""

from __future__ import annotations

import base64
import datetime

from ansible_collections.gitops.progressive.plugins.module_utils.errors import CollectionError
from ansible_collections.gitops.progressive.plugins.module_utils.inputs import Inputs
from ansible_collections.gitops.progressive.plugins.module_utils.kube.api import SECRET

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False

TRUST_ANCHOR_NAME = "root.linkerd.cluster.local"
ISSUER_NAME = "identity.linkerd.cluster.local"
VALUES_KEY = "values.yaml"
# A century: X.509 dates hold it, Python's datetime arithmetic too (1e9 days overflows).
VALIDITY_DAYS_MAX = 36500


class IdentityError(CollectionError):
    """Stored identity material that cannot be used (named, with what to do)."""


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca_certificate(subject, public_key, issuer, signing_key, now, days, path_length):
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


def new_trust_anchor(now, days):
    """``(cert_pem, key_pem)`` of a new root CA valid ``days`` from ``now``."""
    key = _key()
    cert = _ca_certificate(TRUST_ANCHOR_NAME, key.public_key(), TRUST_ANCHOR_NAME, key, now, days, 1)
    return _pem_cert(cert), _pem_key(key)


def new_issuer(anchor_cert_pem, anchor_key_pem, now, days):
    """``(cert_pem, key_pem)`` of a new issuer CA signed by the trust anchor.

    The issuer never outlives its anchor (Linkerd refuses such a chain).
    """
    anchor = x509.load_pem_x509_certificate(anchor_cert_pem.encode())
    anchor_key = serialization.load_pem_private_key(anchor_key_pem.encode(), password=None)
    end = min(now + datetime.timedelta(days=days), not_after(anchor))
    key = _key()
    cert = _ca_certificate(ISSUER_NAME, key.public_key(), TRUST_ANCHOR_NAME, anchor_key, now,
                           max(0.0, (end - now).total_seconds() / 86400.0), 0)
    return _pem_cert(cert), _pem_key(key)


def not_after(cert):
    """The certificate's end of validity, timezone-aware (UTC)."""
    end = getattr(cert, "not_valid_after_utc", None)
    return end if end is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def key_algorithm_problem(cert_pem):
    """What is wrong with a readable certificate's key for Linkerd (not ECDSA P-256), or None.

    Linkerd's identity service signs with ECDSA P-256 only; an anchor of another kind
    could sign a new issuer here, and Linkerd would refuse the chain.
    """
    try:
        public_key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    except (ValueError, TypeError):
        return None  # unreadable: anchor_problem and issuer_problem say so
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "an ECDSA %s key" % public_key.curve.name
    if isinstance(public_key, rsa.RSAPublicKey):
        return "an RSA %d-bit key" % public_key.key_size
    return "a %s key" % type(public_key).__name__


def anchor_problem(cert_pem, key_pem, now):
    """Why a stored trust anchor cannot be used, or None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        return "unreadable (%s)" % error
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        return "its key does not match its certificate"
    if not_after(cert) <= now:
        return "expired on %s" % not_after(cert).isoformat()
    return None


def _public_bytes(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def issuer_problem(cert_pem, key_pem, anchor_cert_pem, now, renew_before_days):
    """Why a stored issuer must be replaced, or None."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        anchor = x509.load_pem_x509_certificate(anchor_cert_pem.encode())
    except (ValueError, TypeError) as error:
        return "unreadable (%s)" % error
    algorithm = key_algorithm_problem(cert_pem)
    if algorithm:
        return "it has %s, Linkerd needs ECDSA P-256" % algorithm
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        return "its key does not match its certificate"
    if key_algorithm_problem(anchor_cert_pem) or cert.signature_hash_algorithm is None:
        return "not signed by the trust anchor"
    try:
        anchor.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return "not signed by the trust anchor"
    if not_after(cert) <= now:
        return "expired on %s" % not_after(cert).isoformat()
    # An issuer already ending with its anchor cannot be renewed into a longer one: a new
    # issuer would end at the same moment, on every run. Rotating the anchor is the
    # operator's decision (every proxy must trust the new one first).
    ends_with_anchor = not_after(cert) >= not_after(anchor) - datetime.timedelta(minutes=1)
    if not ends_with_anchor and not_after(cert) - datetime.timedelta(days=renew_before_days) <= now:
        return "expires on %s (renewed %d days before)" % (not_after(cert).isoformat(), renew_before_days)
    return None


def _secret_text(secret, key):
    data = (secret or {}).get("data") or {}
    if key not in data:
        return None
    try:
        return base64.b64decode(data[key]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def values_of(secret):
    """The identity values stored in the values Secret, as a dict (empty if none)."""
    import yaml

    text = _secret_text(secret, VALUES_KEY)
    if not text:
        return {}
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return values if isinstance(values, dict) else {}


def chart_values(anchor_cert_pem, issuer_cert_pem, issuer_key_pem):
    """The linkerd-control-plane values for this identity."""
    return {"identityTrustAnchorsPEM": anchor_cert_pem,
            "identity": {"issuer": {"tls": {"crtPEM": issuer_cert_pem, "keyPEM": issuer_key_pem}}}}


def refuse_foreign_anchor(anchor_secret, anchor_cert):
    """IdentityError when the stored trust anchor is readable but not ECDSA P-256.

    It is not replaced silently: every proxy trusts it, so a new one is the operator's
    decision, as is rotating any live anchor.
    """
    algorithm = key_algorithm_problem(anchor_cert)
    if algorithm:
        metadata = anchor_secret.get("metadata") or {}
        raise IdentityError(
            "trust anchor Secret %s/%s holds a certificate with %s; Linkerd's identity needs ECDSA P-256. Store an "
            "ECDSA P-256 trust anchor in it (tls.crt, tls.key; for example step certificate create "
            "root.linkerd.cluster.local ca.crt ca.key --profile root-ca --no-password --insecure), or delete the "
            "Secret to have one made; either way every meshed workload must then be restarted to trust it"
            % (metadata.get("namespace"), metadata.get("name"), algorithm))


def plan(anchor_secret, values_secret, now, anchor_days=3650, issuer_days=365, renew_before_days=30,
         make_anchor=new_trust_anchor, make_issuer=new_issuer):
    """What the two Secrets should hold, and what was made.

    Returns ``dict(anchor=(cert, key), issuer=(cert, key), made=[...], reasons=[...])``;
    ``made`` lists ``trust anchor`` and/or ``issuer``, ``reasons`` says why.
    """
    made, reasons = [], []
    anchor_cert, anchor_key = _secret_text(anchor_secret, "tls.crt"), _secret_text(anchor_secret, "tls.key")
    if anchor_cert is None or anchor_key is None:
        problem = "none stored"
    else:
        refuse_foreign_anchor(anchor_secret, anchor_cert)
        problem = anchor_problem(anchor_cert, anchor_key, now)
    if problem:
        anchor_cert, anchor_key = make_anchor(now, anchor_days)
        made.append("trust anchor")
        reasons.append("trust anchor: %s" % problem)
    stored = values_of(values_secret)
    tls = ((stored.get("identity") or {}).get("issuer") or {}).get("tls") or {}
    issuer_cert, issuer_key = tls.get("crtPEM"), tls.get("keyPEM")
    if not isinstance(issuer_cert, str) or not isinstance(issuer_key, str):
        problem = "none stored"
    else:
        problem = issuer_problem(issuer_cert, issuer_key, anchor_cert, now, renew_before_days)
    if not problem and stored.get("identityTrustAnchorsPEM") != anchor_cert:
        problem = "stored with another trust anchor"
    if problem:
        issuer_cert, issuer_key = make_issuer(anchor_cert, anchor_key, now, issuer_days)
        made.append("issuer")
        reasons.append("issuer: %s" % problem)
    return dict(anchor=(anchor_cert, anchor_key), issuer=(issuer_cert, issuer_key), made=made, reasons=reasons)


def secrets(namespace, anchor_name, values_name, decided, labels=None):
    """The two Secret objects for a :func:`plan`."""
    import yaml

    labels = dict(labels or {}, **{"app.kubernetes.io/managed-by": "gitops.progressive"})
    anchor_cert, anchor_key = decided["anchor"]
    issuer_cert, issuer_key = decided["issuer"]
    values = yaml.safe_dump(chart_values(anchor_cert, issuer_cert, issuer_key), default_flow_style=False)
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
         "metadata": {"name": anchor_name, "namespace": namespace, "labels": labels},
         "stringData": {"tls.crt": anchor_cert, "tls.key": anchor_key}},
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": values_name, "namespace": namespace, "labels": labels},
         "stringData": {VALUES_KEY: values}},
    ]


def summary(decided):
    """What the module may return: certificates (public) and their ends, never keys."""
    anchor = x509.load_pem_x509_certificate(decided["anchor"][0].encode())
    issuer = x509.load_pem_x509_certificate(decided["issuer"][0].encode())
    return dict(trust_anchor_pem=decided["anchor"][0], trust_anchor_not_after=not_after(anchor).isoformat(),
                issuer_not_after=not_after(issuer).isoformat(), made=decided["made"], reasons=decided["reasons"])


def check_options(params):
    """Refuse (InputError) linkerd_identity options before anything is read: every problem, each named."""
    namespace = params["namespace"]
    inputs = Inputs("linkerd_identity Secrets %s/%s and %s" % (
        namespace, params["trust_anchor_secret"], params["values_secret"]))
    inputs.namespace("namespace", namespace)
    names_good = inputs.name("trust_anchor_secret", params["trust_anchor_secret"])
    names_good = inputs.name("values_secret", params["values_secret"]) and names_good
    if names_good and params["trust_anchor_secret"] == params["values_secret"]:
        inputs.add(["trust_anchor_secret and values_secret both name Secret %r: each write would replace the "
                    "other's keys (a new trust anchor on every run); give two names" % params["values_secret"]])
    anchor_good = inputs.number("trust_anchor_validity_days", params["trust_anchor_validity_days"], 1,
                                VALIDITY_DAYS_MAX, "days")
    if inputs.number("issuer_validity_days", params["issuer_validity_days"], 1, VALIDITY_DAYS_MAX, "days"):
        issuer_days = params["issuer_validity_days"]
        if anchor_good and issuer_days > params["trust_anchor_validity_days"]:
            inputs.add(["issuer_validity_days (%d) must be at most trust_anchor_validity_days (%d): an issuer never "
                        "outlives its trust anchor" % (issuer_days, params["trust_anchor_validity_days"])])
        inputs.number("renew_before_days", params["renew_before_days"], 0, issuer_days - 1, "days (less than "
                      "issuer_validity_days, or the issuer would be renewed on every run)")
    else:
        inputs.number("renew_before_days", params["renew_before_days"], 0, VALIDITY_DAYS_MAX, "days")
    inputs.done()


def ensure_identity(connect, params, check_mode=False, now=None):
    """linkerd_identity's result: the two Secrets kept (:func:`plan`), written only when something was made.

    ``params`` are the module's options; ``connect()`` gives the Kube once they are known good.
    Check mode sends the Secrets as a server-side dry run.
    """
    if not HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib

        raise IdentityError(missing_required_lib("cryptography"))
    check_options(params)
    kube = connect()
    namespace = params["namespace"]
    decided = plan(kube.get(SECRET, namespace, params["trust_anchor_secret"]),
                   kube.get(SECRET, namespace, params["values_secret"]),
                   now or datetime.datetime.now(datetime.timezone.utc),
                   params["trust_anchor_validity_days"], params["issuer_validity_days"], params["renew_before_days"])
    if decided["made"]:
        for secret in secrets(namespace, params["trust_anchor_secret"], params["values_secret"], decided):
            kube.apply(SECRET, secret, dry_run=check_mode)
    return dict(changed=bool(decided["made"]), **summary(decided))
