"""Delayed adds on the fake clock: keys appear once their delay has passed, earliest deadline wins."""

import asyncio

from kubeloop.clock import FakeClock
from kubeloop.queue import LOW, DelayingQueue, QueueOptions


def make_queue() -> tuple[DelayingQueue[str], FakeClock]:
    clock = FakeClock()
    return DelayingQueue(QueueOptions(clock=clock)), clock


async def drain(queue: DelayingQueue[str]) -> list[str]:
    keys = []
    while len(queue):
        async with queue.get() as key:
            keys.append(key)
    return keys


async def test_a_delayed_key_is_not_ready_before_its_delay_and_is_ready_after():
    queue, clock = make_queue()
    queue.add_after("a", 2.0)
    assert len(queue) == 0
    await clock.advance(1.999)
    assert len(queue) == 0
    await clock.advance(0.001)
    assert await drain(queue) == ["a"]


async def test_a_zero_or_negative_delay_adds_at_once():
    queue, clock = make_queue()
    queue.add_after("zero", 0)
    queue.add_after("negative", -1)
    assert await drain(queue) == ["zero", "negative"]
    assert clock.pending_timers == 0


async def test_delayed_keys_become_ready_in_deadline_order_not_call_order():
    queue, clock = make_queue()
    queue.add_after("c", 3)
    queue.add_after("a", 1)
    queue.add_after("b", 2)
    queue.add_after("a2", 1)
    await clock.advance(5)
    assert await drain(queue) == ["a", "a2", "b", "c"]


async def test_a_worker_blocked_in_get_receives_a_delayed_key_when_it_is_due():
    queue, clock = make_queue()

    async def take() -> str:
        async with queue.get() as key:
            return key

    getter = asyncio.create_task(take())
    queue.add_after("a", 10)
    await clock.advance(9)
    assert not getter.done()
    await clock.advance(1)
    assert await getter == "a"


async def test_the_earlier_deadline_wins_for_a_key_delayed_twice():
    queue, clock = make_queue()
    queue.add_after("a", 10)
    queue.add_after("a", 1)
    await clock.advance(1)
    assert await drain(queue) == ["a"]
    await clock.advance(20)
    assert len(queue) == 0


async def test_a_later_deadline_never_postpones_a_delayed_key():
    queue, clock = make_queue()
    queue.add_after("a", 1)
    queue.add_after("a", 10)
    await clock.advance(1)
    assert await drain(queue) == ["a"]
    await clock.advance(20)
    assert len(queue) == 0


async def test_a_delayed_key_keeps_the_highest_priority_it_was_given():
    queue, clock = make_queue()
    queue.add("live")
    queue.add_after("a", 1, priority=LOW)
    queue.add_after("a", 5)
    queue.add_after("b", 1, priority=LOW)
    await clock.advance(1)
    assert await drain(queue) == ["live", "a", "b"]


async def test_only_one_timer_is_armed_for_many_delayed_keys():
    queue, clock = make_queue()
    for i in range(100):
        queue.add_after(f"k{i}", 1 + i)
    assert clock.pending_timers == 1
    queue.add_after("first", 0.5)
    assert clock.pending_timers == 1
    assert clock.next_deadline == 0.5
    await clock.advance(200)
    assert len(queue) == 101
    assert clock.pending_timers == 0


async def test_a_delayed_key_already_waiting_is_not_queued_twice():
    queue, clock = make_queue()
    queue.add("a")
    queue.add_after("a", 1)
    await clock.advance(1)
    assert await drain(queue) == ["a"]


async def test_a_delayed_key_that_comes_due_while_held_runs_once_more_after_done():
    queue, clock = make_queue()
    queue.add("a")
    async with queue.get():
        queue.add_after("a", 1)
        await clock.advance(1)
        assert len(queue) == 0
    assert await drain(queue) == ["a"]
