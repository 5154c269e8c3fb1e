"""The manager's Prometheus metrics: one registry per manager, with controller-runtime's series.

Role: the lower layers report through small hook protocols and know nothing of Prometheus; this
module implements them over a dedicated ``CollectorRegistry`` (never the process-global one, so a
test may build several managers):

- the work queue's ``MetricsProvider`` (``queue_metrics(name)``) → ``workqueue_*``;
- the client's ``MetricsHook`` (``request_done``/``retried``/``rate_limited``) → ``rest_client_*``;
- the leader elector's ``LeaderMetrics`` (``leader_status``) → ``leader_election_master_status``;
- the controller's calls (``controller_started``, ``reconcile_started``, ``reconcile_finished``)
  → ``controller_runtime_*``.

Names, label sets and histogram buckets are those of controller-runtime
(``pkg/internal/controller/metrics``, ``pkg/metrics``) and client-go's ``rest_client_*``, so
existing dashboards and alerts work unchanged. ``workqueue_*`` carry both ``name`` and
``controller`` (set to the same value, as controller-runtime does); ``workqueue_depth`` has no
``priority`` label.

Guarantees: every hook is cheap, synchronous and never raises on valid input. The series updated on
every reconcile (``controller_runtime_*``, ``workqueue_*``) are ``_series``' plain numbers, bound once
per controller and queue: call their hooks from the event loop's thread only. ``render`` gives the
Prometheus text exposition format (or OpenMetrics when the scraper asks for it).

Caveats: ``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``
are not exported: the queue's hooks do not say which key a worker holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from kubeloop.manager._series import SeriesCollector
from kubeloop.queue import QueueMetrics

__all__ = ["Metrics", "ReconcileResult"]

ReconcileResult = Literal["success", "error", "requeue", "requeue_after"]
"""The ``result`` label of ``controller_runtime_reconcile_total``."""

RECONCILE_RESULTS: tuple[ReconcileResult, ...] = ("success", "error", "requeue", "requeue_after")

# controller-runtime's buckets for controller_runtime_reconcile_time_seconds.
RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9),
    *(1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60),
)
# Workqueue latencies: ExponentialBuckets(10e-9, 10, 12), i.e. 10ns … 1000s.
WORKQUEUE_BUCKETS = tuple(10e-9 * 10**i for i in range(12))
# client-go's rest_client latency buckets.
REST_CLIENT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class Metrics:
    """All of one manager's series in one ``registry``; hand it to the queue, client and elector.

    ``process_collectors`` adds ``process_*``/``python_*`` series (as controller-runtime adds the
    process and Go collectors); turn it off where several registries in one process would repeat them.
    """

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process_collectors:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)
        # controller_runtime_* and workqueue_*: updated on every reconcile, so plain numbers (_series)
        series = SeriesCollector(reg)
        self.reconcile_total = series.counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
        )
        self.reconcile_errors = series.counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
        )
        self.terminal_reconcile_errors = series.counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
        )
        self.reconcile_panics = series.counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            ["controller"],
        )
        self.reconcile_time = series.histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            RECONCILE_BUCKETS,
        )
        self.max_concurrent_reconciles = series.gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
        )
        self.active_workers = series.gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
        )
        queue_labels = ["name", "controller"]
        self.workqueue_depth = series.gauge("workqueue_depth", "Current depth of workqueue", queue_labels)
        self.workqueue_adds = series.counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", queue_labels
        )
        self.workqueue_queue_duration = series.histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            queue_labels,
            WORKQUEUE_BUCKETS,
        )
        self.workqueue_work_duration = series.histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            queue_labels,
            WORKQUEUE_BUCKETS,
        )
        self.workqueue_retries = series.counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", queue_labels
        )
        self._controllers: dict[str, _ControllerRecorder] = {}
        # rest_client_*
        self.rest_requests = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            ["code", "method", "host"],
            registry=reg,
        )
        self.rest_request_duration = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb, and host.",
            ["verb", "host"],
            buckets=REST_CLIENT_BUCKETS,
            registry=reg,
        )
        self.rest_rate_limiter_duration = Histogram(
            "rest_client_rate_limiter_duration_seconds",
            "Client side rate limiter latency in seconds. Broken down by verb, and host.",
            ["verb", "host"],
            buckets=REST_CLIENT_BUCKETS,
            registry=reg,
        )
        self.rest_retries = Counter(
            "rest_client_request_retries_total",
            "Number of request retries, partitioned by status code, verb, and host.",
            ["code", "verb", "host"],
            registry=reg,
        )
        # leader_election_*
        self.leader_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
            "1 indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=reg,
        )
        self.leader_lost = Counter(
            "kubeloop_leader_election_lost_total",
            "Times this replica lost the lease it held (its controllers stopped; it campaigns again).",
            ["name"],
            registry=reg,
        )

    # -- exposition ---------------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for (Prometheus text by default), and its
        content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # -- controller ---------------------------------------------------------------------------

    def controller_started(self, controller: str, max_concurrent_reconciles: int) -> None:
        """A controller starts with this many workers: set the gauge and create every series at 0,
        so rates are defined before the first reconcile, and its active workers at 0 (a worker cancelled
        mid-reconcile when the lease was lost never finished its reconcile), as controller-runtime's
        initMetrics does."""
        recorder = self._controller(controller)
        recorder.max_concurrent.value = max_concurrent_reconciles
        recorder.active.value = 0

    def _controller(self, controller: str) -> _ControllerRecorder:
        recorder = self._controllers.get(controller)
        if recorder is None:
            recorder = self._controllers[controller] = _ControllerRecorder(self, controller)
        return recorder

    def reconcile_started(self, controller: str) -> None:
        """A worker of ``controller`` took a key: one more active worker."""
        recorder = self._controllers.get(controller) or self._controller(controller)
        recorder.active.value += 1

    def reconcile_finished(
        self,
        controller: str,
        result: ReconcileResult,
        seconds: float,
        *,
        terminal: bool = False,
        panic: bool = False,
    ) -> None:
        """A reconcile of ``controller`` ended with ``result`` after ``seconds``.

        ``result="error"`` also counts in ``controller_runtime_reconcile_errors_total``, with
        ``terminal=True`` (a ``TerminalError``: not retried) in the terminal errors counter too, and
        with ``panic=True`` (a ``BaseException`` that is not an ``Exception``, retried) in
        ``controller_runtime_reconcile_panics_total`` (controller-runtime's count of recovered panics).
        """
        recorder = self._controllers.get(controller) or self._controller(controller)
        recorder.active.value -= 1
        recorder.results[result].value += 1
        recorder.time.observe(seconds)
        if result == "error":
            recorder.errors.value += 1
            if terminal:
                recorder.terminal.value += 1
            if panic:
                recorder.panics.value += 1

    # -- work queue (kubeloop.queue.MetricsProvider) -------------------------------------------

    def queue_metrics(self, name: str) -> QueueMetrics:
        return _QueueRecorder(self, name)

    # -- API client (kubeloop.client.MetricsHook) ----------------------------------------------

    def request_done(self, *, verb: str, method: str, host: str, code: str, seconds: float) -> None:
        self.rest_requests.labels(code, method, host).inc()
        self.rest_request_duration.labels(verb, host).observe(seconds)

    def retried(self, *, verb: str, host: str, code: str) -> None:
        self.rest_retries.labels(code, verb, host).inc()

    def rate_limited(self, *, verb: str, host: str, seconds: float) -> None:
        self.rest_rate_limiter_duration.labels(verb, host).observe(seconds)

    # -- leader election (kubeloop.manager.LeaderMetrics) --------------------------------------

    def leader_status(self, name: str, leading: bool) -> None:
        self.leader_master_status.labels(name).set(1 if leading else 0)

    def leader_lost_once(self, name: str) -> None:
        """Count one loss of the lease ``name``; ``leader_election_master_status`` shows the regain."""
        self.leader_lost.labels(name).inc()


class _ControllerRecorder:
    """The series of one controller, bound once (every result's created at 0)."""

    __slots__ = ("active", "errors", "max_concurrent", "panics", "results", "terminal", "time")

    def __init__(self, metrics: Metrics, name: str) -> None:
        self.max_concurrent = metrics.max_concurrent_reconciles.labels(name)
        self.active = metrics.active_workers.labels(name)
        self.results = {result: metrics.reconcile_total.labels(name, result) for result in RECONCILE_RESULTS}
        self.errors = metrics.reconcile_errors.labels(name)
        self.terminal = metrics.terminal_reconcile_errors.labels(name)
        self.panics = metrics.reconcile_panics.labels(name)
        self.time = metrics.reconcile_time.labels(name)


class _QueueRecorder:
    """The recorder of one queue: children of the vectors bound once to ``(name, name)``."""

    __slots__ = ("_adds", "_depth", "_queue_duration", "_retries", "_work_duration")

    def __init__(self, metrics: Metrics, name: str) -> None:
        self._depth = metrics.workqueue_depth.labels(name, name)
        self._adds = metrics.workqueue_adds.labels(name, name)
        self._queue_duration = metrics.workqueue_queue_duration.labels(name, name)
        self._work_duration = metrics.workqueue_work_duration.labels(name, name)
        self._retries = metrics.workqueue_retries.labels(name, name)

    def add(self) -> None:
        self._adds.value += 1

    def depth(self, waiting: int) -> None:
        self._depth.value = waiting

    def got(self, queued_seconds: float) -> None:
        self._queue_duration.observe(queued_seconds)

    def done(self, work_seconds: float) -> None:
        self._work_duration.observe(work_seconds)

    def retry(self) -> None:
        self._retries.value += 1


if TYPE_CHECKING:
    from kubeloop.client import MetricsHook
    from kubeloop.manager._leader import LeaderMetrics
    from kubeloop.queue import MetricsProvider

    def _metrics_implements_the_hooks(m: Metrics) -> tuple[MetricsProvider, MetricsHook, LeaderMetrics]:
        return m, m, m
