"""``Authenticator``: a request is authenticated by a client certificate the server's TLS layer
verified against its CA, or by the bearer token written to the kubeconfig; the probes need neither."""

from __future__ import annotations

from aiohttp import web

__all__ = ["PUBLIC_PATHS", "Authenticator"]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/livez"})


class Authenticator:
    """Client certificates and one bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def authenticated(self, request: web.Request) -> bool:
        transport = request.transport
        if transport is not None and transport.get_extra_info("peercert"):
            return True
        if self._token and request.headers.get("Authorization", "") == f"Bearer {self._token}":
            return True
        return request.path in PUBLIC_PATHS
