"""Leader election decisions on a fake clock, against an in-memory Lease store.

The store mimics the API server's optimistic concurrency (resourceVersion conflicts); the real API
server is exercised by tests/conformance/manager/test_leader_election.py.
"""

import asyncio
import copy
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubeloop.client.errors import AlreadyExistsError, ConflictError, InternalError, NotFoundError
from kubeloop.clock import FakeClock
from kubeloop.manager import (
    LeaderElectionLost,
    LeaderElectionOptions,
    LeaderElector,
    default_identity,
)

NS, NAME = "ops", "my-operator"


def status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "code": code, "reason": reason}


@dataclass
class FakeLeases:
    """Leases by (namespace, name) with resourceVersion checks; knobs to fail or hang requests."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    fail: Exception | None = None
    hang: bool = False
    conflict_next: bool = False
    lose_answers: bool = False  # writes land, then the caller gets a 409 (its retry's answer)
    writes: list[dict[str, Any]] = field(default_factory=list)
    cancelled_requests: int = 0
    clock: FakeClock | None = None
    reads: list[float] = field(default_factory=list)  # when each get was asked for (needs ``clock``)
    held: asyncio.Event | None = None  # requests wait until it is set

    async def _gate(self) -> None:
        if self.held is not None:
            await self.held.wait()
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled_requests += 1
                raise
        if self.fail is not None:
            raise self.fail

    async def get(self, ref: str, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        assert ref == "coordination.k8s.io/v1/Lease"
        if self.clock is not None:
            self.reads.append(self.clock.now())
        await self._gate()
        obj = self.objects.get((namespace or "", name))
        if obj is None:
            raise NotFoundError(status(404, "NotFound"))
        return copy.deepcopy(obj)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self._gate()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if key in self.objects:
            raise AlreadyExistsError(status(409, "AlreadyExists"))
        return self._store(key, obj)

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        await self._gate()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        current = self.objects[key]
        if self.conflict_next or obj["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            self.conflict_next = False
            raise ConflictError(status(409, "Conflict"))
        stored = self._store(key, obj)
        if self.lose_answers:
            raise ConflictError(status(409, "Conflict"))
        return stored

    def _store(self, key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = stored
        self.writes.append(copy.deepcopy(stored["spec"]))
        return copy.deepcopy(stored)

    def put(self, **spec: Any) -> None:
        """Write the Lease as another party would (no precondition)."""
        meta = {"name": NAME, "namespace": NS, "resourceVersion": "0"}
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}
        self._store((NS, NAME), lease)

    @property
    def spec(self) -> dict[str, Any]:
        return self.objects[(NS, NAME)]["spec"]


def options(clock: FakeClock, identity: str = "me", **overrides: Any) -> LeaderElectionOptions:
    return LeaderElectionOptions(NAME, NS, identity=identity, clock=clock, **overrides)


@dataclass
class Work:
    """The leader-only work: records start and cancellation, runs until told to finish."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False
    finish: asyncio.Event = field(default_factory=asyncio.Event)
    error: Exception | None = None

    async def __call__(self) -> None:
        self.started.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float, step: float = 0.1) -> None:
    """Move the clock in small steps so every poll runs when it is due."""
    end = clock.now() + seconds
    while clock.now() < end - 1e-9:
        await clock.advance(min(step, end - clock.now()))
        await settle()


def start(elector: LeaderElector, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    return asyncio.create_task(elector.run(work))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "overrides",
    [
        {"retry_period": 0},
        {"renew_deadline": 2.0, "retry_period": 2.0},
        {"lease_duration": 10.0, "renew_deadline": 10.0},
        {"identity": ""},
    ],
    ids=["retry-zero", "deadline-within-jittered-retry", "duration-not-above-deadline", "empty-identity"],
)
def test_options_reject_unsafe_timings(overrides: dict[str, Any]):
    with pytest.raises(ValueError):  # noqa: PT011
        LeaderElectionOptions(NAME, NS, **{"identity": "me", **overrides})


def test_default_identity_is_the_hostname_plus_a_unique_suffix():
    import socket

    one, two = default_identity(), default_identity()
    assert one.startswith(socket.gethostname() + "_")
    assert one != two


