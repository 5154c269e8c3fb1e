"""Certificates generated for the local control plane."""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeloop.certs import CertificateAuthority


def test_client_certificate_carries_user_in_cn_and_groups_in_o() -> None:
    ca = CertificateAuthority()
    cert = x509.load_pem_x509_certificate(ca.client("alice", ("system:masters", "devs")).cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters", "devs"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage


def test_serving_certificate_is_signed_by_the_ca_and_names_ips_and_hosts() -> None:
    ca = CertificateAuthority()
    pair = ca.serving("127.0.0.1", "localhost")
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]


def test_a_bundle_of_two_cas_of_one_name_verifies_what_either_issued() -> None:
    # A rotation's CA bundle holds the new CA and the old one under the same name. OpenSSL picks the
    # issuer by name and key identifier, not by signature: without the identifiers, a certificate of
    # the CA second in the bundle failed with "certificate signature failure" (the embedded server's
    # webhook calls during the OLM serving certificate's renewal), where Go tries every candidate.
    old, new = CertificateAuthority("rotated"), CertificateAuthority("rotated")
    bundle = ssl.create_default_context(cadata=(new.cert_pem + old.cert_pem).decode())
    for ca in (old, new):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = ca.serving("127.0.0.1").write(Path(directory), "tls")
            server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server.load_cert_chain(cert, key)
        assert _handshake(server, bundle) is None


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLError | None:
    """A TLS handshake in memory between the two contexts: the client's verification error, or None
    once both ends have completed it."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = server.wrap_bio(to_server, to_client, server_side=True)
    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    done: set[ssl.SSLObject] = set()
    while len(done) < 2:
        for end in (c, s):
            try:
                end.do_handshake()
                done.add(end)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                return exc
        sent = c_out.read(), to_client.read()
        to_server.write(sent[0])
        c_in.write(sent[1])
        assert any(sent) or len(done) == 2, "the handshake stalled"
    return None
