"""Shutdown: no key is handed out afterwards; drain waits for keys workers still hold."""

import asyncio

import pytest

from kubeloop.clock import FakeClock
from kubeloop.errors import KubeloopError
from kubeloop.queue import DelayingQueue, Queue, QueueOptions, QueueShutDown


async def take(queue: Queue[str]) -> str:
    async with queue.get() as key:
        return key


async def test_get_after_shutdown_raises_even_with_keys_waiting():
    queue: Queue[str] = Queue()
    queue.add("a")
    await queue.shutdown()
    assert queue.shutting_down
    assert len(queue) == 0
    with pytest.raises(QueueShutDown):
        await take(queue)


async def test_queue_shut_down_is_a_kubeloop_error():
    assert issubclass(QueueShutDown, KubeloopError)


async def test_workers_blocked_in_get_are_released_by_shutdown():
    queue: Queue[str] = Queue()
    getters = [asyncio.create_task(take(queue)) for _ in range(3)]
    await asyncio.sleep(0)
    await queue.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(result, QueueShutDown) for result in results)


async def test_adds_after_shutdown_are_ignored():
    queue: Queue[str] = Queue()
    await queue.shutdown()
    queue.add("a")
    assert len(queue) == 0


async def test_shutdown_without_drain_returns_while_a_key_is_still_held():
    queue: Queue[str] = Queue()
    queue.add("a")
    async with queue.get():
        await queue.shutdown()
        assert queue.shutting_down


async def test_shutdown_with_drain_waits_for_held_keys_to_be_done():
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("b")
    release = asyncio.Event()

    async def worker() -> None:
        async with queue.get():
            await release.wait()

    workers = [asyncio.create_task(worker()) for _ in range(2)]
    await asyncio.sleep(0)
    shutdown = asyncio.create_task(queue.shutdown(drain=True))
    await asyncio.sleep(0)
    assert not shutdown.done()
    release.set()
    await asyncio.gather(*workers)
    await shutdown


async def test_shutdown_with_drain_and_nothing_held_returns_at_once():
    queue: Queue[str] = Queue()
    await queue.shutdown(drain=True)


async def test_a_key_re_added_while_held_does_not_run_again_after_shutdown():
    queue: Queue[str] = Queue()
    queue.add("a")
    async with queue.get():
        queue.add("a")
        await queue.shutdown()
    assert len(queue) == 0
    with pytest.raises(QueueShutDown):
        await take(queue)


async def test_shutdown_is_idempotent_and_a_second_drain_still_waits():
    queue: Queue[str] = Queue()
    queue.add("a")
    async with queue.get():
        await queue.shutdown()
        second = asyncio.create_task(queue.shutdown(drain=True))
        await asyncio.sleep(0)
        assert not second.done()
    await second


async def test_shutdown_drops_delayed_keys_and_their_timer():
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(QueueOptions(clock=clock))
    queue.add_after("a", 1)
    await queue.shutdown()
    assert clock.pending_timers == 0
    queue.add_after("b", 1)
    await clock.advance(5)
    assert len(queue) == 0