async def test_creates_a_missing_lease_and_runs_the_work_as_leader():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    assert work.started.is_set()
    assert elector.is_leader
    assert elector.leader_identity == "me"
    assert leases.spec["holderIdentity"] == "me"
    assert leases.spec["leaseDurationSeconds"] == 15
    assert leases.spec["leaseTransitions"] == 0
    assert leases.spec["acquireTime"] == leases.spec["renewTime"]
    await stop(task)


async def test_renews_every_retry_period_keeping_acquire_time_and_transitions():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    task = start(LeaderElector(leases, options(clock)), work)
    await settle()
    acquired = dict(leases.spec)
    await advance(clock, 12)
    renewals = leases.writes[1:]
    # one renewal every 2 to 2.4 s (retry_period plus jitter): 5 or 6 in 12 s
    assert 5 <= len(renewals) <= 6
    assert all(w["holderIdentity"] == "me" for w in renewals)
    assert all(w["acquireTime"] == acquired["acquireTime"] for w in renewals)
    assert all(w["leaseTransitions"] == 0 for w in renewals)
    await stop(task)


async def test_waits_a_full_lease_duration_from_its_own_observation_even_when_renew_time_is_ancient():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    leases.put(
        holderIdentity="other",
        leaseDurationSeconds=15,
        acquireTime="2000-01-01T00:00:00.000000Z",
        renewTime="2000-01-01T00:00:00.000000Z",  # the remote clock says long expired: not trusted
        leaseTransitions=4,
    )
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    assert not elector.is_leader
    assert elector.leader_identity == "other"
    await advance(clock, 14.9)
    assert not elector.is_leader
    assert not work.started.is_set()
    await advance(clock, 2.5)  # the first poll at or after 15 s takes it (polls are <= 2.4 s apart)
    assert elector.is_leader
    assert work.started.is_set()
    assert leases.spec["holderIdentity"] == "me"
    assert leases.spec["leaseTransitions"] == 5
    await stop(task)


async def test_a_crashed_leaders_lease_is_taken_the_moment_it_expires_on_the_followers_clock():
    clock = FakeClock()
    leases = FakeLeases(clock=clock)
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t0", leaseTransitions=0)
    elector = LeaderElector(leases, options(clock))
    led_at: list[float] = []

    async def work() -> None:
        led_at.append(clock.now())
        await asyncio.Event().wait()

    task = start(elector, work)
    await advance(clock, 5.05, step=0.05)
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t1", leaseTransitions=0)
    renewed = clock.now()  # the holder's last renewal: it crashes now
    await advance(clock, 3, step=0.05)
    observed = min(t for t in leases.reads if t > renewed)
    # it saw the renewal within half a jittered retry period ...
    assert observed - renewed <= 2.0 * 1.2 / 2 + 0.05
    await advance(clock, observed + 15 - clock.now() - 0.01, step=0.05)
    assert not elector.is_leader, "never before the lease observed expires"
    # The expiry is a float sum (observed + 15) that can round a nanosecond past the fake clock's
    # whole-nanosecond now; a microsecond's slack still tells "at the expiry" from "at the next read".
    await advance(clock, 0.01 + 1e-6)
    # ... and took it when it expired on its own clock, not at its next read after that
    assert elector.is_leader
    assert led_at == [pytest.approx(observed + 15, abs=1e-6)]
    await stop(task)


async def test_a_follower_reads_the_lease_every_half_retry_period_while_another_holds_it():
    clock = FakeClock()
    leases = FakeLeases(clock=clock)
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t0", leaseTransitions=0)
    task = start(LeaderElector(leases, options(clock)), Work())
    await advance(clock, 12, step=0.05)
    gaps = [b - a for a, b in itertools.pairwise(leases.reads)]
    assert all(1.0 - 1e-6 <= gap <= 1.2 + 1e-6 for gap in gaps), gaps
    assert len(leases.reads) >= 11
    await stop(task)


async def test_a_failed_attempt_on_an_expired_lease_waits_a_retry_period_not_at_once():
    clock = FakeClock()
    leases = FakeLeases(clock=clock)
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t0", leaseTransitions=0)
    elector = LeaderElector(leases, options(clock))
    task = start(elector, Work())
    await advance(clock, 14, step=0.05)
    leases.fail = InternalError(status(500, "InternalError"))
    before = len(leases.reads)
    await advance(clock, 4, step=0.05)
    assert not elector.is_leader
    # failed attempts after the expiry stay half a retry period apart (no hot loop)
    assert len(leases.reads) - before <= 4
    leases.fail = None
    await advance(clock, 1.3, step=0.05)
    assert elector.is_leader
    await stop(task)


