"""The base work queue: de-duplicated, prioritised keys, never the same key in two workers.

Role: the bottom of the queue layers (base → ``DelayingQueue`` → ``RateLimitingQueue``), the
equivalent of client-go's ``workqueue.Type`` with controller-runtime's priorities. Controllers put
object keys in; N workers take them out with ``async with queue.get() as key:``.

The semantics live in the data, as in client-go: ``_waiting`` (keys ready to hand out),
``_processing`` (keys a worker holds) and ``_rerun`` (keys added while held: client-go's "dirty").
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Final, Generic, TypeVar

from kubeloop.errors import KubeloopError
from kubeloop.queue._options import QueueOptions

__all__ = ["LOW", "NORMAL", "Queue", "QueueShutDown"]

K = TypeVar("K", bound=Hashable)

NORMAL: Final = 0
"""Priority of live events and of every add that does not say otherwise."""
LOW: Final = -100
"""Priority of events from an informer's initial list (controller-runtime's ``LowPriority``)."""


class QueueShutDown(KubeloopError):
    """Raised by ``get()`` once the queue is shut down: the worker should return."""


class Queue(Generic[K]):
    """A work queue of hashable keys.

    Guarantees:

    - Exclusion: a key is held by at most one worker at a time.
    - De-duplication: adding a key that is already waiting is a no-op (except that a higher
      priority moves it up); ``len`` counts each waiting key once.
    - Re-run: a key added while a worker holds it is not handed out then; it is queued once more
      when that worker is done, however many times it was added meanwhile.
    - Order: higher priority first; within a priority, first added first out.
    - Shutdown: ``shutdown()`` stops handing out keys at once (waiting keys are dropped, later adds
      ignored, workers blocked in ``get`` raise ``QueueShutDown``); workers that hold a key finish
      it, and ``shutdown(drain=True)`` waits until they have.

    Caveats: not thread-safe; use it from one event loop. ``len`` is informational, for metrics and
    tests, never for deciding whether to ``get``.
    """

    def __init__(self, options: QueueOptions | None = None) -> None:
        self.options: Final = options if options is not None else QueueOptions()
        self._clock = self.options.clock
        self._metrics = self.options.metrics.queue_metrics(self.options.name)
        # key -> (priority, sequence) of its one valid entry in ``_heap``; other entries are stale.
        self._waiting: dict[K, tuple[int, int]] = {}
        self._heap: list[tuple[int, int, K]] = []  # (-priority, sequence, key)
        self._seq = 0
        self._queued_at: dict[K, float] = {}
        self._processing: dict[K, float] = {}  # key -> when a worker got it
        self._rerun: dict[K, int] = {}  # key added while processing -> its priority
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drained: list[asyncio.Future[None]] = []
        self._shutting_down = False

    def __len__(self) -> int:
        """Number of keys waiting to be handed out (not those held by workers nor delayed)."""
        return len(self._waiting)

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` was called."""
        return self._shutting_down

    def add(self, key: K, *, priority: int = NORMAL) -> None:
        """Queue ``key`` for processing with ``priority`` (higher first); see the class guarantees.

        No-op once the queue is shutting down.
        """
        if self._shutting_down:
            return
        entry = self._waiting.get(key)
        if entry is not None:
            if priority > entry[0]:
                # Move up, keeping the original sequence: it still goes before keys added later.
                self._waiting[key] = (priority, entry[1])
                heapq.heappush(self._heap, (-priority, entry[1], key))
            return
        if key in self._processing:
            previous = self._rerun.get(key)
            if previous is None:
                self._metrics.add()
                self._rerun[key] = priority
            elif priority > previous:
                self._rerun[key] = priority
            return
        self._metrics.add()
        self._push(key, priority)

    def get(self) -> AbstractAsyncContextManager[K]:
        """Wait for the next key and hold it for the body of an ``async with`` block.

        ``async with queue.get() as key:`` hands out the key and marks it done when the block
        exits, however it exits. Raises ``QueueShutDown`` on entry once the queue is shutting
        down. Caller duty: process the key inside the block only, and enter the block right away:
        a ``get()`` that is never entered takes no key.
        """
        return _Claim(self)

    async def shutdown(self, *, drain: bool = False) -> None:
        """Stop handing out keys; with ``drain=True`` also wait until every held key is done.

        Idempotent. Waiting keys are dropped, keys added while held are not re-run. To bound the
        drain, wrap the call in ``asyncio.timeout``.
        """
        if not self._shutting_down:
            self._shutting_down = True
            self._waiting.clear()
            self._heap.clear()
            self._queued_at.clear()
            self._rerun.clear()
            self._metrics.depth(0)
            while self._getters:
                getter = self._getters.popleft()
                if not getter.done():
                    getter.set_result(None)
        if drain and self._processing:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drained.append(future)
            await future

    def _push(self, key: K, priority: int) -> None:
        self._seq += 1
        self._waiting[key] = (priority, self._seq)
        heapq.heappush(self._heap, (-priority, self._seq, key))
        self._queued_at[key] = self._clock.now()
        self._metrics.depth(len(self._waiting))
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    async def _take(self) -> K:
        while not self._waiting:
            if self._shutting_down:
                raise QueueShutDown("the work queue is shut down")
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                try:
                    self._getters.remove(getter)
                except ValueError:
                    # Already woken: pass the wake-up on so the key is not left waiting.
                    if self._waiting:
                        self._wake_one()
                raise
        return self._pop()

    def _pop(self) -> K:
        while True:
            negative_priority, seq, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == (-negative_priority, seq):
                break
        del self._waiting[key]
        now = self._clock.now()
        self._processing[key] = now
        self._metrics.depth(len(self._waiting))
        self._metrics.got(now - self._queued_at.pop(key, now))
        return key

    def _done(self, key: K) -> None:
        started = self._processing.pop(key)
        self._metrics.done(self._clock.now() - started)
        priority = self._rerun.pop(key, None)
        if priority is not None:
            self._push(key, priority)
        if not self._processing:
            while self._drained:
                future = self._drained.pop()
                if not future.done():
                    future.set_result(None)


class _Claim(AbstractAsyncContextManager[K]):
    """One ``get()``: takes a key on entry, marks it done on exit."""

    __slots__ = ("_key", "_queue")

    def __init__(self, queue: Queue[K]) -> None:
        self._queue = queue

    async def __aenter__(self) -> K:
        self._key = await self._queue._take()
        return self._key

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._queue._done(self._key)
