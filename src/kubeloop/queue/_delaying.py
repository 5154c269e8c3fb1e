"""The delaying layer: ``add_after(key, delay)`` queues a key once a delay has passed.

Role: wraps the base ``Queue`` (composition) and adds client-go's ``AddAfter``; the rate-limiting
layer and ``Result(requeue_after=)`` are built on it. Time comes from ``QueueOptions.clock``; one
clock timer is armed for the earliest deadline, so waiting keys cost no task and no polling.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from typing import Final, Generic, TypeVar

from kubeloop.clock import Timer
from kubeloop.queue._base import NORMAL, Queue
from kubeloop.queue._options import QueueOptions

__all__ = ["DelayingQueue"]

K = TypeVar("K", bound=Hashable)


class DelayingQueue(Generic[K]):
    """A base ``Queue`` plus ``add_after``; every base guarantee holds.

    Guarantees:

    - A key added with ``add_after(key, delay)`` is added to the queue (with ``add``'s
      de-duplication) no earlier than ``delay`` seconds later on the clock.
    - Duplicates: while a key waits on a delay, a second ``add_after`` keeps the earlier deadline
      (and the higher priority); it never postpones the key.
    - Order: keys whose deadlines pass together are queued in deadline order, then call order.
    - A delayed key is independent of the same key waiting or held in the base queue, as in
      client-go: ``add(key)`` does not cancel a pending ``add_after(key, ...)``.
    - ``shutdown`` drops every delayed key.

    Caveats: not thread-safe (one event loop). ``len`` does not count delayed keys.
    """

    def __init__(self, options: QueueOptions | None = None) -> None:
        self.options: Final = options if options is not None else QueueOptions()
        self._queue: Queue[K] = Queue(self.options)
        self._clock = self.options.clock
        self._delayed: dict[K, tuple[float, int, int]] = {}  # key -> (deadline, sequence, priority)
        self._heap: list[tuple[float, int, K]] = []  # (deadline, sequence, key); some are stale
        self._seq = 0
        self._timer: Timer | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        """Number of keys ready to be handed out; keys waiting on a delay are not counted."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` was called."""
        return self._queue.shutting_down

    def add(self, key: K, *, priority: int = NORMAL) -> None:
        """Queue ``key`` now; see ``Queue.add``."""
        self._queue.add(key, priority=priority)

    def get(self) -> AbstractAsyncContextManager[K]:
        """Wait for and hold the next key; see ``Queue.get`` (``async with queue.get() as key:``)."""
        return self._queue.get()

    def add_after(self, key: K, delay: float, *, priority: int = NORMAL) -> None:
        """Queue ``key`` with ``priority`` once ``delay`` seconds have passed (now if ``delay <= 0``).

        No-op once the queue is shutting down. Caller duty: call from the queue's event loop.
        """
        if self._queue.shutting_down:
            return
        if delay <= 0:
            self._queue.add(key, priority=priority)
            return
        deadline = self._clock.now() + delay
        entry = self._delayed.get(key)
        if entry is not None:
            old_deadline, old_seq, old_priority = entry
            priority = max(priority, old_priority)
            if old_deadline <= deadline:
                self._delayed[key] = (old_deadline, old_seq, priority)
                return
        self._seq += 1
        self._delayed[key] = (deadline, self._seq, priority)
        heapq.heappush(self._heap, (deadline, self._seq, key))
        self._arm()

    async def shutdown(self, *, drain: bool = False) -> None:
        """Drop delayed keys and shut the base queue down; see ``Queue.shutdown``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._delayed.clear()
        self._heap.clear()
        await self._queue.shutdown(drain=drain)

    def _arm(self) -> None:
        """Make sure a timer is set for the earliest pending deadline."""
        while self._heap:
            deadline, seq, key = self._heap[0]
            entry = self._delayed.get(key)
            if entry is not None and entry[:2] == (deadline, seq):
                break
            heapq.heappop(self._heap)
        else:
            return
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        # The timer was set for ``_timer_at``: it is due even if the loop fired it a hair early.
        due_by = max(self._clock.now(), self._timer_at)
        while self._heap and self._heap[0][0] <= due_by:
            deadline, seq, key = heapq.heappop(self._heap)
            entry = self._delayed.get(key)
            if entry is None or entry[:2] != (deadline, seq):
                continue
            del self._delayed[key]
            self._queue.add(key, priority=entry[2])
        self._arm()