async def test_never_takes_a_lease_whose_holder_keeps_renewing():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t0", leaseTransitions=0)

    async def other_renews() -> None:
        n = 0
        while True:
            await clock.sleep(5)
            n += 1
            leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime=f"t{n}", leaseTransitions=0)

    renewer = asyncio.create_task(other_renews())
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await advance(clock, 60, step=0.5)
    assert not elector.is_leader
    assert leases.spec["holderIdentity"] == "other"
    renewer.cancel()
    await stop(task)


async def test_a_released_lease_is_taken_on_the_next_poll():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    leases.put(holderIdentity="other", leaseDurationSeconds=15, renewTime="t0", leaseTransitions=2)
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await advance(clock, 3)
    assert not elector.is_leader
    leases.put(holderIdentity="", leaseDurationSeconds=1, renewTime="t1", leaseTransitions=2)
    await advance(clock, 2.5)
    assert elector.is_leader
    assert leases.spec["leaseTransitions"] == 3
    await stop(task)


async def test_losing_the_write_race_to_a_conflict_is_not_leading():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    leases.put(holderIdentity="", leaseDurationSeconds=1, renewTime="t0", leaseTransitions=0)
    leases.conflict_next = True
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    assert not elector.is_leader
    await advance(clock, 2.5)  # the next attempt has no conflict
    assert elector.is_leader
    await stop(task)


async def test_steps_down_when_renewals_fail_for_the_renew_deadline():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await advance(clock, 5)
    leases.fail = InternalError(status(500, "InternalError"))
    failing_since = clock.now()
    # the last renewal succeeded at most 2.4 s before the failures began; the deadline is 10 s
    await advance(clock, 7.5)
    assert elector.is_leader
    assert not task.done()
    await advance(clock, 2.6)
    assert task.done()
    assert clock.now() - failing_since <= 10.1
    with pytest.raises(LeaderElectionLost):
        await task
    assert work.cancelled
    assert not elector.is_leader


async def test_a_renewal_that_landed_counts_though_its_answer_was_lost():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    leases.lose_answers = True  # every renewal is applied, and its caller hears 409
    await advance(clock, 30)
    assert elector.is_leader
    assert not task.done()
    assert len(leases.writes) >= 12
    assert leases.spec["holderIdentity"] == "me"
    await stop(task)


async def test_a_lost_write_race_is_not_mistaken_for_a_landed_write():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    leases.put(holderIdentity="", leaseDurationSeconds=1, renewTime="t0", leaseTransitions=0)
    leases.conflict_next = True  # rejected: the Lease does not hold our write
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    assert not elector.is_leader
    assert not work.started.is_set()
    await stop(task)


async def test_a_hanging_renewal_is_cut_off_at_the_renew_deadline():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    leases.hang = True
    await advance(clock, 10.2)
    assert task.done()
    with pytest.raises(LeaderElectionLost):
        await task
    assert leases.cancelled_requests == 1
    assert work.cancelled


async def test_steps_down_at_once_when_another_replica_holds_the_lease():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await advance(clock, 3)
    leases.put(holderIdentity="usurper", leaseDurationSeconds=15, renewTime="x", leaseTransitions=1)
    await advance(clock, 2.5)  # one renew attempt sees it
    assert task.done()
    with pytest.raises(LeaderElectionLost):
        await task
    assert elector.leader_identity == "usurper"
    assert leases.spec["holderIdentity"] == "usurper"


async def test_cancelling_run_cancels_the_work_then_releases_the_lease():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await advance(clock, 3)
    await stop(task)
    assert work.cancelled
    assert not elector.is_leader
    assert leases.spec["holderIdentity"] == ""
    assert leases.spec["leaseDurationSeconds"] == 1
    assert elector.leader_identity is None


async def test_without_release_on_cancel_the_lease_stays_held_as_after_a_crash():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock, release_on_cancel=False))
    task = start(elector, work)
    await settle()
    await stop(task)
    assert leases.spec["holderIdentity"] == "me"
    assert leases.spec["leaseDurationSeconds"] == 15


async def test_work_that_returns_ends_run_and_releases_the_lease():
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    work.finish.set()
    await task
    assert leases.spec["holderIdentity"] == ""


