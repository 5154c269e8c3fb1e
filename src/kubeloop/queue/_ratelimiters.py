"""Rate limiters: how long a key waits before it is retried.

Role: strategies for ``RateLimitingQueue.add_rate_limited`` (the equivalent of client-go's
``default_rate_limiters.go``). A limiter only computes delays; the queue does the waiting.

- ``ItemExponentialBackoff``: per key, ``base * 2**failures`` capped at ``cap`` (5 ms, 10 ms,
  20 ms, ... 1000 s by default); ``forget`` starts the key over.
- ``TokenBucket`` (``kubeloop.tokenbucket``'s, the one bucket): one for all keys, ``qps`` tokens a
  second up to ``burst``; every ``when`` takes a token, and the delay is how long until that token
  exists (golang.org/x/time/rate ``Reserve().Delay()``).
- ``MaxOf``: the longest delay of several limiters; the default is
  ``MaxOf(ItemExponentialBackoff(), TokenBucket())``, client-go's ``DefaultControllerRateLimiter``.

Caveats: limiters are not thread-safe (one event loop); ``when`` is not idempotent, every call
counts as one more failure and takes one token.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kubeloop.clock import Clock
from kubeloop.tokenbucket import TokenBucket

__all__ = ["ItemExponentialBackoff", "MaxOf", "RateLimiter", "TokenBucket", "default_rate_limiter"]

# 2.0 ** 1024 overflows a float; any exponent this large is past every sensible cap anyway.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol):
    """Decides how long a key waits before its next try."""

    def when(self, key: Hashable) -> float:
        """Seconds ``key`` should wait now; records one more failure of ``key``."""

    def forget(self, key: Hashable) -> None:
        """Stop tracking ``key`` (it succeeded): its next ``when`` starts over."""

    def retries(self, key: Hashable) -> int:
        """How many failures of ``key`` are recorded since it was last forgotten."""


class ItemExponentialBackoff:
    """Per-key exponential backoff: the n-th ``when`` (from 0) is ``min(base * 2**n, cap)``."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return min(self.cap, self.base * 2.0 ** min(failures, _MAX_EXPONENT))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def retries(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class MaxOf:
    """Combines limiters: the longest delay wins, ``forget`` reaches all, ``retries`` is the most."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        # Every limiter must see the failure (and the bucket give up its token), whatever wins.
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def retries(self, key: Hashable) -> int:
        return max(limiter.retries(key) for limiter in self.limiters)


def default_rate_limiter(clock: Clock) -> RateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: backoff 5 ms to 1000 s, overall 10 qps, burst 100."""
    return MaxOf(ItemExponentialBackoff(0.005, 1000.0), TokenBucket(10.0, 100, clock=clock))
