"""Client-side flow control: the QPS/burst limiter (``kubeloop.tokenbucket.TokenBucket``, the one
bucket, shared with the work queue) and the retry policy with backoff.

Both take time from an injected ``kubeloop.clock.SleepClock``, so tests of waits and backoffs run at zero
wall time (``InstantClock``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kubeloop.tokenbucket import TokenBucket

__all__ = ["RETRYABLE_CODES", "RetryPolicy", "TokenBucket"]

RETRYABLE_CODES = frozenset({429, 500, 502, 503, 504})
"""HTTP codes worth another try: throttling (429) and server-side trouble (5xx)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed request again.

    429 is retried for every verb (the server refused before doing anything); 5xx and dropped connections
    only for idempotent requests (reads, replace, apply), since a create or JSON patch may have taken
    effect. A ``Retry-After`` from the server wins over the exponential backoff (capped at
    ``max_retry_after``); backoff doubles from ``base_delay`` up to ``max_delay`` with up to ``jitter``
    (a fraction) added at random so many clients do not retry in step.
    """

    max_retries: int = 5
    base_delay: float = 0.2
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    jitter: float = 0.2

    def should_retry(self, attempt: int, *, code: int | None, idempotent: bool) -> bool:
        """Whether try ``attempt`` (0-based), failed with ``code`` (``None``: no answer), gets another."""
        if attempt >= self.max_retries:
            return False
        if code == 429:
            return True
        if code is None or code in RETRYABLE_CODES:
            return idempotent
        return False

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after try number ``attempt`` (0-based) failed."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2.0**attempt))
        return backoff * (1.0 + self.jitter * random.random())
