"""The work queue of the controller runtime: what lies between events and reconcile workers.

Role: controllers add object keys (on every watch event for an object or its children), N workers
take them out and reconcile one key at a time. The Python equivalent of client-go's
``util/workqueue`` with controller-runtime's priorities; imports only ``kubeloop.clock``,
``kubeloop.tokenbucket``, ``kubeloop.errors`` and the standard library.

Layers, each wrapping the one before (composition), all configured by one ``QueueOptions``:

- ``Queue``: de-duplicated, prioritised keys; ``add``, ``async with get() as key``, ``shutdown``.
- ``DelayingQueue``: plus ``add_after(key, delay)`` on the injected clock.
- ``RateLimitingQueue``: plus ``add_rate_limited``, ``forget``, ``num_requeues`` over a
  ``RateLimiter`` (``ItemExponentialBackoff``, ``TokenBucket``, ``MaxOf``).

Guarantees (all layers):

- A key is never held by two workers at once.
- Adding a key that is already waiting is a no-op; a higher priority moves it up.
- A key added while a worker holds it is processed once more after that worker is done.
- Keys come out by priority (``NORMAL`` live events before ``LOW`` initial-list events), then in
  the order they were added.
- ``get`` marks its key done when the ``async with`` block exits, so ``done`` cannot be forgotten.
- After ``shutdown`` no key is handed out: ``get`` raises ``QueueShutDown``; ``drain=True`` waits
  for the keys workers still hold.
- Metrics go to a ``MetricsProvider`` (default: none), with controller-runtime's series in mind.

Typical worker::

    async def worker(queue: RateLimitingQueue[Request]) -> None:
        while True:
            try:
                async with queue.get() as key:
                    await handle(queue, key)
            except QueueShutDown:
                return

Caveats: queues are not thread-safe; use each from one event loop. ``len`` is informational.
"""

from kubeloop.queue._base import LOW, NORMAL, Queue, QueueShutDown
from kubeloop.queue._delaying import DelayingQueue
from kubeloop.queue._metrics import NOOP_METRICS, MetricsProvider, NoopMetrics, QueueMetrics
from kubeloop.queue._options import QueueOptions
from kubeloop.queue._ratelimiters import (
    ItemExponentialBackoff,
    MaxOf,
    RateLimiter,
    TokenBucket,
    default_rate_limiter,
)
from kubeloop.queue._ratelimiting import RateLimitingQueue

__all__ = [
    "LOW",
    "NOOP_METRICS",
    "NORMAL",
    "DelayingQueue",
    "ItemExponentialBackoff",
    "MaxOf",
    "MetricsProvider",
    "NoopMetrics",
    "Queue",
    "QueueMetrics",
    "QueueOptions",
    "QueueShutDown",
    "RateLimiter",
    "RateLimitingQueue",
    "TokenBucket",
    "default_rate_limiter",
]
