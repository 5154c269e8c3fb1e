"""Metrics hooks: what the work queue reports, so the manager can export it without the queue
knowing about Prometheus.

Role: the queue calls a ``QueueMetrics`` recorder on every add, hand-out and completion; the manager
(a higher layer) supplies a ``MetricsProvider`` that binds a recorder to each queue's name and maps
the calls onto controller-runtime's series, all labelled ``name``:

============================  ==========================================
hook                          series
============================  ==========================================
``add()``                     ``workqueue_adds_total`` (counter)
``depth(n)``                  ``workqueue_depth`` (gauge, set to ``n``)
``got(queued_seconds)``       ``workqueue_queue_duration_seconds`` (histogram)
``done(work_seconds)``        ``workqueue_work_duration_seconds`` (histogram)
``retry()``                   ``workqueue_retries_total`` (counter)
============================  ==========================================

Guarantees: hooks are called synchronously from the event loop the queue runs on, never
concurrently; ``depth`` is called after every change of the number of keys waiting to be handed
out (keys waiting on a delay are not counted, as in client-go). Caller duty (for implementers): hooks
must be cheap and must not raise; they run inside ``add``/``get``.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NOOP_METRICS", "MetricsProvider", "NoopMetrics", "QueueMetrics"]


class QueueMetrics(Protocol):
    """The recorder of one named queue."""

    def add(self) -> None:
        """A key was accepted (not a duplicate of one already waiting)."""

    def depth(self, waiting: int) -> None:
        """The number of keys waiting to be handed out is now ``waiting``."""

    def got(self, queued_seconds: float) -> None:
        """A key was handed to a worker after waiting ``queued_seconds`` since it was queued."""

    def done(self, work_seconds: float) -> None:
        """A worker finished a key it held for ``work_seconds``."""

    def retry(self) -> None:
        """A key was re-added through the rate limiter (``add_rate_limited``)."""


class MetricsProvider(Protocol):
    """Makes the recorder of each queue, from its name.

    Caller duty (for implementers): a queue's layers may each ask for a recorder with the same
    name; recorders of one name must feed the same series (``Counter.labels(name)`` does).
    """

    def queue_metrics(self, name: str) -> QueueMetrics:
        """Return the recorder for the queue called ``name`` (an empty name is allowed)."""


class NoopMetrics:
    """The default: a provider whose recorders drop every observation."""

    __slots__ = ()

    def queue_metrics(self, name: str) -> QueueMetrics:
        return self

    def add(self) -> None:
        pass

    def depth(self, waiting: int) -> None:
        pass

    def got(self, queued_seconds: float) -> None:
        pass

    def done(self, work_seconds: float) -> None:
        pass

    def retry(self) -> None:
        pass


NOOP_METRICS = NoopMetrics()
