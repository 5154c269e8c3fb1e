"""Metrics hooks: what the queue reports on add, get, done and retry."""

from dataclasses import dataclass, field

from kubeloop.clock import FakeClock
from kubeloop.queue import NOOP_METRICS, MetricsProvider, QueueMetrics, QueueOptions, RateLimitingQueue


@dataclass
class Recorder:
    """Records every hook call as ``(hook, value)``, shared by all recorders of one name."""

    calls: list[tuple[str, float | None]] = field(default_factory=list)

    def add(self) -> None:
        self.calls.append(("add", None))

    def depth(self, waiting: int) -> None:
        self.calls.append(("depth", waiting))

    def got(self, queued_seconds: float) -> None:
        self.calls.append(("got", queued_seconds))

    def done(self, work_seconds: float) -> None:
        self.calls.append(("done", work_seconds))

    def retry(self) -> None:
        self.calls.append(("retry", None))


@dataclass
class Provider:
    recorders: dict[str, Recorder] = field(default_factory=dict)

    def queue_metrics(self, name: str) -> QueueMetrics:
        return self.recorders.setdefault(name, Recorder())


def make_queue() -> tuple[RateLimitingQueue[str], FakeClock, Recorder]:
    clock, provider = FakeClock(), Provider()
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        QueueOptions(name="appservice", clock=clock, metrics=provider)
    )
    return queue, clock, provider.recorders["appservice"]


def test_the_test_provider_and_the_default_satisfy_the_protocols():
    providers: list[MetricsProvider] = [Provider(), NOOP_METRICS]
    for provider in providers:
        recorder = provider.queue_metrics("x")
        recorder.add()
        recorder.depth(1)
        recorder.got(0.0)
        recorder.done(0.0)
        recorder.retry()


async def test_add_get_and_done_report_adds_depth_queue_latency_and_work_duration():
    queue, clock, recorder = make_queue()
    queue.add("a")
    queue.add("a")  # a duplicate is not an add
    queue.add("b")
    await clock.advance(2)
    async with queue.get():
        await clock.advance(3)
    assert recorder.calls == [
        ("add", None),
        ("depth", 1),
        ("add", None),
        ("depth", 2),
        ("depth", 1),
        ("got", 2.0),
        ("done", 3.0),
    ]


async def test_a_key_added_while_held_counts_as_an_add_once_and_is_queued_at_done():
    queue, clock, recorder = make_queue()
    queue.add("a")
    async with queue.get():
        recorder.calls.clear()
        queue.add("a")
        queue.add("a")
        assert recorder.calls == [("add", None)]
        await clock.advance(1)
    assert recorder.calls[1:] == [("done", 1.0), ("depth", 1)]


async def test_add_rate_limited_reports_a_retry_and_the_add_when_it_comes_due():
    queue, clock, recorder = make_queue()
    queue.add_rate_limited("a")
    assert recorder.calls == [("retry", None)]
    await clock.advance(0.005)
    assert recorder.calls[1:] == [("add", None), ("depth", 1)]
    async with queue.get():
        pass
    assert recorder.calls[-2] == ("got", 0.0)


async def test_shutdown_reports_an_empty_queue():
    queue, _, recorder = make_queue()
    queue.add("a")
    await queue.shutdown()
    assert recorder.calls[-1] == ("depth", 0)
