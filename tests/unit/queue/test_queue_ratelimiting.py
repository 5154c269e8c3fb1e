"""The rate-limiting queue: failed keys come back after backoff; forget resets; requeues counted."""

import pytest

from kubeloop.clock import Clock, FakeClock
from kubeloop.queue import ItemExponentialBackoff, QueueOptions, RateLimitingQueue


def make_queue(**options) -> tuple[RateLimitingQueue[str], FakeClock]:
    clock = FakeClock()
    return RateLimitingQueue(QueueOptions(clock=clock, **options)), clock


async def ready_after(queue: RateLimitingQueue[str], clock: FakeClock, seconds: float) -> bool:
    """Advance by ``seconds`` and say whether a key became ready (taking it if so)."""
    await clock.advance(seconds)
    if not len(queue):
        return False
    async with queue.get():
        return True


async def test_a_failing_key_comes_back_after_5_10_20_ms_and_so_on():
    queue, clock = make_queue()
    for expected in [0.005, 0.010, 0.020, 0.040]:
        queue.add_rate_limited("a")
        assert not await ready_after(queue, clock, expected * 0.99)
        assert await ready_after(queue, clock, expected * 0.01)
    assert queue.num_requeues("a") == 4


async def test_backoff_is_capped_at_1000_seconds():
    queue, clock = make_queue()
    for _ in range(25):
        queue.add_rate_limited("a")
        await clock.advance(1000)
        async with queue.get():
            pass
    queue.add_rate_limited("a")
    assert not await ready_after(queue, clock, 999.999)
    assert await ready_after(queue, clock, 0.001)


async def test_forget_resets_the_backoff_and_the_requeue_count():
    queue, clock = make_queue()
    for _ in range(5):
        queue.add_rate_limited("a")
        await clock.advance(1)
        async with queue.get():
            pass
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a")
    assert await ready_after(queue, clock, 0.005)


async def test_forget_does_not_take_a_key_out_of_the_queue():
    queue, clock = make_queue()
    queue.add_rate_limited("a")
    queue.forget("a")
    assert await ready_after(queue, clock, 0.005)


async def test_the_overall_bucket_spaces_retries_of_many_keys_beyond_the_burst():
    queue, clock = make_queue()
    for i in range(103):
        queue.add_rate_limited(f"k{i}")
    await clock.advance(0.005)
    assert len(queue) == 100
    await clock.advance(0.1)
    assert len(queue) == 101
    await clock.advance(0.2)
    assert len(queue) == 103


async def test_each_queue_builds_its_own_limiter_from_the_options():
    def limiter(clock: Clock) -> ItemExponentialBackoff:
        return ItemExponentialBackoff(base=1.0, cap=8.0)

    options = QueueOptions(clock=FakeClock(), rate_limiter=limiter)
    first: RateLimitingQueue[str] = RateLimitingQueue(options)
    second: RateLimitingQueue[str] = RateLimitingQueue(options)
    first.add_rate_limited("a")
    first.add_rate_limited("a")
    assert (first.num_requeues("a"), second.num_requeues("a")) == (2, 0)


async def test_add_and_add_after_pass_through_to_the_lower_layers():
    queue, clock = make_queue()
    queue.add_after("later", 1)
    queue.add("now")
    assert len(queue) == 1
    await clock.advance(1)
    assert len(queue) == 2


@pytest.mark.parametrize("drain", [False, True], ids=["plain", "drain"])
async def test_rate_limited_adds_after_shutdown_are_ignored(drain):
    queue, clock = make_queue()
    queue.add_rate_limited("a")
    await queue.shutdown(drain=drain)
    assert queue.shutting_down
    queue.add_rate_limited("b")
    await clock.advance(10)
    assert len(queue) == 0
    assert queue.num_requeues("b") == 0
