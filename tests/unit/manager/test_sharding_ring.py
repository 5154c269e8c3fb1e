"""The consistent-hash ring with bounded load, and shard membership judged from Leases on the local clock."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

from kubeloop.clock import FakeClock
from kubeloop.manager import Membership, shard_assignment
from kubeloop.manager._ring import place

OBJECTS = [f"ns-{i % 7}/app-{i}" for i in range(3000)]


def test_every_object_is_placed_the_same_way_whatever_the_order_of_the_inputs() -> None:
    one = shard_assignment(OBJECTS, ["a", "b", "c"])
    other = shard_assignment(list(reversed(OBJECTS)), ["c", "a", "b"])
    assert one == other
    assert set(one) == set(OBJECTS)
    assert set(one.values()) == {"a", "b", "c"}


def test_no_shard_holds_more_than_the_bound() -> None:
    for shards in (["a"], ["a", "b"], ["a", "b", "c", "d", "e"]):
        placed = shard_assignment(OBJECTS, shards, epsilon=0.1)
        bound = math.ceil(1.1 * len(OBJECTS) / len(shards))
        loads = [list(placed.values()).count(s) for s in shards]
        assert max(loads) <= bound, loads


def test_each_shard_holds_its_share_within_10_percent_of_the_average() -> None:
    # The shards' caches are what the objects cost, so a share far above the average is memory a
    # replica keeps for the others (at 10,000 apps over 4 replicas with 100 points a shard: 2,874
    # where the average is 2,500). Identities as kubeloop makes them: <host>-<8 hex>.
    objects = [f"app.example.com/AppService/ns-{i % 3}/app-{i}" for i in range(10_000)]
    for count in range(2, 11):
        shards = [f"appservice-operator-{i:x}{i * 7919:07x}" for i in range(count)]
        loads = Counter(shard_assignment(objects, shards).values())
        assert max(loads.values()) <= 1.1 * len(objects) / count, (count, sorted(loads.values()))


def test_a_shard_joining_takes_about_its_share_and_moves_little_else() -> None:
    before = shard_assignment(OBJECTS, ["a", "b", "c"])
    after = shard_assignment(OBJECTS, ["a", "b", "c", "d"])
    moved = [o for o in OBJECTS if before[o] != after[o]]
    to_d = [o for o in moved if after[o] == "d"]
    assert len(to_d) >= 0.2 * len(OBJECTS)  # about a quarter
    assert len(moved) <= 0.4 * len(OBJECTS)  # the newcomer's share and a few the bound pushes on


def test_a_shard_leaving_moves_only_about_its_own_objects() -> None:
    before = shard_assignment(OBJECTS, ["a", "b", "c"])
    after = shard_assignment(OBJECTS, ["a", "b"])
    moved = [o for o in OBJECTS if before[o] != after[o]]
    assert {o for o in OBJECTS if before[o] == "c"} <= set(moved)
    others = [o for o in moved if before[o] != "c"]
    assert len(others) <= 0.15 * len(OBJECTS)  # only those the bound pushes on


def test_without_shards_nothing_is_placed() -> None:
    assert shard_assignment(OBJECTS, []) == {}


def lease(identity: str, holder: str, renew: str, seconds: int = 10) -> dict[str, object]:
    spec = {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": seconds}
    return {"metadata": {"name": f"op-shard-{identity}"}, "spec": spec}


async def test_a_shard_lives_while_its_lease_changes_and_is_orphaned_a_duration_after_it_stopped() -> None:
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.observe(
        [lease("a", "a", "t1"), lease("b", "b", "t1"), {"metadata": {"name": "other"}, "spec": {}}]
    )
    assert members.alive() == ["a", "b"]
    await clock.advance(6)
    members.observe([lease("a", "a", "t2"), lease("b", "b", "t1")])  # b stopped renewing
    await clock.advance(6)
    assert members.alive() == ["a"]
    assert members.orphaned("b")
    assert not members.orphaned("a")
    members.observe([lease("b", "a", "t4")])  # b handed to a: a may reconcile its objects
    assert members.holder("b") == "a"
    assert not members.orphaned("b")
    assert members.alive() == ["a"]
    members.observe([lease("a", "", "t3", 1)])  # a released its Lease on a graceful stop
    assert members.alive() == []
    assert members.orphaned("a")


async def test_a_lease_deleted_by_hand_counts_as_not_renewed_and_an_unknown_shard_is_gone_after_a_while() -> (
    None
):
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.observe([lease("a", "a", "t1")])
    assert not members.orphaned("ghost")  # not seen yet: maybe not listed yet
    await clock.advance(5)
    members.observe([])  # deleted by hand: its replica recreates it at its next renewal
    assert members.alive() == ["a"]
    members.observe([lease("a", "a", "t2")])
    await clock.advance(8)
    assert members.alive() == ["a"]
    assert members.orphaned("ghost")  # never seen in a whole lease duration


class _Leases:
    """Lists two shards' Leases after ``latency`` seconds: b renews all along, a stops at ``a_stops``."""

    def __init__(self, clock: FakeClock, latency: float, a_stops: float) -> None:
        self.clock, self.latency, self.a_stops = clock, latency, a_stops

    async def list(self, ref: str, *, namespace: str | None = None) -> dict[str, object]:
        await self.clock.sleep(self.latency)
        now = self.clock.now()
        return {"items": [lease("a", "a", f"{min(now, self.a_stops):.2f}"), lease("b", "b", f"{now:.2f}")]}


async def test_a_stopped_shard_is_found_gone_by_a_listing_timed_to_its_lease_s_expiry() -> None:
    # Listings take 0.05 s and come every 1 s: the last one showing a's renewal ends at 2.15, so a's
    # Lease expires at 12.15 on this clock. A listing is due then, not at the next period (12.65).
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    task = asyncio.create_task(members.run(_Leases(clock, 0.05, 2.1), "ns", 1.0))  # type: ignore[arg-type]
    try:
        await asyncio.sleep(0)  # the first listing starts at 0
        await clock.advance(3)
        assert members.alive() == ["a", "b"]
        members.changed.clear()
        while not members.changed.is_set():
            assert clock.now() < 14
            await clock.advance(0.01)
        assert members.alive() == ["b"]
        assert members.orphaned("a")
        assert 12.15 < clock.now() <= 12.15 + 0.05 + 0.011
    finally:
        task.cancel()


def test_placing_objects_given_with_handles_places_them_as_by_identity() -> None:
    # The sharder keeps the ring's answer by the strings its record holds, not by the identity strings
    # hashed (1.1 MiB at 10,000 objects): the same placement.
    identities = {f"g/Kind/ns/app-{i}": ("ns", f"app-{i}") for i in range(500)}
    by_identity = shard_assignment(identities, ["a", "b", "c"])
    placed = dict(place(identities, ["a", "b", "c"]))
    assert placed == {identities[identity]: shard for identity, shard in by_identity.items()}
    assert dict(place(identities, [])) == {}
