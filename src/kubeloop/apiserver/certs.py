"""Certificates for the embedded API server: a CA, its serving certificate and an admin client cert.

ECDSA P-256 (a key in about a millisecond). Kept here rather than shared with ``kubeloop.testing``
because the apiserver layer sits below testing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Bundle", "issue_bundle"]

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Bundle:
    """PEM bytes of everything the server and its admin kubeconfig need."""

    ca_cert: bytes
    serving_cert: bytes
    serving_key: bytes
    client_cert: bytes
    client_key: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def issue_bundle(hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Bundle:
    """A fresh CA, a serving certificate for ``hosts`` and an admin (system:masters) client cert."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("kubeloop-apiserver-ca")
    ca = (
        _builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(subject: x509.Name, usage: x509.ObjectIdentifier, sans: tuple[str, ...]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(subject, ca_name, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            names: list[x509.GeneralName] = []
            for host in sans:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    serving_cert, serving_key = leaf(_name(hosts[0]), ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    client_cert, client_key = leaf(
        _name("kubeloop-admin", ("system:masters",)), ExtendedKeyUsageOID.CLIENT_AUTH, ()
    )
    return Bundle(
        ca.public_bytes(serialization.Encoding.PEM), serving_cert, serving_key, client_cert, client_key
    )
