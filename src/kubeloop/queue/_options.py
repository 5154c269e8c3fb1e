"""The one declaration of the work queue's settings.

Role: ``QueueOptions`` is passed whole to whichever queue layer is built; each layer reads the
fields it needs and hands the same object to the layer it wraps, so no setting is copied by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubeloop.clock import Clock, RealClock
from kubeloop.queue._metrics import NOOP_METRICS, MetricsProvider
from kubeloop.queue._ratelimiters import RateLimiter, default_rate_limiter

__all__ = ["QueueOptions"]


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueOptions:
    """Settings of one work queue; every field has a production default.

    - ``name``: the ``name`` label of the queue's metrics (usually the controller's name).
    - ``clock``: time for delays, backoff and the latency metrics; ``FakeClock`` in tests.
    - ``rate_limiter``: makes the queue's own limiter from its clock, so a limiter (which keeps
      per-key state) is never shared by two queues built from the same options.
    - ``metrics``: binds a recorder to ``name``; the default records nothing.
    """

    name: str = ""
    clock: Clock = field(default_factory=RealClock)
    rate_limiter: Callable[[Clock], RateLimiter] = default_rate_limiter
    metrics: MetricsProvider = NOOP_METRICS
