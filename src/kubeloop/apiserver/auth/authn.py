"""``Authenticator``: who a request is from, as the real server's authenticators decide it, in order:
a client certificate the TLS layer verified against the server's CA (user from CN, groups from O),
the bearer token written beside the admin kubeconfig (the admin, in ``system:masters``), a
service-account token (``tokens``). A request with none of these is ``system:anonymous``; one whose
bearer token is not valid is refused (401)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web

from kubeloop.apiserver.auth.tokens import TokenIssuer
from kubeloop.apiserver.auth.user import ANONYMOUS, AUTHENTICATED, MASTERS, UserInfo
from kubeloop.apiserver.machinery.errors import StatusError

__all__ = ["ADMIN", "Authenticator", "unauthorized"]

ADMIN = "kubeloop-admin"


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def _certificate_user(peer: dict[str, Any], der: bytes | None) -> UserInfo | None:
    name, groups = "", []
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    extra = {}
    if der:
        extra["authentication.kubernetes.io/credential-id"] = [
            f"X509SHA256={hashlib.sha256(der).hexdigest()}"
        ]
    return UserInfo(name, "", (*groups, AUTHENTICATED), extra)


class Authenticator:
    """Client certificates, the admin token and service-account tokens (see module docstring)."""

    def __init__(self, token: str, tokens: TokenIssuer | None = None) -> None:
        self._token = token
        self._tokens = tokens

    def authenticate(self, request: web.Request) -> UserInfo:
        """The request's user; ``system:anonymous`` without credentials; 401 for a bad bearer token."""
        transport = request.transport
        if transport is not None:
            peer = transport.get_extra_info("peercert")
            if peer:
                ssl_object = transport.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
                user = _certificate_user(peer, der)
                if user is not None:
                    return user
        header = request.headers.get("Authorization", "")
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            if self._token and hmac.compare_digest(token, self._token):
                return UserInfo(ADMIN, "", (MASTERS, AUTHENTICATED))
            user = self._tokens.authenticate(token) if self._tokens is not None else None
            if user is not None:
                return user
        raise unauthorized()
