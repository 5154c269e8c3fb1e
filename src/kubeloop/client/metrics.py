"""Metrics hooks of the client, named after client-go's ``rest_client_*`` Prometheus metrics.

The client calls a ``MetricsHook`` after every request, retry and rate-limiter wait; the manager layer
plugs in a Prometheus adapter (``rest_client_requests_total{code,host,method}``,
``rest_client_request_duration_seconds{verb,host}``, ``rest_client_rate_limiter_duration_seconds``,
``rest_client_request_retries_total{code,host,verb}``). ``RecordingMetrics`` keeps counts in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["MetricsHook", "NoMetrics", "RecordingMetrics"]


class MetricsHook(Protocol):
    """Receives one call per event; must be cheap and must not raise."""

    def request_done(self, *, verb: str, method: str, host: str, code: str, seconds: float) -> None:
        """A request finished: ``verb`` is the Kubernetes verb (get, list, watch, create, patch…),
        ``method`` the HTTP method, ``code`` the HTTP status or ``"<error>"`` when nothing came back."""
        ...

    def retried(self, *, verb: str, host: str, code: str) -> None:
        """A request is about to be tried again after failing with ``code``."""
        ...

    def rate_limited(self, *, verb: str, host: str, seconds: float) -> None:
        """The client-side rate limiter held a request back for ``seconds`` (0 when it did not)."""
        ...


class NoMetrics:
    """The default hook: records nothing."""

    def request_done(self, *, verb: str, method: str, host: str, code: str, seconds: float) -> None:
        pass

    def retried(self, *, verb: str, host: str, code: str) -> None:
        pass

    def rate_limited(self, *, verb: str, host: str, seconds: float) -> None:
        pass


@dataclass
class RecordingMetrics:
    """Counts in memory, keyed like the Prometheus labels; handy for tests and quick measurements."""

    requests_total: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(code, host, method) → count, as ``rest_client_requests_total``."""
    request_seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(verb, host) → durations, as ``rest_client_request_duration_seconds``."""
    retries_total: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(code, host, verb) → count, as ``rest_client_request_retries_total``."""
    rate_limiter_seconds: list[float] = field(default_factory=list)

    def request_done(self, *, verb: str, method: str, host: str, code: str, seconds: float) -> None:
        self.requests_total[(code, host, method)] += 1
        self.request_seconds.setdefault((verb, host), []).append(seconds)

    def retried(self, *, verb: str, host: str, code: str) -> None:
        self.retries_total[(code, host, verb)] += 1

    def rate_limited(self, *, verb: str, host: str, seconds: float) -> None:
        self.rate_limiter_seconds.append(seconds)
