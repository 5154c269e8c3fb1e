"""The shared token bucket: a full burst at once, refill at qps up to the burst, owed tokens 1/qps apart."""

import pytest

from kubeloop.clock import FakeClock, InstantClock
from kubeloop.tokenbucket import TokenBucket


def test_a_full_burst_is_free_then_owed_tokens_are_spaced_by_one_over_qps():
    bucket = TokenBucket(4, 3, clock=InstantClock())
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_reserving_takes_the_token_even_when_it_is_owed():
    clock = InstantClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(1.0)
    clock.advance(1.0)  # pays back the owed token only: the next one is a second away again
    assert bucket.reserve() == pytest.approx(1.0)


async def test_idle_time_refills_at_qps_but_never_past_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock)
    for _ in range(5):
        bucket.reserve()
    await clock.advance(0.2)  # two tokens earned
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])
    await clock.advance(3600)
    assert sum(bucket.reserve() == 0.0 for _ in range(10)) == 5


def test_a_clock_that_steps_back_refills_nothing():
    clock = InstantClock(start=10.0)
    bucket = TokenBucket(1, 1, clock=clock)
    bucket.reserve()
    clock.advance(-5)
    assert bucket.reserve() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("qps", "burst"), [(0, 1), (-1, 1), (1, 0)], ids=["zero-qps", "negative-qps", "zero-burst"]
)
def test_nonsense_settings_are_rejected(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="qps > 0 and burst >= 1"):
        TokenBucket(qps, burst, clock=InstantClock())
