"""The injectable clocks: RealClock follows the event loop, FakeClock moves only when told,
InstantClock moves by itself on sleep, WallClock turns a clock into epoch seconds."""

import asyncio

import pytest

from kubeloop.clock import Clock, FakeClock, InstantClock, RealClock, SleepClock, WallClock, timeout


def test_real_and_fake_clocks_satisfy_the_clock_protocol():
    clocks: list[Clock] = [RealClock(), FakeClock()]
    assert all(isinstance(clock.now(), float) for clock in clocks)


def test_every_clock_satisfies_the_sleep_clock_protocol():
    clocks: list[SleepClock] = [RealClock(), FakeClock(), InstantClock()]
    assert all(isinstance(clock.now(), float) for clock in clocks)


async def test_instant_clock_sleep_returns_at_once_after_moving_time():
    clock = InstantClock(start=1.0)
    await clock.sleep(2.5)
    await clock.sleep(-1)
    clock.advance(0.5)
    assert clock.now() == 4.0
    assert clock.slept == [2.5, 0.0]


def test_wall_clock_adds_the_clocks_elapsed_time_to_the_epoch():
    clock = InstantClock(start=100.0)
    wall = WallClock(clock, epoch=1_700_000_000.0)
    assert wall.time() == 1_700_000_000.0
    clock.advance(30)
    assert wall.time() == 1_700_000_030.0


async def test_real_clock_reads_the_event_loop_time():
    before = asyncio.get_running_loop().time()
    now = RealClock().now()
    assert before <= now <= asyncio.get_running_loop().time()


def test_real_clock_outside_a_loop_reads_monotonic_time():
    first, second = RealClock().now(), RealClock().now()
    assert second >= first


async def test_real_clock_call_at_runs_the_callback_and_can_be_cancelled():
    clock = RealClock()
    fired: list[str] = []
    clock.call_at(clock.now(), lambda: fired.append("due"))
    clock.call_at(clock.now(), lambda: fired.append("cancelled")).cancel()
    await clock.sleep(0.001)
    assert fired == ["due"]


async def test_fake_clock_stands_still_until_advanced():
    clock = FakeClock(start=5.0)
    await asyncio.sleep(0)
    assert clock.now() == 5.0
    await clock.advance(1.5)
    assert clock.now() == 6.5


async def test_fake_clock_refuses_to_move_backwards():
    with pytest.raises(ValueError, match="backwards"):
        await FakeClock().advance(-1)


async def test_fake_sleep_wakes_only_once_its_deadline_has_passed():
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)  # let the sleeper start and schedule its wake-up
    await clock.advance(9.999)
    assert not sleeper.done()
    await clock.advance(0.001)
    assert sleeper.done()


async def test_fake_sleep_of_zero_only_yields():
    clock = FakeClock()
    await clock.sleep(0)
    assert clock.pending_timers == 0


async def test_fake_clock_wakes_sleepers_in_deadline_order_each_at_its_own_time():
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(name, s)) for name, s in [("c", 3), ("a", 1), ("b", 2), ("a2", 1)]]
    await asyncio.sleep(0)
    await clock.advance(10)
    assert woke == [("a", 1), ("a2", 1), ("b", 2), ("c", 3)]
    assert clock.now() == 10
    await asyncio.gather(*tasks)


async def test_a_sleeper_that_sleeps_again_within_the_window_wakes_again_in_the_same_advance():
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(1)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance(2.5)
    assert ticks == [1, 2]
    await clock.advance(0.5)
    assert ticks == [1, 2, 3]
    await task


async def test_cancelled_fake_sleep_removes_its_timer():
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    assert clock.pending_timers == 1
    assert clock.next_deadline == 5
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_timers == 0
    assert clock.next_deadline is None


async def test_fake_call_at_fires_callbacks_in_order_and_skips_cancelled_ones():
    clock = FakeClock()
    fired: list[str] = []
    clock.call_at(2, lambda: fired.append("two"))
    clock.call_at(1, lambda: fired.append("one"))
    clock.call_at(1.5, lambda: fired.append("cancelled")).cancel()
    await clock.advance(1)
    assert fired == ["one"]
    await clock.advance(1)
    assert fired == ["one", "two"]


async def test_fake_timer_already_due_fires_on_the_next_advance_even_of_zero():
    clock = FakeClock(start=3)
    fired: list[float] = []
    clock.call_at(1, lambda: fired.append(clock.now()))
    assert fired == []
    await clock.advance(0)
    assert fired == [3]


async def test_fake_clock_keeps_nanoseconds_so_float_drift_does_not_strand_a_timer():
    clock = FakeClock()
    fired: list[float] = []
    clock.call_at(0.3, lambda: fired.append(clock.now()))
    for _ in range(3):
        await clock.advance(0.1)  # 0.1 + 0.1 + 0.1 != 0.3 in floats
    assert fired == [0.3]


async def test_a_wait_shorter_than_a_nanosecond_still_moves_fake_time() -> None:
    clock = FakeClock(start=5.000000001)
    deadline = clock.now() + 10.0 + 1e-10  # a float deadline off the clock's nanosecond grid
    woke = 0

    async def waiter() -> None:
        nonlocal woke
        while clock.now() < deadline:
            await clock.sleep(deadline - clock.now())
            woke += 1

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    await clock.advance(11)
    assert task.done()
    assert woke <= 2
    await task


async def test_timeout_cancels_the_block_at_its_deadline_on_the_clock() -> None:
    clock = FakeClock()
    reached: list[str] = []

    async def block() -> None:
        async with timeout(clock, 10):
            await asyncio.Event().wait()
        reached.append("after")  # never: TimeoutError replaces the cancellation

    task = asyncio.create_task(block())
    await asyncio.sleep(0)  # into the block: the deadline is 10 s from now
    await clock.advance(9.999)
    assert not task.done()
    await clock.advance(0.001)
    with pytest.raises(TimeoutError):
        await task
    assert reached == []
    assert task.cancelling() == 0


async def test_timeout_lets_other_cancellations_through_unchanged() -> None:
    clock = FakeClock()

    async def raises_inside() -> None:
        async with timeout(clock, 10):
            raise asyncio.CancelledError("stray")

    with pytest.raises(asyncio.CancelledError):
        await raises_inside()

    async def waits() -> None:
        async with timeout(clock, 10):
            await asyncio.Event().wait()

    task = asyncio.create_task(waits())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_timers == 0


async def test_timeout_none_waits_forever() -> None:
    clock = FakeClock()
    async with timeout(clock, None):
        await clock.advance(1e9)
    assert clock.pending_timers == 0
