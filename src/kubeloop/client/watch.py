"""Watch streams: one HTTP watch request decoded into ``WatchEvent``s as the server sends them.

Bookmarks are requested by default and passed on as ``BOOKMARK`` events (they carry only a
``resourceVersion``, which a cache stores to resume from). An ``ERROR`` event becomes the typed error it
describes, most importantly ``GoneError`` when the ``resourceVersion`` is too old: the caller must relist.
When the server ends the watch (``timeoutSeconds``) the iterator simply ends; resuming is the caller's
job (see the reflector in ``kubeloop.cache``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, cast

import orjson
from typing_extensions import TypeVar

from kubeloop.client.errors import TransportError, error_from_status
from kubeloop.client.transport import JSON, Transport

__all__ = ["EventType", "ModelEvent", "WatchEvent", "stream_events"]

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
K = TypeVar("K", default=dict[str, Any])


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[K]):
    """One change: ``type`` and the object as the server sent it (for ``BOOKMARK`` only metadata);
    ``WatchEvent[apps_v1.Deployment]`` from a watch of a typed kind, ``WatchEvent[Model]`` of a model."""

    type: EventType
    object: K

    @property
    def resource_version(self) -> str:
        """The object's ``metadata.resourceVersion``: where to resume a watch after this event."""
        return str(self._metadata().get("resourceVersion") or "")

    @property
    def initial_events_end(self) -> bool:
        """Whether this is the bookmark that ends the initial events of a ``send_initial_events`` watch."""
        annotations = self._metadata().get("annotations") or {}
        return self.type == "BOOKMARK" and annotations.get("k8s.io/initial-events-end") == "true"

    def _metadata(self) -> Mapping[str, Any]:
        return cast(Mapping[str, Any], self.object).get("metadata") or {}


@dataclass(frozen=True, slots=True)
class ModelEvent(WatchEvent[K]):
    """An event whose ``object`` is a model parsed from ``wire``, the object as the server sent it."""

    wire: Mapping[str, Any]

    def _metadata(self) -> Mapping[str, Any]:
        return self.wire.get("metadata") or {}


async def stream_events(
    transport: Transport, path: str, params: Mapping[str, str], *, accept: str = JSON
) -> AsyncGenerator[WatchEvent]:
    """Run one watch request and yield its events until the server ends it.

    Raises the typed ``ApiError`` of an ``ERROR`` event (``GoneError`` for 410) and ``TransportError``
    when the connection breaks mid-stream.
    """
    async with transport.stream(path, params=params, accept=accept) as resp:
        pending: list[bytes] = []  # pieces of a line split across chunks (objects can be megabytes)
        try:
            async for chunk in resp.chunks():
                start = 0
                while (end := chunk.find(b"\n", start)) >= 0:
                    line = chunk[start:end]
                    if pending:
                        pending.append(line)
                        line = b"".join(pending)
                        pending.clear()
                    if line.strip():
                        yield _event(line)
                    start = end + 1
                if start < len(chunk):
                    pending.append(chunk[start:])
            rest = b"".join(pending)
            if rest.strip():
                yield _event(rest)
        except TransportError as e:  # a broken stream or an undecodable event: name the watch
            raise TransportError(f"watch {path}: {e}") from e


def _event(line: bytes) -> WatchEvent:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise TransportError(f"undecodable event ({e}): {line[:120]!r}") from e
    kind = doc.get("type")
    obj = doc.get("object") or {}
    if kind == "ERROR":
        raise error_from_status(obj, http_code=int(obj.get("code") or 500))
    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
        raise TransportError(f"unknown event type {kind!r}")
    return WatchEvent(kind, obj)
