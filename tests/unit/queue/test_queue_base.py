"""The base queue: de-duplication, FIFO, per-key exclusion across workers, re-run after done."""

import asyncio
from collections import Counter

import pytest

from kubeloop.queue import Queue


async def drain(queue: Queue[str]) -> list[str]:
    """Take every key that is ready now, in order, marking each done."""
    keys = []
    while len(queue):
        async with queue.get() as key:
            keys.append(key)
    return keys


async def test_keys_come_out_in_the_order_they_were_added():
    queue: Queue[str] = Queue()
    for key in "cab":
        queue.add(key)
    assert await drain(queue) == ["c", "a", "b"]


async def test_adding_a_key_that_is_already_waiting_is_a_no_op():
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("b")
    queue.add("a")
    assert len(queue) == 2
    assert await drain(queue) == ["a", "b"]


async def test_a_key_added_while_held_is_not_handed_out_until_done_then_runs_once_more():
    queue: Queue[str] = Queue()
    queue.add("a")
    async with queue.get() as key:
        queue.add("a")
        queue.add("a")
        assert len(queue) == 0
        other = asyncio.create_task(drain_one(queue))
        await asyncio.sleep(0)
        assert not other.done()
    assert await other == "a"
    assert len(queue) == 0
    assert key == "a"


async def drain_one(queue: Queue[str]) -> str:
    async with queue.get() as key:
        return key


async def test_a_held_key_not_added_again_does_not_run_again():
    queue: Queue[str] = Queue()
    queue.add("a")
    async with queue.get():
        pass
    assert len(queue) == 0


async def test_get_waits_for_an_add():
    queue: Queue[str] = Queue()
    getter = asyncio.create_task(drain_one(queue))
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("late")
    assert await getter == "late"


async def test_an_exception_in_the_block_still_marks_the_key_done():
    queue: Queue[str] = Queue()
    queue.add("a")

    async def failing_worker() -> None:
        async with queue.get():
            queue.add("a")
            raise RuntimeError("reconcile failed")

    with pytest.raises(RuntimeError):
        await failing_worker()
    assert await drain(queue) == ["a"]


async def test_a_cancelled_getter_does_not_swallow_the_next_key():
    queue: Queue[str] = Queue()
    cancelled = asyncio.create_task(drain_one(queue))
    waiting = asyncio.create_task(drain_one(queue))
    await asyncio.sleep(0)
    queue.add("a")  # wakes ``cancelled`` first
    cancelled.cancel()
    assert await waiting == "a"
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_n_workers_never_hold_the_same_key_at_once_and_every_add_is_seen():
    queue: Queue[int] = Queue()
    held: set[int] = set()
    processed: Counter[int] = Counter()
    overlaps: list[int] = []

    async def worker() -> None:
        while True:
            async with queue.get() as key:
                if key in held:
                    overlaps.append(key)
                held.add(key)
                for _ in range(key % 3 + 1):
                    await asyncio.sleep(0)
                    queue.add((key * 7) % 5)  # keep re-adding keys, some of them held
                held.discard(key)
                processed[key] += 1
                if sum(processed.values()) >= 200:
                    return

    for key in range(5):
        queue.add(key)
    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
    await queue.shutdown(drain=True)
    await asyncio.gather(*workers, return_exceptions=True)
    assert overlaps == []
    assert set(processed) == set(range(5))


async def test_a_burst_of_adds_of_one_key_while_held_runs_it_exactly_once_more():
    queue: Queue[str] = Queue()
    runs = 0
    release = asyncio.Event()

    async def worker() -> None:
        nonlocal runs
        while True:
            async with queue.get():
                runs += 1
                await release.wait()

    queue.add("a")
    workers = [asyncio.create_task(worker()) for _ in range(4)]
    await asyncio.sleep(0)
    for _ in range(10):
        queue.add("a")
    await asyncio.sleep(0)
    assert runs == 1
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert runs == 2
    await queue.shutdown(drain=True)
    await asyncio.gather(*workers, return_exceptions=True)
