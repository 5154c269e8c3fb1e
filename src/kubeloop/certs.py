"""Certificates for local control planes and webhook servers: a CA, serving and client
certificates, signing keys.

Role: a bottom-layer helper (only ``cryptography``), shared by ``kubeloop.testing`` (the control
plane's certificates) and ``kubeloop.webhook`` (serving certificates for local runs and tests).

ECDSA P-256 throughout: generating a key takes about a millisecond, where RSA-2048 takes
tens, and every Kubernetes component accepts it. A CA carries a subject key identifier and what it
issues the matching authority key identifier, as Go's ``x509.CreateCertificate`` sets them: OpenSSL
picks an issuer from a bundle by name and key identifier only, so without them a bundle holding two
CAs of the same name (a rotation's old and new) fails a certificate of the second one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "KeyPair", "write_signing_key"]

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` into ``directory``; returns their paths."""
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _backdating(validity: dt.timedelta) -> dt.timedelta:
    """How far back a certificate's validity starts, for clocks a little behind: 5 minutes, or a
    twentieth of a short validity."""
    return min(dt.timedelta(minutes=5), validity / 20)


class CertificateAuthority:
    """A self-signed CA that issues serving and client certificates."""

    def __init__(self, common_name: str = "kubeloop-ca", *, validity: dt.timedelta = _VALIDITY) -> None:
        """``validity``: how long the CA and every certificate it issues are valid (a year by default)."""
        self._validity = validity
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name(common_name)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _backdating(validity))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
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
            .sign(self._key, hashes.SHA256())
        )

    @classmethod
    def load(
        cls, cert_pem: bytes, key_pem: bytes, *, validity: dt.timedelta = _VALIDITY
    ) -> CertificateAuthority:
        """The CA of ``cert_pem`` with its private key ``key_pem`` (as ``cert_pem``/``key_pem`` give them)."""
        ca = cls.__new__(cls)
        ca._validity = validity
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an elliptic-curve key")
        ca._key = key
        ca._cert = x509.load_pem_x509_certificate(cert_pem)
        return ca

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA's private key, PEM-encoded (keep it private: it signs any identity)."""
        return _key_pem(self._key)

    def _issue(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        hosts: tuple[str, ...] = (),
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _backdating(self._validity))
            .not_valid_after(now + self._validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def serving(self, *hosts: str) -> KeyPair:
        """A TLS server certificate valid for the given IP addresses and DNS names."""
        return self._issue(_name(hosts[0] if hosts else "localhost"), ExtendedKeyUsageOID.SERVER_AUTH, hosts)

    def client(self, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        """A client certificate: Kubernetes reads the user from CN and groups from O."""
        return self._issue(_name(user, groups), ExtendedKeyUsageOID.CLIENT_AUTH)


def write_signing_key(directory: Path, stem: str) -> tuple[Path, Path]:
    """Write a service-account signing key pair ``<stem>.key`` / ``<stem>.pub``; returns their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{stem}.key", directory / f"{stem}.pub"
    private.write_bytes(_key_pem(key))
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public
