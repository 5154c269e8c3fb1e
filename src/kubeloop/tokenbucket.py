"""The token bucket: ``qps`` tokens a second, at most ``burst`` saved up, tokens can be owed.

Role: a bottom layer (imports only ``kubeloop.clock``), the one bucket of kubeloop: the API client's
request limiter awaits ``acquire`` (it sleeps), and the work queue uses it as a ``RateLimiter``
(``when``/``forget``/``retries``: it only reports delays, the queue waits).

Guarantees: the bucket starts full. ``reserve`` always takes a token at once, driving the balance
negative when none is left, and returns how long until that token is earned (golang.org/x/time/rate
``Reserve().Delay()``). So reservations are served in call order without a lock: ``n`` calls beyond
the burst get delays ``1/qps, 2/qps, ... n/qps``. Idle time refills at ``qps``, never past ``burst``.

Caveats: not thread-safe (one event loop); a reservation cannot be given back. No limit at all is
no bucket (the client's ``ClientSettings(qps=None)``), not a bucket with a special rate.
"""

from __future__ import annotations

from collections.abc import Hashable

from kubeloop.clock import RealClock, SleepClock

__all__ = ["TokenBucket"]


class TokenBucket:
    """``qps`` tokens a second, at most ``burst`` saved up; each taker gets one, possibly owed.

    The defaults are client-go's overall limit of a controller's queue (10 qps, burst 100).
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: SleepClock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps}, burst={burst}")
        self.qps = qps
        self.burst = burst
        self._clock: SleepClock = clock if clock is not None else RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def reserve(self) -> float:
        """Take one token now and return the seconds until it is earned (0.0 if it was saved up)."""
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._last = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> float:
        """Take one token, sleeping until it is earned; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await self._clock.sleep(wait)
        return wait

    # The queue's RateLimiter: one bucket for all keys, so a key's failures are not counted here.

    def when(self, key: Hashable) -> float:
        """Seconds ``key`` should wait: the delay of a token reserved now."""
        return self.reserve()

    def forget(self, key: Hashable) -> None:
        pass

    def retries(self, key: Hashable) -> int:
        return 0
