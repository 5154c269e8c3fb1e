"""Reconcile outcomes steer the queue: success, requeue_after, errors with backoff, terminal errors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from kubeloop.clock import FakeClock
from kubeloop.controller import Controller, ControllerOptions, Request, Result
from kubeloop.errors import StoppedError, TerminalError
from kubeloop.queue import QueueOptions

KEY = Request("ns", "app")


class Metrics:
    def __init__(self) -> None:
        self.finished: list[tuple[str, bool]] = []
        self.panics = 0
        self.seconds: list[float] = []

    def reconcile_started(self, controller: str) -> None:
        pass

    def reconcile_finished(
        self, controller: str, result: str, seconds: float, *, terminal: bool = False, panic: bool = False
    ) -> None:
        self.finished.append((result, terminal))
        self.panics += panic
        self.seconds.append(seconds)


async def settle() -> None:
    """Let every ready task run until nothing changes."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start(clock: FakeClock) -> AsyncIterator[Callable[..., tuple[Controller, Metrics]]]:
    running: list[tuple[Controller, asyncio.Task[None]]] = []

    def make(reconcile: Callable[[Request], object], **options: object) -> tuple[Controller, Metrics]:
        metrics = Metrics()
        ctl = Controller(
            "test",
            reconcile,  # type: ignore[arg-type]
            ControllerOptions(queue=QueueOptions(clock=clock), **options),  # type: ignore[arg-type]
            metrics=metrics,
        )
        running.append((ctl, asyncio.create_task(ctl.run())))
        return ctl, metrics

    yield make
    for ctl, task in running:
        await ctl.shutdown(grace=1)
        await asyncio.wait_for(task, 5)


async def test_success_runs_once_and_forgets_backoff(
    start: Callable[..., tuple[Controller, Metrics]],
) -> None:
    calls: list[Request] = []

    async def reconcile(req: Request) -> None:
        calls.append(req)

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    assert calls == [KEY]
    assert metrics.finished == [("success", False)]
    assert ctl.queue.num_requeues(KEY) == 0


async def test_errors_back_off_exponentially_then_recover(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    attempts: list[float] = []

    async def reconcile(req: Request) -> None:
        attempts.append(clock.now())
        if len(attempts) < 5:
            raise RuntimeError("not yet")

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    for _ in range(4):
        await clock.advance(1.0)
        await settle()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert len(attempts) == 5
    assert gaps[0] >= 0.005
    assert gaps == sorted(gaps), "each retry waits at least as long as the one before"
    assert [r for r, _ in metrics.finished] == ["error"] * 4 + ["success"]
    assert ctl.queue.num_requeues(KEY) == 0


async def test_backoff_intervals_double_per_failure(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    attempts: list[float] = []

    async def reconcile(req: Request) -> None:
        attempts.append(clock.now())
        raise RuntimeError("always")

    ctl, _ = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    for _ in range(60):
        await clock.advance(0.005)
        await settle()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == [0.005, 0.01, 0.02, 0.04]


async def test_terminal_error_is_recorded_and_not_retried(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    calls = 0

    async def reconcile(req: Request) -> None:
        nonlocal calls
        calls += 1
        raise TerminalError("spec cannot work")

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    await clock.advance(2000)
    await settle()
    assert calls == 1
    assert metrics.finished == [("error", True)]


async def test_requeue_after_reconciles_again_at_that_time(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    times: list[float] = []

    async def reconcile(req: Request) -> Result:
        times.append(clock.now())
        return Result(requeue_after=30)

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    await clock.advance(29.9)
    await settle()
    assert len(times) == 1
    await clock.advance(0.1)
    await settle()
    assert [round(t - times[0], 3) for t in times] == [0.0, 30.0]
    assert metrics.finished[0] == ("requeue_after", False)


async def test_garbage_result_is_an_error_and_retried(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    calls = 0

    async def reconcile(req: Request) -> object:
        nonlocal calls
        calls += 1
        return "ok" if calls == 1 else None

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    await clock.advance(0.005)
    await settle()
    assert [r for r, _ in metrics.finished] == ["error", "success"]


async def test_hanging_reconcile_is_cut_by_the_timeout_on_the_clock_and_other_keys_go_on(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    done: list[str] = []

    async def reconcile(req: Request) -> None:
        if req.name == "hangs":
            await asyncio.Event().wait()
        done.append(req.name)

    ctl, metrics = start(reconcile, max_concurrent_reconciles=2, reconcile_timeout=30)
    ctl.enqueue(Request("ns", "hangs"))
    ctl.enqueue(Request("ns", "fine"))
    await settle()
    assert done == ["fine"]
    await clock.advance(29.9)
    assert ctl.queue.num_requeues(Request("ns", "hangs")) == 0, "not cut before its time"
    await clock.advance(0.1)
    await settle()
    assert ctl.queue.num_requeues(Request("ns", "hangs")) == 1
    assert metrics.seconds == [0.0, 30.0], "durations are read on the clock"


async def test_a_stray_cancelled_error_is_retried_and_the_worker_lives_on(
    start: Callable[..., tuple[Controller, Metrics]], clock: FakeClock
) -> None:
    calls: list[str] = []

    class Odd(BaseException):
        pass

    async def reconcile(req: Request) -> None:
        calls.append(req.name)
        if len(calls) == 1:
            raise asyncio.CancelledError("not meant for this worker")
        if len(calls) == 2:
            raise Odd("neither an Exception nor a cancellation")

    ctl, metrics = start(reconcile)
    ctl.enqueue(KEY)
    await settle()
    await clock.advance(0.005)
    await settle()
    await clock.advance(0.01)
    await settle()
    assert calls == ["app", "app", "app"]
    assert [r for r, _ in metrics.finished] == ["error", "error", "success"]
    assert metrics.panics == 2
    ctl.enqueue(Request("ns", "other"))
    await settle()
    assert calls[-1] == "other", "the one worker still takes keys"


async def test_a_worker_cancelled_by_code_that_does_not_own_it_stops_the_controller_with_an_error(
    clock: FakeClock,
) -> None:
    async def reconcile(req: Request) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # what a library misusing cancellation might do
        await asyncio.sleep(0)

    ctl = Controller("test", reconcile, ControllerOptions(queue=QueueOptions(clock=clock)))
    run = asyncio.create_task(ctl.run())
    ctl.enqueue(KEY)
    with pytest.raises(ExceptionGroup) as failed:
        await asyncio.wait_for(run, 5)
    assert failed.group_contains(StoppedError, match="controller test: worker 0 was cancelled")


async def test_one_key_never_runs_in_two_workers(start: Callable[..., tuple[Controller, Metrics]]) -> None:
    active: set[Request] = set()
    overlaps = 0
    runs = 0

    async def reconcile(req: Request) -> None:
        nonlocal overlaps, runs
        if req in active:
            overlaps += 1
        active.add(req)
        await asyncio.sleep(0.001)
        active.discard(req)
        runs += 1

    ctl, _ = start(reconcile, max_concurrent_reconciles=4)
    for i in range(200):
        ctl.enqueue(Request("ns", f"k{i % 3}"))
        if i % 10 == 0:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.1)
    assert overlaps == 0
    assert runs >= 3


async def test_shutdown_lets_the_running_reconcile_finish(clock: FakeClock) -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def reconcile(req: Request) -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()

    ctl = Controller("test", reconcile, ControllerOptions(queue=QueueOptions(clock=clock)))
    task = asyncio.create_task(ctl.run())
    ctl.enqueue(KEY)
    await started.wait()
    await ctl.shutdown(grace=5)
    assert finished.is_set()
    await asyncio.wait_for(task, 1)
