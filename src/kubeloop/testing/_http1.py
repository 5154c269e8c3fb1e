"""Just enough HTTP/1.1 for the fault proxy: read one message head, and relay a body as it arrives
(``Content-Length``, chunked, or up to the end of the connection) without buffering a watch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Head", "read_body", "read_head", "relay_body"]

Write = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class Head:
    """A request or response head: the start line's three parts and the headers (names lower-cased)."""

    raw: bytes
    start: tuple[str, str, str]
    headers: dict[str, str]

    @property
    def status(self) -> int:
        """A response's status code."""
        return int(self.start[1])

    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None

    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


async def read_head(reader: asyncio.StreamReader) -> Head:
    """Read a message head; ``asyncio.IncompleteReadError`` when the peer closed before one."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    start = [*parts, "", "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Head(raw, (start[0], start[1], start[2]), headers)


async def read_body(reader: asyncio.StreamReader, head: Head) -> bytes:
    """A request's whole body, in its wire framing (requests are small; watches are responses)."""
    parts: list[bytes] = []

    async def keep(data: bytes) -> None:
        parts.append(data)

    await relay_body(reader, head, keep, until_eof=False)
    return b"".join(parts)


async def relay_body(
    reader: asyncio.StreamReader, head: Head, write: Write, *, until_eof: bool, limit: int | None = None
) -> bool:
    """Pass the body after ``head`` to ``write`` piece by piece, in its wire framing.

    ``until_eof``: a body with neither length nor chunking runs to the end of the connection (responses).
    ``limit``: stop after about that many bytes and return False (the caller then resets the connection);
    True when the whole body went through.
    """
    sent = 0

    async def out(data: bytes) -> bool:
        nonlocal sent
        if limit is not None and sent + len(data) > limit:
            await write(data[: max(0, limit - sent)])
            return False
        sent += len(data)
        await write(data)
        return True

    if head.chunked():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                trailer = b""
                while True:
                    line = await reader.readuntil(b"\r\n")
                    trailer += line
                    if line == b"\r\n":
                        break
                return await out(size_line + trailer)
            if not await out(size_line + await reader.readexactly(size + 2)):
                return False
    length = head.length()
    if length is not None:
        left = length
        while left:
            data = await reader.read(min(left, 65536))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            if not await out(data):
                return False
        return True
    if until_eof:
        while data := await reader.read(65536):
            if not await out(data):
                return False
    return True
