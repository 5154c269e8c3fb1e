"""Informers against the real kube-apiserver: list, watch, relist after 410, own writes, scopes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kubeloop.cache import Cache, CacheOptions, Informer, InformerEvent, InformerOptions, strip_managed_fields
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import FaultProxy, until
from kubeloop.testing.faults import Faults
from kubeloop.testing.fixtures import Cluster


def configmap(name: str, namespace: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"v": "1"},
    }


class Recorder:
    """An event handler that keeps (type, name, initial) of every event on the test's own objects
    (the controller manager adds ``kube-root-ca.crt`` to every namespace)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []

    def __call__(self, event: InformerEvent) -> None:
        if event.obj["metadata"]["name"] != "kube-root-ca.crt":
            self.events.append((event.type, event.obj["metadata"]["name"], event.initial))

    def of(self, name: str) -> list[str]:
        return [t for t, n, _ in self.events if n == name]


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Informer], None]]:
    """Start informers in background tasks, cancelled after the test."""
    tasks: list[asyncio.Task[None]] = []
    yield lambda inf: tasks.append(asyncio.create_task(inf.run()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_list_then_watch_delivers_initial_adds_then_live_changes_in_order(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    await client.create(configmap("before", namespace))
    informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespace=namespace))
    seen = Recorder()
    informer.add_handler(seen)
    running(informer)
    await informer.wait_synced()
    assert seen.events == [("add", "before", True)]
    await client.create(configmap("live", namespace))
    await client.patch("configmaps", "live", {"data": {"v": "2"}}, namespace=namespace)
    await client.delete("configmaps", "live", namespace=namespace)
    await until(lambda: seen.of("live") == ["add", "update", "delete"], what="add, update, delete of 'live'")
    assert ("add", "live", False) in seen.events
    assert informer.get(namespace, "live") is None
    assert informer.get(namespace, "before")["data"] == {"v": "1"}  # type: ignore[index]


async def test_handler_added_after_sync_gets_stored_objects_as_initial_adds(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    await client.create(configmap("a", namespace))
    informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespace=namespace))
    running(informer)
    await informer.wait_synced()
    late = Recorder()
    informer.add_handler(late)
    assert late.events == [("add", "a", True)]


async def test_expired_resource_version_relists_and_delivers_only_the_differences(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    for name in ("keep", "change", "remove"):
        await client.create(configmap(name, namespace))
    informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespace=namespace))
    first = asyncio.create_task(informer.run())
    await informer.wait_synced()
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)

    await client.patch("configmaps", "change", {"data": {"v": "2"}}, namespace=namespace)
    await client.delete("configmaps", "remove", namespace=namespace)
    await client.create(configmap("new", namespace))
    seen = Recorder()
    informer.add_handler(seen)
    seen.events.clear()
    informer._resource_versions[namespace] = "1"  # older than the watch window: the watch answers 410
    running(informer)
    await until(lambda: len(seen.events) == 3, what="three differences after the relist")
    assert sorted(seen.events) == [
        ("add", "new", False),
        ("delete", "remove", False),
        ("update", "change", False),
    ]
    assert informer.get(namespace, "change")["data"] == {"v": "2"}  # type: ignore[index]


async def test_reads_see_own_writes_before_the_watch_delivers_them(client: Client, namespace: str) -> None:
    informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespace=namespace))
    task = asyncio.create_task(informer.run())
    await informer.wait_synced()
    task.cancel()  # no watch: only observe() can make the cache know about the writes below
    await asyncio.gather(task, return_exceptions=True)
    created = await client.create(configmap("mine", namespace))
    informer.observe(created)
    assert informer.get(namespace, "mine") == created
    patched = await client.patch("configmaps", "mine", {"data": {"v": "2"}}, namespace=namespace)
    informer.observe(patched)
    informer.observe(created)  # an older copy arriving late does not win
    assert informer.get(namespace, "mine")["data"] == {"v": "2"}  # type: ignore[index]
    assert "mine" in [o["metadata"]["name"] for o in informer.list(namespace)]
    await client.delete("configmaps", "mine", namespace=namespace)
    informer.observe_deleted(namespace, "mine")
    assert informer.get(namespace, "mine") is None
    assert "mine" not in [o["metadata"]["name"] for o in informer.list(namespace)]


