"""The manager's Prometheus registry: controller-runtime's names, labels and values."""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.clock import FakeClock
from kubeloop.manager import Metrics
from kubeloop.queue import QueueOptions, RateLimitingQueue


def families(metrics: Metrics) -> dict[str, set[frozenset[str]]]:
    """Family name → the label-name sets of its samples, parsed back from the text exposition."""
    body, _ = metrics.render()
    out: dict[str, set[frozenset[str]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        labels = out.setdefault(family.name, set())
        for sample in family.samples:
            labels.add(frozenset(sample.labels) - {"le"})
    return out


def value(metrics: Metrics, series: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(series, labels)


def test_controller_series_exist_at_zero_with_controller_runtime_names_and_labels():
    metrics = Metrics(process_collectors=False)
    metrics.controller_started("appservice", max_concurrent_reconciles=3)
    metrics.reconcile_started("appservice")
    metrics.reconcile_finished("appservice", "success", 0.02)

    found = families(metrics)
    assert found["controller_runtime_reconcile"] == {frozenset({"controller", "result"})}
    for name in (
        "controller_runtime_reconcile_errors",
        "controller_runtime_terminal_reconcile_errors",
        "controller_runtime_reconcile_time_seconds",
        "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
    ):
        assert found[name] == {frozenset({"controller"})}, name
    body = metrics.render()[0].decode()
    for result in ("success", "error", "requeue", "requeue_after"):
        assert f'controller_runtime_reconcile_total{{controller="appservice",result="{result}"}}' in body
    assert 'controller_runtime_reconcile_errors_total{controller="appservice"} 0.0' in body
    assert value(metrics, "controller_runtime_max_concurrent_reconciles", controller="appservice") == 3


def test_reconcile_outcomes_count_by_result_and_errors_and_terminal_errors_separately():
    metrics = Metrics(process_collectors=False)
    metrics.controller_started("c", 2)
    outcomes = [("success", False), ("error", False), ("error", True), ("requeue_after", False)]
    for result, terminal in outcomes:
        metrics.reconcile_started("c")
        assert value(metrics, "controller_runtime_active_workers", controller="c") == 1
        metrics.reconcile_finished("c", result, 0.3, terminal=terminal)  # type: ignore[arg-type]

    assert value(metrics, "controller_runtime_active_workers", controller="c") == 0
    assert value(metrics, "controller_runtime_reconcile_total", controller="c", result="success") == 1
    assert value(metrics, "controller_runtime_reconcile_total", controller="c", result="error") == 2
    assert value(metrics, "controller_runtime_reconcile_total", controller="c", result="requeue") == 0
    assert value(metrics, "controller_runtime_reconcile_total", controller="c", result="requeue_after") == 1
    assert value(metrics, "controller_runtime_reconcile_errors_total", controller="c") == 2
    assert value(metrics, "controller_runtime_terminal_reconcile_errors_total", controller="c") == 1
    assert value(metrics, "controller_runtime_reconcile_time_seconds_count", controller="c") == 4
    seconds = value(metrics, "controller_runtime_reconcile_time_seconds_sum", controller="c")
    assert seconds == pytest.approx(1.2)
    # controller-runtime's buckets: 0.3 falls in le=0.3, not in le=0.25
    assert value(metrics, "controller_runtime_reconcile_time_seconds_bucket", controller="c", le="0.3") == 4
    assert value(metrics, "controller_runtime_reconcile_time_seconds_bucket", controller="c", le="0.25") == 0


def test_a_controller_started_again_reports_no_active_workers():
    """A worker cancelled mid-reconcile (the lease lost) never finishes its reconcile; when the
    controller starts again its active workers read 0, as controller-runtime's initMetrics sets them."""
    metrics = Metrics(process_collectors=False)
    metrics.controller_started("c", 2)
    metrics.reconcile_started("c")
    metrics.reconcile_started("c")
    assert value(metrics, "controller_runtime_active_workers", controller="c") == 2

    metrics.controller_started("c", 3)

    assert value(metrics, "controller_runtime_active_workers", controller="c") == 0
    assert value(metrics, "controller_runtime_max_concurrent_reconciles", controller="c") == 3


async def test_a_real_work_queue_reports_workqueue_series_labelled_name_and_controller():
    metrics = Metrics(process_collectors=False)
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        QueueOptions(name="appservice", clock=clock, metrics=metrics)
    )
    queue.add("a")
    queue.add("b")
    await clock.advance(2)
    async with queue.get():
        await clock.advance(0.5)
    queue.add_rate_limited("a")

    labels = {"name": "appservice", "controller": "appservice"}
    assert value(metrics, "workqueue_adds_total", **labels) == 2
    assert value(metrics, "workqueue_depth", **labels) == 1  # "b" still waits; "a" waits on its backoff
    assert value(metrics, "workqueue_queue_duration_seconds_count", **labels) == 1
    assert value(metrics, "workqueue_queue_duration_seconds_sum", **labels) == 2.0
    assert value(metrics, "workqueue_work_duration_seconds_sum", **labels) == 0.5
    assert value(metrics, "workqueue_retries_total", **labels) == 1
    found = families(metrics)
    for name in [
        "workqueue_depth",
        "workqueue_adds",
        "workqueue_retries",
        "workqueue_queue_duration_seconds",
    ]:
        assert found[name] == {frozenset({"name", "controller"})}, name


def test_client_hook_feeds_rest_client_series():
    metrics = Metrics(process_collectors=False)
    metrics.request_done(verb="get", method="GET", host="127.0.0.1:6443", code="200", seconds=0.01)
    metrics.request_done(verb="list", method="GET", host="127.0.0.1:6443", code="200", seconds=0.2)
    metrics.request_done(verb="create", method="POST", host="127.0.0.1:6443", code="409", seconds=0.01)
    metrics.retried(verb="get", host="127.0.0.1:6443", code="503")
    metrics.rate_limited(verb="get", host="127.0.0.1:6443", seconds=0.1)

    host = "127.0.0.1:6443"
    assert value(metrics, "rest_client_requests_total", code="200", method="GET", host=host) == 2
    assert value(metrics, "rest_client_requests_total", code="409", method="POST", host=host) == 1
    assert value(metrics, "rest_client_request_duration_seconds_count", verb="get", host=host) == 1
    assert value(metrics, "rest_client_request_duration_seconds_count", verb="list", host=host) == 1
    assert value(metrics, "rest_client_request_retries_total", code="503", verb="get", host=host) == 1
    assert value(metrics, "rest_client_rate_limiter_duration_seconds_count", verb="get", host=host) == 1
    found = families(metrics)
    assert found["rest_client_requests"] == {frozenset({"code", "method", "host"})}
    assert found["rest_client_request_duration_seconds"] == {frozenset({"verb", "host"})}


def test_leader_status_is_a_gauge_per_lease_name():
    metrics = Metrics(process_collectors=False)
    metrics.leader_status("my-operator", True)
    assert value(metrics, "leader_election_master_status", name="my-operator") == 1
    metrics.leader_status("my-operator", False)
    assert value(metrics, "leader_election_master_status", name="my-operator") == 0


def test_two_registries_are_independent_and_the_global_one_is_untouched():
    from prometheus_client import REGISTRY

    one, two = Metrics(), Metrics()  # no "Duplicated timeseries" error, process collectors in both
    one.controller_started("x", 1)
    one.reconcile_started("x")
    one.reconcile_finished("x", "success", 0.1)
    assert value(one, "controller_runtime_reconcile_total", controller="x", result="success") == 1
    assert value(two, "controller_runtime_reconcile_total", controller="x", result="success") is None
    assert REGISTRY.get_sample_value("controller_runtime_reconcile_total", {"controller": "x"}) is None
    assert "process_cpu_seconds" in families(one)  # the counter family, "_total" stripped


def test_render_serves_openmetrics_when_asked_and_prometheus_text_by_default():
    metrics = Metrics(process_collectors=False)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert re.search(rb"^# TYPE workqueue_depth gauge$", body, re.M)
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_the_hot_series_expose_what_prometheus_clients_own_metrics_would():
    """controller_runtime_* and workqueue_* are plain numbers updated without prometheus_client's
    locks (issue 16): their exposition is still that of its Counter, Gauge and Histogram."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.exposition import generate_latest

    from kubeloop.manager._metrics import RECONCILE_BUCKETS, WORKQUEUE_BUCKETS

    metrics = Metrics(process_collectors=False)
    ref = CollectorRegistry()
    q = ["name", "controller"]
    total = Counter(
        "controller_runtime_reconcile_total",
        "Total number of reconciliations per controller",
        ["controller", "result"],
        registry=ref,
    )
    errors = Counter(
        "controller_runtime_reconcile_errors_total",
        "Total number of reconciliation errors per controller",
        ["controller"],
        registry=ref,
    )
    terminal = Counter(
        "controller_runtime_terminal_reconcile_errors_total",
        "Total number of terminal reconciliation errors per controller",
        ["controller"],
        registry=ref,
    )
    panics = Counter(
        "controller_runtime_reconcile_panics_total",
        "Total number of reconciliation panics per controller",
        ["controller"],
        registry=ref,
    )
    seconds = Histogram(
        "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller",
        ["controller"],
        buckets=RECONCILE_BUCKETS,
        registry=ref,
    )
    most = Gauge(
        "controller_runtime_max_concurrent_reconciles",
        "Maximum number of concurrent reconciles per controller",
        ["controller"],
        registry=ref,
    )
    active = Gauge(
        "controller_runtime_active_workers",
        "Number of currently used workers per controller",
        ["controller"],
        registry=ref,
    )
    depth = Gauge("workqueue_depth", "Current depth of workqueue", q, registry=ref)
    adds = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", q, registry=ref)
    queued = Histogram(
        "workqueue_queue_duration_seconds",
        "How long in seconds an item stays in workqueue before being requested",
        q,
        buckets=WORKQUEUE_BUCKETS,
        registry=ref,
    )
    worked = Histogram(
        "workqueue_work_duration_seconds",
        "How long in seconds processing an item from workqueue takes.",
        q,
        buckets=WORKQUEUE_BUCKETS,
        registry=ref,
    )
    retries = Counter(
        "workqueue_retries_total", "Total number of retries handled by workqueue", q, registry=ref
    )

    for name, workers in (("one", 3), ("two", 1)):
        metrics.controller_started(name, workers)
        most.labels(name).set(workers)
        active.labels(name).set(0)
        for result in ("success", "error", "requeue", "requeue_after"):
            total.labels(name, result)
        errors.labels(name)
        terminal.labels(name)
        panics.labels(name)
    for name, result, took, term, panic in [
        ("one", "success", 0.3, False, False),
        ("one", "error", 0.004, True, False),
        ("two", "error", 61.0, False, True),
        ("two", "requeue_after", 0.25, False, False),
    ]:
        metrics.reconcile_started(name)
        active.labels(name).inc()
        metrics.reconcile_finished(name, result, took, terminal=term, panic=panic)  # type: ignore[arg-type]
        active.labels(name).dec()
        total.labels(name, result).inc()
        seconds.labels(name).observe(took)
        if result == "error":
            errors.labels(name).inc()
            if term:
                terminal.labels(name).inc()
            if panic:
                panics.labels(name).inc()
    recorder = metrics.queue_metrics("one")
    child = [m.labels("one", "one") for m in (depth, adds, queued, worked, retries)]
    for waited, took in ((1e-8, 2e-7), (0.5, 10.0), (3000.0, 0.0)):
        recorder.add()
        child[1].inc()
        recorder.depth(4)
        child[0].set(4)
        recorder.got(waited)
        child[2].observe(waited)
        recorder.done(took)
        child[3].observe(took)
    recorder.retry()
    child[4].inc()

    def text(body: bytes) -> list[str]:
        lines = body.decode().splitlines()
        hot = ("controller_runtime_", "workqueue_")
        return [
            re.sub(r"_created(\{.*\}) .*", r"_created\1 T", line)
            for line in lines
            if hot[0] in line or hot[1] in line
        ]

    assert text(metrics.render()[0]) == text(generate_latest(ref))