@pytest.mark.parametrize("rounds", range(6), ids=lambda n: f"cancel-after-{n}-rounds")
async def test_a_cancel_soon_after_the_work_returned_lets_the_release_finish(rounds: int):
    # How a manager stops: its controllers return (the work ends: renewing stops, the release
    # starts), then it cancels the task running the elector, a few loop rounds later. The Lease is
    # released all the same (the release's requests held until after the cancel); then the cancel
    # goes on.
    clock, leases, work = FakeClock(), FakeLeases(), Work()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    leases.held = asyncio.Event()
    work.finish.set()
    await settle(rounds)
    task.cancel()
    await settle()
    leases.held.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leases.spec["holderIdentity"] == ""


async def test_work_that_raises_releases_the_lease_and_run_reraises():
    clock, leases, work = FakeClock(), FakeLeases(), Work(error=RuntimeError("boom"))
    elector = LeaderElector(leases, options(clock))
    task = start(elector, work)
    await settle()
    work.finish.set()
    with pytest.raises(RuntimeError, match="boom"):
        await task
    assert leases.spec["holderIdentity"] == ""


async def test_two_electors_on_one_lease_never_lead_together_and_hand_over_on_stop():
    clock, leases = FakeClock(), FakeLeases()
    a = LeaderElector(leases, options(clock, "a"))
    b = LeaderElector(leases, options(clock, "b"))
    ta, tb = start(a, Work()), start(b, Work())
    for _ in range(100):  # 30 s in 0.3 s steps
        await advance(clock, 0.3)
        assert a.is_leader + b.is_leader == 1
        leader = a if a.is_leader else b
        assert leases.spec["holderIdentity"] == leader.identity
    first, waiting = (a, b) if a.is_leader else (b, a)
    await stop(ta if first is a else tb)
    await advance(clock, 2.5)
    assert waiting.is_leader
    assert leases.spec["holderIdentity"] == waiting.identity
    await stop(tb if first is a else ta)


@dataclass
class StatusLog:
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def leader_status(self, name: str, leading: bool) -> None:
        self.calls.append((name, leading))


async def test_leader_status_metric_follows_leading():
    clock, leases, metrics = FakeClock(), FakeLeases(), StatusLog()
    elector = LeaderElector(leases, options(clock), metrics=metrics)
    task = start(elector, Work())
    await settle()
    await stop(task)
    assert metrics.calls == [(NAME, False), (NAME, True), (NAME, False)]


async def test_wait_until_leading_returns_once_elected():
    clock, leases = FakeClock(), FakeLeases()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, Work())
    await asyncio.wait_for(elector.wait_until_leading(), 1)
    assert elector.is_leader
    await stop(task)


async def test_run_twice_at_once_is_refused():
    clock, leases = FakeClock(), FakeLeases()
    elector = LeaderElector(leases, options(clock))
    task = start(elector, Work())
    await settle()
    with pytest.raises(RuntimeError, match="already running"):
        await elector.run(Work())
    await stop(task)


async def test_without_takeover_only_a_lease_naming_this_identity_is_taken_not_an_expired_one() -> None:
    # Adoption (the sharder hands a stopped shard's Lease to a replica by writing it in): the replica
    # takes only a Lease that names it already; another's, even long expired, or a free one, is left.
    clock = FakeClock()
    leases = FakeLeases()
    leases.put(holderIdentity="other", leaseDurationSeconds=1, renewTime="t0")
    await clock.advance(60)
    elector = LeaderElector(leases, options(clock, takeover=False))
    with pytest.raises(LeaderElectionLost, match="not handed to it"):
        await elector.run(Work())
    leases.put(holderIdentity="", leaseDurationSeconds=1, renewTime="t1")
    with pytest.raises(LeaderElectionLost, match="not handed to it"):
        await elector.run(Work())
    assert leases.spec["holderIdentity"] == ""

    leases.put(holderIdentity="me", leaseDurationSeconds=15, renewTime="t2")  # handed over
    work = Work()
    task = asyncio.create_task(elector.run(work))
    await settle()
    assert work.started.is_set()
    assert leases.spec["holderIdentity"] == "me"
    assert leases.spec["renewTime"] != "t2"  # its own write: the start counts from it
    work.finish.set()
    await task
    assert leases.spec["holderIdentity"] == ""  # released once the work returned