async def test_a_relist_drops_own_writes_of_objects_deleted_meanwhile(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespace=namespace))
    first = asyncio.create_task(informer.run())
    await informer.wait_synced()
    first.cancel()  # the watch is down while the object below is written, then deleted by another party
    await asyncio.gather(first, return_exceptions=True)
    informer.observe(await client.create(configmap("resurrected", namespace)))
    assert informer.get(namespace, "resurrected") is not None
    await client.delete("configmaps", "resurrected", namespace=namespace)
    await client.create(configmap("marker", namespace))
    seen = Recorder()
    informer.add_handler(seen)
    seen.events.clear()
    informer._resource_versions[namespace] = "1"  # older than the watch window: the watch answers 410
    running(informer)
    await until(lambda: ("add", "marker", False) in seen.events, what="the relist")
    assert informer.get(namespace, "resurrected") is None
    listed = await client.list("configmaps", namespace=namespace)
    server = sorted(o["metadata"]["name"] for o in listed["items"])
    assert sorted(o["metadata"]["name"] for o in informer.list(namespace)) == server


async def test_label_selector_scopes_what_is_cached(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    await client.create(configmap("web", namespace, app="web"))
    await client.create(configmap("db", namespace, app="db"))
    informer = Informer(
        client,
        await client.resource("configmaps"),
        InformerOptions(namespace=namespace, label_selector="app=web", transform=strip_managed_fields),
    )
    running(informer)
    await informer.wait_synced()
    stored = informer.list()
    assert [o["metadata"]["name"] for o in stored] == ["web"]
    assert "managedFields" not in stored[0]["metadata"]


async def test_cache_shares_one_informer_per_resource_and_scope_and_starts_late_ones(
    client: Client, namespace: str
) -> None:
    cache = Cache(client, CacheOptions(default=InformerOptions(namespace=namespace)))
    first = await cache.informer("configmaps")
    assert await cache.informer("cm") is first
    assert await cache.informer("configmaps", label_selector="a=b") is not first
    runner = asyncio.create_task(cache.run())
    try:
        await cache.wait_synced()
        late = await cache.informer("secrets")
        await asyncio.wait_for(late.wait_synced(), 15)
        assert cache.synced
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_periodic_resync_redelivers_stored_objects_as_updates(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    await client.create(configmap("steady", namespace))
    informer = Informer(
        client, await client.resource("configmaps"), InformerOptions(namespace=namespace, resync_period=0.2)
    )
    resynced: list[InformerEvent] = []
    informer.add_handler(lambda e: resynced.append(e) if e.type == "update" and e.old is e.obj else None)
    running(informer)
    await until(
        lambda: len({e.obj["metadata"]["name"] for e in resynced}) >= 1 and len(resynced) >= 2,
        what="two resyncs",
    )
    assert "steady" in {e.obj["metadata"]["name"] for e in resynced}


async def test_field_selector_scopes_what_is_cached(
    client: Client, namespace: str, running: Callable[[Informer], None]
) -> None:
    await client.create(configmap("wanted", namespace))
    await client.create(configmap("unwanted", namespace))
    informer = Informer(
        client,
        await client.resource("configmaps"),
        InformerOptions(namespace=namespace, field_selector="metadata.name=wanted"),
    )
    running(informer)
    await informer.wait_synced()
    assert [o["metadata"]["name"] for o in informer.list()] == ["wanted"]
    await client.patch("configmaps", "unwanted", {"data": {"v": "2"}}, namespace=namespace)
    await client.patch("configmaps", "wanted", {"data": {"v": "3"}}, namespace=namespace)
    await until(
        lambda: (informer.get(namespace, "wanted") or {}).get("data") == {"v": "3"}, what="update seen"
    )
    assert informer.get(namespace, "unwanted") is None


@contextlib.asynccontextmanager
async def through_a_proxy(
    cluster: Cluster,
    namespace: str,
    running: Callable[[Informer], None],
    tmp_path: Path,
    faults: Faults | None = None,
) -> AsyncIterator[tuple[FaultProxy, Informer]]:
    """A fault proxy in front of the cluster (with ``faults`` from the start) and a running informer of
    ``namespace``'s ConfigMaps through it, synced."""
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True) as proxy:
        proxy.faults = faults or Faults()
        kubeconfig = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        async with await Client.load(kubeconfig, settings=ClientSettings(qps=None)) as through_proxy:
            informer = Informer(
                through_proxy,
                await through_proxy.resource("configmaps"),
                InformerOptions(namespace=namespace),
            )
            running(informer)
            await informer.wait_synced()
            yield proxy, informer


async def test_a_watch_cut_every_few_seconds_resumes_at_once_instead_of_backing_off_further(
    cluster: Cluster, client: Client, namespace: str, running: Callable[[Informer], None], tmp_path: Path
) -> None:
    """Regression: every broken watch counted as a failure, so a connection cut every 3 s pushed the
    backoff to 8 s and then 16 s, and the cache missed changes for that long."""
    async with through_a_proxy(cluster, namespace, running, tmp_path) as (proxy, informer):
        proxy.cut_every(3.0)
        # six cuts (the proxy's, on a busy machine later than every 3 s): the old backoff was 8 s by
        # now, 16 s after the next
        await until(lambda: proxy.stats.cuts >= 6, within=300, what="six cuts")
        await client.create(configmap("after-cuts", namespace))
        await until(
            lambda: informer.get(namespace, "after-cuts") is not None, within=4, what="the change seen"
        )


async def test_a_watch_cut_every_second_while_it_brings_events_resumes_at_once(
    cluster: Cluster,
    client: Client,
    namespace: str,
    running: Callable[[Informer], None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression (found by the chaos suite's full form, 1,000 AppServices with connections cut every
    second): a watch that broke within 2 s counted as a failure even when it had brought events, so
    the backoff reached 30 s and the cache was blind most of the time."""
    async with through_a_proxy(cluster, namespace, running, tmp_path) as (proxy, informer):
        await client.create(configmap("busy", namespace))
        with caplog.at_level(logging.WARNING, logger="kubeloop.cache"):
            proxy.cut_every(1.0)
            for n in range(60):  # a change every 0.2 s for 12 s: every watch has news
                await client.patch("configmaps", "busy", {"data": {"n": str(n)}}, namespace=namespace)
                await asyncio.sleep(0.2)
            proxy.cut_every(None)
        assert proxy.stats.cuts >= 8
        delays = [
            float(m) for r in caplog.records for m in re.findall(r"retrying in ([0-9.]+) s", r.getMessage())
        ]
        assert delays, "no broken watch was logged"
        # a watch cut before its first event backs off a step or two; none reaches 4 s (the old
        # code: 0.5, 1, 2, 4, 8 ... s, as every watch lived less than 2 s)
        assert max(delays) < 4.0, delays
        await until(
            lambda: ((informer.get(namespace, "busy") or {}).get("data") or {}).get("n") == "59",
            within=10,
            what="the last change seen",
        )


def paced_watches(seconds: float) -> int:
    """The most watches an informer makes in ``seconds`` when each ends with no event: the first, then
    one after each wait of its backoff (0.5 s doubling, jittered down by a fifth: at least 0.4 s), or at
    once after a watch that itself lasted a second (on a busy machine a watch's round trip can). Load
    only lengthens both, so this holds on a busy machine too; the exact schedule is a unit test's."""
    return 1 + int(seconds / 0.4)


async def test_a_server_ending_every_watch_at_once_gets_watches_at_a_backed_off_pace(
    cluster: Cluster, client: Client, namespace: str, running: Callable[[Informer], None], tmp_path: Path
) -> None:
    """Regression: a watch the server ended cleanly was followed by the next at once, so a server or
    proxy that ends every watch at once got a busy loop of watch requests (client-go backs off after
    such a "very short watch"). The cache still syncs, and sees changes once watches last again."""
    await client.create(configmap("before", namespace))
    ending = Faults(end_watch_share=1.0, only="watch=true")
    async with through_a_proxy(cluster, namespace, running, tmp_path, ending) as (proxy, informer):
        assert informer.get(namespace, "before") is not None
        await until(lambda: proxy.stats.ended_watches >= 1, what="the first watch ended")
        started, before = time.monotonic(), proxy.stats.ended_watches
        await asyncio.sleep(8.0)
        watches, seconds = proxy.stats.ended_watches - before, time.monotonic() - started
        # the old code: a watch every few milliseconds, 850 in 6 s
        assert watches <= paced_watches(seconds), (watches, seconds)
        proxy.faults = Faults()
        await client.create(configmap("after", namespace))
        await until(lambda: informer.get(namespace, "after") is not None, within=60, what="the change seen")
