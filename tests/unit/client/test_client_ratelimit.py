"""The token bucket and the retry policy, on a fake clock (zero wall time)."""

from __future__ import annotations

import asyncio

import pytest

import kubeloop.clock
import kubeloop.queue
import kubeloop.tokenbucket
from kubeloop.client import ClientConfig, ClientSettings, RequestLimiter, RetryPolicy, TokenBucket
from kubeloop.client.ratelimit import resource_of_path
from kubeloop.client.transport import Transport
from kubeloop.clock import InstantClock
from kubeloop.gvk import GroupVersionResource


async def test_burst_passes_at_once_then_requests_are_spaced_by_qps() -> None:
    clock = InstantClock()
    bucket = TokenBucket(qps=5, burst=10, clock=clock)
    waits = [await bucket.acquire() for _ in range(13)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.2, 0.2, 0.2])
    assert clock.now() == pytest.approx(0.6)


async def test_tokens_refill_while_idle_up_to_burst() -> None:
    clock = InstantClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    clock.advance(100)  # long idle: refills to burst (3), not 1000
    waits = [await bucket.acquire() for _ in range(4)]
    assert waits == pytest.approx([0, 0, 0, 0.1])


async def test_concurrent_callers_are_served_in_order_at_the_rate() -> None:
    # The framework's step-by-step clock (sleepers wake in deadline order) models real concurrency.
    clock = kubeloop.clock.FakeClock()
    bucket = TokenBucket(qps=2, burst=1, clock=clock)
    finished: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        finished.append(clock.now())

    tasks = [asyncio.create_task(one()) for _ in range(4)]
    await asyncio.sleep(0)
    await clock.advance(2.0)
    await asyncio.gather(*tasks)
    assert finished == pytest.approx([0, 0.5, 1.0, 1.5])


@pytest.mark.parametrize("qps", [None, 0, -1], ids=["none", "zero", "negative"])
def test_no_qps_means_no_client_side_limiter(qps: float | None) -> None:
    transport = Transport(ClientConfig(server="https://127.0.0.1:6443"), ClientSettings(qps=qps))
    assert transport.limiter is None


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        pytest.param("/api/v1/namespaces/a/pods", ("", "v1", "pods"), id="core-list"),
        pytest.param("/api/v1/namespaces/a/pods/b/log", ("", "v1", "pods"), id="core-subresource"),
        pytest.param("/api/v1/nodes/n", ("", "v1", "nodes"), id="cluster-scoped"),
        pytest.param("/api/v1/namespaces", ("", "v1", "namespaces"), id="namespaces"),
        pytest.param("/api/v1/namespaces/a", ("", "v1", "namespaces"), id="one-namespace"),
        pytest.param("/api/v1/namespaces/a/status", ("", "v1", "namespaces"), id="namespace-status"),
        pytest.param("/api/v1/namespaces/a/finalize", ("", "v1", "namespaces"), id="namespace-finalize"),
        pytest.param("/api/v1/watch/namespaces/a/pods", ("", "v1", "pods"), id="old-watch-prefix"),
        pytest.param(
            "/apis/apps/v1/namespaces/a/deployments/d/scale", ("apps", "v1", "deployments"), id="scale"
        ),
        pytest.param("/apis/example.com/v1/apps", ("example.com", "v1", "apps"), id="all-namespaces"),
        pytest.param("/api", None, id="discovery-core"),
        pytest.param("/api/v1", None, id="discovery-core-v1"),
        pytest.param("/apis/apps/v1", None, id="discovery-group-version"),
        pytest.param("/version", None, id="version"),
        pytest.param("/openapi/v3", None, id="openapi"),
    ],
)
def test_a_requests_budget_is_its_resources(path: str, resource: tuple[str, str, str] | None) -> None:
    assert resource_of_path(path) == (GroupVersionResource(*resource) if resource else None)


async def test_each_kind_has_its_own_qps_and_burst_as_client_go_gives_each_rest_client() -> None:
    clock = InstantClock()
    limiter = RequestLimiter(qps=1, burst=2, clock=clock)
    for path in ["/api/v1/namespaces/a/services", "/apis/apps/v1/namespaces/a/deployments/d"] * 2:
        assert await limiter.acquire(path) == 0.0
    status = "/apis/apps/v1/namespaces/a/deployments/d/status"
    assert await limiter.acquire(status) == 1.0, "a kind's status is under its kind's budget"
    assert await limiter.acquire("/api/v1/namespaces/a/services/s") == 0.0
    assert await limiter.acquire("/api") == 0.0
    assert clock.now() == 1.0


async def test_one_budget_for_the_whole_client_when_asked() -> None:
    clock = InstantClock()
    limiter = RequestLimiter(qps=1, burst=2, per_kind=False, clock=clock)
    paths = ["/api/v1/services", "/apis/apps/v1/deployments", "/api", "/version"]
    waits = [await limiter.acquire(path) for path in paths]
    assert waits == [0.0, 0.0, 1.0, 1.0]
    assert limiter.bucket("/api/v1/pods") is limiter.bucket("/apis/apps/v1/deployments")


@pytest.mark.parametrize(("qps", "burst"), [(0.5, 0), (-1, 10)], ids=["no-burst", "negative-qps"])
def test_a_budget_the_bucket_refuses_is_refused_when_made(qps: float, burst: int) -> None:
    with pytest.raises(ValueError, match="need qps > 0"):
        RequestLimiter(qps, burst, clock=InstantClock())


def test_the_client_queue_and_bucket_are_one_class() -> None:
    assert TokenBucket is kubeloop.tokenbucket.TokenBucket is kubeloop.queue.TokenBucket


@pytest.mark.parametrize(
    ("code", "idempotent", "retry_after", "timed_out", "expected"),
    [
        pytest.param(429, False, 1.0, False, True, id="429-any-verb"),
        pytest.param(429, True, None, False, True, id="429-without-retry-after"),
        pytest.param(503, False, 2.0, False, True, id="503-retry-after-any-verb"),
        pytest.param(500, True, 0.0, False, True, id="500-retry-after"),
        pytest.param(500, True, None, False, False, id="500-fails-fast-even-idempotent"),
        pytest.param(503, True, None, False, False, id="503-fails-fast"),
        pytest.param(504, True, None, False, False, id="504-fails-fast"),
        pytest.param(None, True, None, False, True, id="reset-idempotent"),
        pytest.param(None, False, None, False, False, id="reset-create"),
        pytest.param(None, True, None, True, False, id="timed-out"),
        pytest.param(404, True, None, False, False, id="404-never"),
        pytest.param(409, True, 1.0, False, False, id="409-never"),
        pytest.param(410, True, None, False, False, id="410-never"),
    ],
)
def test_should_retry_matrix(
    code: int | None, idempotent: bool, retry_after: float | None, timed_out: bool, expected: bool
) -> None:
    policy = RetryPolicy()
    assert (
        policy.should_retry(0, code=code, idempotent=idempotent, retry_after=retry_after, timed_out=timed_out)
        is expected
    )


def test_retries_stop_after_max_retries() -> None:
    policy = RetryPolicy(max_retries=3)
    assert [policy.should_retry(i, code=429, idempotent=True) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_backoff_doubles_with_bounded_jitter_and_caps() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    for attempt, base in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(base <= d <= base * 1.5 for d in delays)


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(4, retry_after=2.0) == 2.0
    assert policy.delay(0, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=3600.0) == 30.0
