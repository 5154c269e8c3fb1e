"""The rate-limiting layer: failed keys come back after a backoff from a ``RateLimiter``.

Role: the queue a controller uses. It wraps ``DelayingQueue`` (composition) and adds client-go's
``AddRateLimited`` / ``Forget`` / ``NumRequeues``. The controller maps a reconcile outcome onto it:
success → ``forget``; error → ``add_rate_limited``; ``Result(requeue_after=d)`` → ``forget`` then
``add_after(key, d)``.
"""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from typing import Final, Generic, TypeVar

from kubeloop.queue._base import NORMAL
from kubeloop.queue._delaying import DelayingQueue
from kubeloop.queue._options import QueueOptions

__all__ = ["RateLimitingQueue"]

K = TypeVar("K", bound=Hashable)


class RateLimitingQueue(Generic[K]):
    """A ``DelayingQueue`` plus per-key retry backoff; every guarantee of the layers below holds.

    Guarantees: ``add_rate_limited(key)`` is ``add_after(key, limiter.when(key))``, so a key that
    keeps failing waits 5 ms, 10 ms, 20 ms, ... up to 1000 s with the default limiter, and all keys
    together are retried at no more than 10 a second beyond a burst of 100. The limiter is built
    from ``QueueOptions.rate_limiter`` for this queue alone.

    Caller duty: call ``forget(key)`` once a key succeeds (or gives up), otherwise its next failure
    keeps backing off from where it left; ``forget`` does not remove the key from the queue.
    """

    def __init__(self, options: QueueOptions | None = None) -> None:
        self.options: Final = options if options is not None else QueueOptions()
        self._queue: DelayingQueue[K] = DelayingQueue(self.options)
        self._limiter = self.options.rate_limiter(self.options.clock)
        self._metrics = self.options.metrics.queue_metrics(self.options.name)

    def __len__(self) -> int:
        """Number of keys ready to be handed out; see ``DelayingQueue.__len__``."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown`` was called."""
        return self._queue.shutting_down

    def add(self, key: K, *, priority: int = NORMAL) -> None:
        """Queue ``key`` now; see ``Queue.add``."""
        self._queue.add(key, priority=priority)

    def add_after(self, key: K, delay: float, *, priority: int = NORMAL) -> None:
        """Queue ``key`` after ``delay`` seconds; see ``DelayingQueue.add_after``."""
        self._queue.add_after(key, delay, priority=priority)

    def get(self) -> AbstractAsyncContextManager[K]:
        """Wait for and hold the next key; see ``Queue.get`` (``async with queue.get() as key:``)."""
        return self._queue.get()

    def add_rate_limited(self, key: K, *, priority: int = NORMAL) -> None:
        """Queue ``key`` again once the rate limiter allows; counts one retry of ``key``.

        No-op (and no retry counted) once the queue is shutting down.
        """
        if self._queue.shutting_down:
            return
        self._metrics.retry()
        self._queue.add_after(key, self._limiter.when(key), priority=priority)

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff: its next ``add_rate_limited`` waits the shortest delay again."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many times ``key`` was rate-limited since it was last forgotten."""
        return self._limiter.retries(key)

    async def shutdown(self, *, drain: bool = False) -> None:
        """Stop handing out keys and drop delayed ones; see ``Queue.shutdown``."""
        await self._queue.shutdown(drain=drain)
