"""The watch history: a bounded ring of committed events, to resume watches and read past states.

``since(rv)`` replays what happened after ``rv``; ``rewind(state, rv)`` turns the current objects of a
resource back into what they were at ``rv``. Both raise 410 Expired when ``rv`` is older than the
oldest event kept (``compacted``), as the real server does once etcd compacted that revision.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

from kubeloop.apiserver.machinery.errors import gone
from kubeloop.apiserver.storage.events import Event, Key, Obj

__all__ = ["History"]


class History:
    """The last ``size`` events, and the oldest resourceVersion they can answer for."""

    def __init__(self, size: int, compacted: int = 0) -> None:
        self._events: collections.deque[Event] = collections.deque(maxlen=size)
        self.compacted = compacted
        """The oldest resourceVersion that can still be watched from or read exactly."""

    def append(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self.compacted = self._events[0].rv
        self._events.append(event)

    def clear(self, rv: int) -> None:
        """Forget every event: versions older than ``rv`` can no longer be watched from or read."""
        self._events.clear()
        self.compacted = rv

    def check(self, rv: int) -> None:
        """410 Expired when ``rv`` is older than the history kept."""
        if rv < self.compacted:
            raise gone(f"too old resource version: {rv} ({self.compacted})")

    def since(self, rv: int, wants: Callable[[Key], bool]) -> Iterator[Event]:
        """The events after ``rv`` whose key ``wants`` accepts, oldest first."""
        self.check(rv)
        return (e for e in self._events if e.rv > rv and wants(e.key))

    def rewind(self, state: dict[Key, Obj], rv: int, wants: Callable[[Key], bool]) -> dict[Key, Obj]:
        """``state`` (current objects, modified in place) as it was at ``rv``."""
        self.check(rv)
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            if not wants(event.key):
                continue
            if event.prev is None:
                state.pop(event.key, None)
            else:
                state[event.key] = event.prev
        return state
