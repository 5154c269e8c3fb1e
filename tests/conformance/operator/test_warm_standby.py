"""Warm standby on the real API server: a follower keeps its caches synced while another replica
leads, so once it acquires the Lease it starts reconciling without listing anything again (within
1 s as the issue asks; the test asserts the order of events and a bound generous enough for a loaded
machine, and prints the gap); and the priority of the initial list's keys is an option."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.manager import LeaderElectionOptions, ManagerOptions
from kubeloop.queue import NORMAL
from kubeloop.testing import run_operator, until
from kubeloop.testing.fixtures import Cluster

pytestmark = pytest.mark.usefixtures("gadget_crd")


class Acquisitions(logging.Handler):
    """The wall-clock time of each identity's 'acquired lease' log record, and what ``on_acquire``
    saw at that moment (the record is emitted by the elector's task as the write succeeds)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[str, float] = {}
        self.probes: dict[str, Any] = {}
        self.on_acquire: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for identity, probe in self.on_acquire.items():
            if message.startswith(f"{identity}: acquired lease"):
                self.at[identity] = record.created
                self.probes[identity] = probe()


@pytest.fixture
def acquisitions() -> Iterator[Acquisitions]:
    handler = Acquisitions()
    logger = logging.getLogger("kubeloop.manager.leader")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def replica(namespace: str, identity: str, starts: list[tuple[str, str, float]]) -> kl.Operator:
    operator = kl.Operator("warm-standby-test", namespace=namespace)

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        starts.append((identity, g.metadata.name or "", time.time()))

    return operator


def elected(namespace: str, identity: str) -> ManagerOptions:
    return ManagerOptions(
        leader_election=LeaderElectionOptions(
            lease_namespace=namespace,
            identity=identity,
            lease_duration=2,
            renew_deadline=1.5,
            retry_period=0.25,
        ),
        graceful_shutdown_timeout=2,
    )


async def test_a_follower_with_synced_caches_starts_reconciling_at_once_when_it_acquires_the_lease(
    cluster: Cluster, client: Client, namespace: str, acquisitions: Acquisitions
) -> None:
    for i in range(20):
        await client.create({**gadget(f"g{i}"), "metadata": {"name": f"g{i}", "namespace": namespace}})
    starts: list[tuple[str, str, float]] = []
    a, b = replica(namespace, "replica-a", starts), replica(namespace, "replica-b", starts)
    async with run_operator(a, cluster.kubeconfig, elected(namespace, "replica-a")) as leader:
        await until(lambda: len({n for i, n, _ in starts if i == "replica-a"}) == 20, what="a reconciled all")
        async with run_operator(b, cluster.kubeconfig, elected(namespace, "replica-b")) as follower:
            lists: list[float] = []
            client_b = follower.client
            listing = client_b.list

            async def counted_list(*args: Any, **kwargs: Any) -> Any:
                lists.append(time.time())
                return await listing(*args, **kwargs)

            client_b.list = counted_list  # type: ignore[method-assign]
            acquisitions.on_acquire["replica-b"] = lambda: (
                follower.cache.synced,
                [len(i.store) for i in follower.cache.informers],
            )
            await asyncio.sleep(1.0)  # b follows, its cache synced, while a leads
            assert not [s for s in starts if s[0] == "replica-b"], "the follower reconciled"
            await client.create({**gadget("live"), "metadata": {"name": "live", "namespace": namespace}})
            leader.stop()  # a graceful stop releases the Lease: b takes it at its next poll
            await until(lambda: any(s[0] == "replica-b" for s in starts), within=15, what="b reconciles")
            await until(
                lambda: len({n for i, n, _ in starts if i == "replica-b"}) == 21, what="b reconciled all"
            )
    acquired = acquisitions.at["replica-b"]
    synced, sizes = acquisitions.probes["replica-b"]
    first = min(t for i, _, t in starts if i == "replica-b")
    print(f"\nfollower: first reconcile {1000 * (first - acquired):.0f} ms after acquiring the Lease")
    assert synced, "the follower's caches were not synced when it acquired the Lease"
    assert sizes == [21], "the follower's cache did not hold every Gadget when it acquired the Lease"
    assert not lists, "the follower listed again after it acquired the Lease"
    assert acquired <= first
    assert first - acquired < 5.0  # the goal is 1 s; generous for a loaded machine


@pytest.mark.parametrize(("priority", "live_last"), [(None, False), (NORMAL, True)], ids=["low", "normal"])
async def test_the_initial_list_priority_is_an_option(
    cluster: Cluster, client: Client, namespace: str, priority: int | None, live_last: bool
) -> None:
    for i in range(15):
        await client.create({**gadget(f"g{i}"), "metadata": {"name": f"g{i}", "namespace": namespace}})
    operator = kl.Operator("initial-priority-test", namespace=namespace)
    order: list[str] = []
    created = asyncio.Event()
    keywords = {} if priority is None else {"initial_priority": priority}

    @operator.reconcile(Gadget, max_concurrent_reconciles=1, **keywords)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        order.append(g.metadata.name or "")
        await created.wait()  # the live event is queued while the first initial key runs
        await asyncio.sleep(0.02)

    async with run_operator(operator, cluster.kubeconfig):
        await until(lambda: bool(order), what="the first reconcile")
        await client.create({**gadget("live"), "metadata": {"name": "live", "namespace": namespace}})
        await until(
            lambda: operator.manager is not None and len(operator.manager.controllers[0].queue) == 15,
            what="the live key queued",
        )
        created.set()
        await until(lambda: len(order) == 16, what="every key reconciled")
    assert (order[-1] == "live") is live_last, order
    if not live_last:
        assert order[1] == "live", order
