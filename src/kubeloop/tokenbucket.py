"""The token bucket: ``qps`` tokens a second, at most ``burst`` saved up, tokens can be owed.

Role: a bottom layer (imports only ``kubeloop.clock``) shared by the API client's request limiter
(``kubeloop.client.ratelimit.TokenBucket``, which sleeps) and the work queue's overall rate limiter
(``kubeloop.queue.TokenBucket``, which only reports delays).

Guarantees: the bucket starts full. ``reserve`` always takes a token at once, driving the balance
negative when none is left, and returns how long until that token is earned (golang.org/x/time/rate
``Reserve().Delay()``). So reservations are served in call order without a lock: ``n`` calls beyond
the burst get delays ``1/qps, 2/qps, ... n/qps``. Idle time refills at ``qps``, never past ``burst``.

Caveats: not thread-safe (one event loop); the caller does the waiting, a reservation cannot be
given back.
"""

from __future__ import annotations

from kubeloop.clock import SleepClock

__all__ = ["TokenBucket"]


class TokenBucket:
    """``qps`` tokens a second, at most ``burst`` saved up; ``reserve`` takes one, possibly owed."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(self, qps: float, burst: int, *, clock: SleepClock) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps}, burst={burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def reserve(self) -> float:
        """Take one token now and return the seconds until it is earned (0.0 if it was saved up)."""
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._last = now
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps
