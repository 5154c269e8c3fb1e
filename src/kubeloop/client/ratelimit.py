"""Client-side flow control: the QPS/burst limiter (``kubeloop.tokenbucket.TokenBucket``, the one
bucket, shared with the work queue) and the retry policy with backoff.

Both take time from an injected ``kubeloop.clock.SleepClock``, so tests of waits and backoffs run at zero
wall time (``InstantClock``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kubeloop.tokenbucket import TokenBucket

__all__ = ["RetryPolicy", "TokenBucket"]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed request again, inside the request.

    As client-go: only what the server or the network says is momentary. 429, and a 5xx that carries
    ``Retry-After`` (the server asks to come back), for every verb; a connection that failed or was
    reset without an answer, for idempotent requests (reads, replace, apply) or when nothing was sent.
    Not a 5xx without ``Retry-After`` nor a request that timed out: those fail at once, so that a
    reconcile fails fast and its retry is the work queue's per-key backoff instead of a worker waiting
    here while other keys queue behind it (an informer or leader election backs off by itself too).
    A ``Retry-After`` wins over the exponential backoff (capped at ``max_retry_after``); backoff doubles
    from ``base_delay`` up to ``max_delay`` with up to ``jitter`` (a fraction) added at random so many
    clients do not retry in step.
    """

    max_retries: int = 5
    base_delay: float = 0.2
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    jitter: float = 0.2

    def should_retry(
        self,
        attempt: int,
        *,
        code: int | None,
        idempotent: bool,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> bool:
        """Whether try ``attempt`` (0-based) gets another: it failed with ``code`` (``None``: no answer;
        ``timed_out``: because the request's timeout passed), the server asking for ``retry_after`` s."""
        if attempt >= self.max_retries:
            return False
        if code is None:
            return idempotent and not timed_out
        return code == 429 or (code >= 500 and retry_after is not None)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after try number ``attempt`` (0-based) failed."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2.0**attempt))
        return backoff * (1.0 + self.jitter * random.random())
