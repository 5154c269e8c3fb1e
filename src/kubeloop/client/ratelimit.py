"""Client-side flow control: the request budget (``RequestLimiter``: a QPS/burst token bucket per
kind, ``kubeloop.tokenbucket.TokenBucket``, the one bucket class, shared with the work queue) and the
retry policy with backoff.

Both take time from an injected ``kubeloop.clock.SleepClock``, so tests of waits and backoffs run at zero
wall time (``InstantClock``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kubeloop.clock import SleepClock
from kubeloop.gvk import GroupVersionResource
from kubeloop.tokenbucket import TokenBucket

__all__ = ["RequestLimiter", "RetryPolicy", "TokenBucket", "resource_of_path"]

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


def resource_of_path(path: str) -> GroupVersionResource | None:
    """The resource a request path addresses (its subresource and namespace aside); None for a path
    of no resource: discovery, ``/version``, ``/openapi``.

    Read as kube-apiserver reads a path (``RequestInfoFactory``): ``/api/v1/namespaces/a/status`` is
    the Namespace ``a``'s status, ``/api/v1/namespaces/a/pods/b/log`` a Pod's log.
    """
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if rest[0] == "watch" and len(rest) > 1:  # the old /watch/ prefix
        rest = rest[1:]
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        rest = rest[2:]
    return GroupVersionResource(group, version, rest[0])


class RequestLimiter:
    """A client's request budget: ``qps`` requests a second with bursts of ``burst``, for each kind.

    As client-go, where each REST client has a token bucket of its own (``rest.Config.QPS``/``Burst``)
    and controller-runtime's client makes one REST client per GroupVersionKind: every resource
    (``resource_of_path``: a kind's subresources, such as its status, share its budget) and, once more,
    the requests of no resource (discovery) each get ``qps``/``burst``. ``per_kind=False`` puts every
    request under one bucket (client-go's ``rest.Config.RateLimiter``, one limiter shared by the REST
    clients of a config).

    Guarantees: a kind's bucket is made full on its first request and kept for the client's life
    (there are as many as the server has kinds); each bucket serves its requests in call order.
    """

    __slots__ = ("_buckets", "_clock", "burst", "per_kind", "qps")

    def __init__(self, qps: float, burst: int, *, per_kind: bool = True, clock: SleepClock) -> None:
        self.qps = qps
        self.burst = burst
        self.per_kind = per_kind
        self._clock = clock
        # Made now, so that a qps or burst that TokenBucket refuses fails here, not at the first request.
        self._buckets: dict[GroupVersionResource | None, TokenBucket] = {
            None: TokenBucket(qps, burst, clock=clock)
        }

    def bucket(self, path: str) -> TokenBucket:
        """The token bucket a request to ``path`` takes its token from."""
        key = resource_of_path(path) if self.per_kind else None
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = TokenBucket(self.qps, self.burst, clock=self._clock)
        return found

    async def acquire(self, path: str) -> float:
        """Take a token for a request to ``path``, sleeping until it is earned; the seconds waited."""
        return await self.bucket(path).acquire()


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
