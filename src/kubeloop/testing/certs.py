"""Certificates for a local control plane: re-exported from ``kubeloop.certs``, where they live so
that ``kubeloop.webhook`` (below testing) can issue serving certificates too."""

from kubeloop.certs import CertificateAuthority, KeyPair, write_signing_key

__all__ = ["CertificateAuthority", "KeyPair", "write_signing_key"]
