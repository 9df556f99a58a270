# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kwok cluster's keys and certificates, made before kwokctl starts anything.

kwokctl v0.8.0 generates one CA and one certificate (``admin``) when the cluster's
``pki`` directory does not exist, and uses that one certificate for everything: the
admin client, kube-apiserver's and kwok's serving certificate. etcd gets none; it
answers plain HTTP to anyone on the machine. The provider writes this set into the
``pki`` directory first (so kwokctl keeps it) and points the components at it through
the cluster's ``componentsPatches``:

- ``ca.crt``/``ca.key``: the cluster CA (what kwokctl's kubeconfigs trust and
  kube-apiserver's ``--client-ca-file``);
- ``admin.crt``/``admin.key``: the admin client (``kwok-admin`` in ``system:masters``,
  client use only) kwokctl writes into the kubeconfigs; the key also signs service
  account tokens, as kwokctl has it;
- ``kube-apiserver.crt``/``.key`` and ``kwok-controller.crt``/``.key``: serving
  certificates of their own, for 127.0.0.1 and localhost (and the ``kubernetes``
  Service's names for kube-apiserver);
- ``etcd/ca.crt``/``etcd/ca.key``: a CA for etcd alone, so that no certificate of the
  Kubernetes CA (the admin's included) is an etcd client;
- ``etcd/server.crt``/``.key``: etcd's serving (client and peer) certificate;
- ``apiserver-etcd-client.crt``/``.key``: kube-apiserver's client certificate to etcd,
  the only etcd client there is.

Every file is mode 0600 in 0700 directories. Keys are ECDSA P-256 in SEC1 form
(``EC PRIVATE KEY``): kube-apiserver reads the service account key from ``admin.key``
and takes no PKCS#8 there.
"""

from __future__ import annotations

import datetime
import ipaddress
import os

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the provider
    HAS_CRYPTOGRAPHY = False

VALIDITY_DAYS = 3650
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# The names in-cluster clients use for kube-apiserver (the `kubernetes` Service), and its
# address: the first of kube-apiserver's default service range 10.0.0.0/24, which kwokctl
# keeps. A real node's pods dial it (KUBERNETES_SERVICE_HOST).
KUBERNETES_SERVICE_IP = "10.0.0.1"
APISERVER_NAMES = LOOPBACK_NAMES + ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                    "kubernetes.default.svc.cluster.local", KUBERNETES_SERVICE_IP)

# Paths relative to the pki directory, by role.
CA_CERT, CA_KEY = "ca.crt", "ca.key"
ADMIN_CERT, ADMIN_KEY = "admin.crt", "admin.key"
APISERVER_CERT, APISERVER_KEY = "kube-apiserver.crt", "kube-apiserver.key"
KWOK_CERT, KWOK_KEY = "kwok-controller.crt", "kwok-controller.key"
ETCD_CA_CERT, ETCD_CA_KEY = "etcd/ca.crt", "etcd/ca.key"
ETCD_SERVER_CERT, ETCD_SERVER_KEY = "etcd/server.crt", "etcd/server.key"
ETCD_CLIENT_CERT, ETCD_CLIENT_KEY = "apiserver-etcd-client.crt", "apiserver-etcd-client.key"

FILES = (CA_CERT, CA_KEY, ADMIN_CERT, ADMIN_KEY, APISERVER_CERT, APISERVER_KEY, KWOK_CERT, KWOK_KEY,
         ETCD_CA_CERT, ETCD_CA_KEY, ETCD_SERVER_CERT, ETCD_SERVER_KEY, ETCD_CLIENT_CERT, ETCD_CLIENT_KEY)


def _name(common_name, organization=None):
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _alt_names(names):
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _sign(subject, key, issuer, issuer_key, now, days, ca=False, usages=(), names=()):
    public_key = key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.subject if issuer is not None else subject)
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if names:
        builder = builder.add_extension(_alt_names(names), critical=False)
    return builder.sign(issuer_key if issuer is not None else key, hashes.SHA256())


def generate(cluster, now=None, days=VALIDITY_DAYS):
    """The whole set as ``{relative path: PEM bytes}`` for the cluster named ``cluster``."""
    if not HAS_CRYPTOGRAPHY:
        raise ImportError("the kwok provider needs the Python package cryptography to make the cluster's certificates")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    files = {}

    def issue(cert_path, key_path, subject, issuer=None, issuer_key=None, **options):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _sign(subject, key, issuer, issuer_key, now, days, **options)
        files[cert_path], files[key_path] = _pem_cert(cert), _pem_key(key)
        return cert, key

    ca, ca_key = issue(CA_CERT, CA_KEY, _name("kwok-%s-ca" % cluster), ca=True)
    issue(ADMIN_CERT, ADMIN_KEY, _name("kwok-admin", "system:masters"), ca, ca_key, usages=(client,))
    issue(APISERVER_CERT, APISERVER_KEY, _name("kube-apiserver"), ca, ca_key, usages=(server,),
          names=APISERVER_NAMES)
    issue(KWOK_CERT, KWOK_KEY, _name("kwok-controller"), ca, ca_key, usages=(server,), names=LOOPBACK_NAMES)
    etcd_ca, etcd_ca_key = issue(ETCD_CA_CERT, ETCD_CA_KEY, _name("kwok-%s-etcd-ca" % cluster), ca=True)
    # Client use too: the same certificate serves etcd's peer listener, where a member is also a client.
    issue(ETCD_SERVER_CERT, ETCD_SERVER_KEY, _name("etcd"), etcd_ca, etcd_ca_key, usages=(server, client),
          names=LOOPBACK_NAMES)
    issue(ETCD_CLIENT_CERT, ETCD_CLIENT_KEY, _name("kube-apiserver-etcd-client"), etcd_ca, etcd_ca_key,
          usages=(client,))
    return files


def write(directory, files):
    """Write ``files`` under ``directory``: directories 0700, files 0600, whatever the umask."""
    for relative, data in sorted(files.items()):
        path = os.path.join(directory, relative)
        for folder in (directory, os.path.dirname(path)):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)


def issue_client(directory, common_name, organization=None, now=None, days=VALIDITY_DAYS):
    """``(certificate PEM, key PEM)`` of a client of the cluster whose pki is in ``directory``,
    signed by its CA: a real node's kubelet (``system:node:<name>`` in ``system:nodes``, what the
    Node authorizer and NodeRestriction expect) or kube-proxy (``system:kube-proxy``)."""
    if not HAS_CRYPTOGRAPHY:
        raise ImportError("a real node needs the Python package cryptography to make its certificates")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with open(os.path.join(directory, CA_CERT), "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(directory, CA_KEY), "rb") as handle:
        ca_key = load_pem_private_key(handle.read(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert = _sign(_name(common_name, organization), key, ca, ca_key, now, days,
                 usages=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    return _pem_cert(cert), _pem_key(key)
