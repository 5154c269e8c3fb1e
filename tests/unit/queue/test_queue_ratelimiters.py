"""Rate limiters: per-key exponential backoff, the overall token bucket, and their max."""

import pytest

from kubeloop.clock import FakeClock
from kubeloop.queue import ItemExponentialBackoff, MaxOf, TokenBucket, default_rate_limiter


def test_backoff_doubles_from_5_ms_and_is_capped_at_1000_s():
    limiter = ItemExponentialBackoff()
    delays = [limiter.when("a") for _ in range(30)]
    assert delays[:5] == pytest.approx([0.005, 0.010, 0.020, 0.040, 0.080])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, the last step under the cap
    assert delays[18:] == [1000.0] * 12
    assert limiter.retries("a") == 30


def test_backoff_survives_a_key_that_fails_forever():
    limiter = ItemExponentialBackoff(base=1e-9, cap=5.0)
    for _ in range(5000):
        delay = limiter.when("a")
    assert delay == 5.0


def test_backoff_is_per_key():
    limiter = ItemExponentialBackoff()
    limiter.when("a")
    limiter.when("a")
    assert limiter.when("b") == pytest.approx(0.005)
    assert (limiter.retries("a"), limiter.retries("b"), limiter.retries("never")) == (2, 1, 0)


def test_forget_starts_the_backoff_of_a_key_over():
    limiter = ItemExponentialBackoff()
    for _ in range(5):
        limiter.when("a")
    limiter.forget("a")
    limiter.forget("unknown")
    assert limiter.retries("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("base", "cap"), [(0, 1), (-1, 1), (2, 1)], ids=["zero-base", "negative-base", "cap-below-base"]
)
def test_backoff_rejects_nonsense_bounds(base, cap):
    with pytest.raises(ValueError, match="base"):
        ItemExponentialBackoff(base, cap)


def test_token_bucket_lets_a_full_burst_through_then_spaces_keys_at_qps():
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=100, clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    assert [bucket.when(i) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])


async def test_token_bucket_refills_at_qps_up_to_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=5, clock=clock)
    for i in range(5):
        bucket.when(i)
    await clock.advance(0.2)  # two tokens back
    assert [bucket.when("x") for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])
    await clock.advance(3600)  # never more than the burst saved up
    assert sum(bucket.when("y") == 0.0 for _ in range(10)) == 5


def test_token_bucket_ignores_keys_for_forget_and_retries():
    bucket = TokenBucket(clock=FakeClock())
    bucket.when("a")
    bucket.forget("a")
    assert bucket.retries("a") == 0


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (1, 0)], ids=["zero-qps", "zero-burst"])
def test_token_bucket_rejects_nonsense_settings(qps, burst):
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(qps, burst, clock=FakeClock())


def test_max_of_takes_the_longest_delay_and_every_limiter_counts_the_failure():
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    backoff = ItemExponentialBackoff(base=0.5, cap=100)
    limiter = MaxOf(backoff, bucket)
    assert limiter.when("a") == 0.5  # backoff wins, bucket gives its only token
    assert limiter.when("a") == 1.0  # both say 1 s
    assert limiter.when("b") == 2.0  # bucket wins: two tokens owed
    assert limiter.retries("a") == 2
    limiter.forget("a")
    assert backoff.retries("a") == 0


def test_max_of_needs_a_limiter():
    with pytest.raises(ValueError, match="at least one"):
        MaxOf()


def test_the_default_limiter_is_client_gos_controller_rate_limiter():
    limiter = default_rate_limiter(FakeClock())
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    for i in range(97):
        limiter.when(i)  # the burst of 100 is spent now
    assert limiter.when("fresh") == pytest.approx(0.1)
