"""The response of one request as the layers above the transport see it, whichever HTTP version carried it.

``Transport`` sends plain requests over aiohttp (HTTP/1.1) and watches over HTTP/2 when the server offers
it; both hand back a ``Response``, so the watch decoder and the request path do not care which.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp

from kubeloop.client.errors import TransportError

__all__ = ["Http1Response", "Response"]


class Response(Protocol):
    """Status, headers and body of a response whose status line has arrived."""

    status: int

    def header(self, name: str) -> str | None:
        """The value of a response header, or None."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises ``TransportError`` if the connection breaks first."""
        ...

    async def read(self) -> bytes:
        """The whole body."""
        ...

    def at_eof(self) -> bool:
        """Whether the whole body was read."""
        ...

    def release(self) -> None:
        """Done after reading everything: the connection may serve another request."""
        ...

    def close(self) -> None:
        """Done before the end: drop the rest (and the connection, over HTTP/1.1)."""
        ...


class Http1Response:
    """An aiohttp response seen as a ``Response``."""

    __slots__ = ("_resp", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status

    def header(self, name: str) -> str | None:
        return self._resp.headers.get(name)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as e:
            raise TransportError(f"the connection broke mid-response ({e!r})") from e

    async def read(self) -> bytes:
        return await self._resp.read()

    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    def release(self) -> None:
        self._resp.release()

    def close(self) -> None:
        self._resp.close()
