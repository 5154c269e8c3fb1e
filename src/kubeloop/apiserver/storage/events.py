"""What the store hands to its subscribers: committed changes (``Event``) and subscriptions (``Watcher``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "Key", "Obj", "Watcher"]

Obj = dict[str, Any]
Key = tuple[str, str, str]
"""(resource, namespace, name); resource is ``group/plural`` (``/pods`` for the core group)."""


@dataclass(frozen=True)
class Event:
    """One committed change: ``type`` is ADDED, MODIFIED or DELETED; ``obj`` carries ``rv``.

    ``prev`` is the object before the change (None for ADDED); for DELETED ``obj`` is the last state
    with the deletion's resourceVersion.
    """

    type: str
    rv: int
    key: Key
    obj: Obj
    prev: Obj | None = None


class Watcher:
    """A subscription to the changes of one resource (all when None), in one namespace (all when None).

    Iterate for events until ``close()``; events arrive in resourceVersion order, none twice.
    """

    def __init__(
        self, resource: str | None, namespace: str | None, on_close: Callable[[Watcher], None]
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._on_close = on_close

    def wants(self, key: Key) -> bool:
        return (self.resource is None or key[0] == self.resource) and (
            self.namespace is None or key[1] == self.namespace
        )

    def close(self) -> None:
        """Stop receiving events; pending iteration ends."""
        self._on_close(self)
        self.queue.put_nowait(None)

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> Event:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event
