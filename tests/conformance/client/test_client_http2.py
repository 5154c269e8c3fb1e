"""Watches over HTTP/2 against the real kube-apiserver (which offers ``h2``) and the embedded one (which
does not): streams share connections up to the server's limit, an abandoned watch frees its stream, server
errors keep their types, and a server without HTTP/2 gets HTTP/1.1 watches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

import psutil
import pytest
from yarl import URL

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings, ForbiddenError, GoneError, WatchEvent
from kubeloop.testing.fixtures import Cluster
from kubeloop.testing.objects import configmap
from kubeloop.testing.waiting import until

# What only a server offering h2 can show; the test of a server without it is below.
OVER_HTTP2 = pytest.mark.controlplane_only(
    "the embedded server speaks HTTP/1.1 only (docs/apiserver.md, Known differences: HTTP/2)"
)

STREAMS_PER_CONNECTION = 100  # kube-apiserver's HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS


async def first_added(events: AsyncGenerator[WatchEvent]) -> WatchEvent:
    """The first ADDED event; closing the watch at once (``aclosing``) ends its stream."""
    async with aclosing(events):
        async for event in events:
            if event.type == "ADDED":
                return event
    raise AssertionError("the watch ended before an ADDED event")


async def drain(events: AsyncGenerator[WatchEvent]) -> None:
    """Read a watch to its end (or its error) within 30 s."""
    async with asyncio.timeout(30):
        async for _ in events:
            pass


def connections_to(port: int) -> int:
    """TCP connections this process holds open to ``port`` on loopback."""
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@OVER_HTTP2
async def test_many_watches_share_few_connections_and_each_gets_its_events(
    client: Client, namespace: str, cluster: Cluster
) -> None:
    watches = 250
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    port = URL(client.transport.config.server).port or 443
    # Other clients of this process (other tests' fixtures) may hold connections to the same server.
    before = connections_to(port)
    tasks = [
        asyncio.create_task(
            first_added(
                client.watch(
                    "configmaps", namespace=namespace, resource_version=rv, label_selector=f"watch={i}"
                )
            )
        )
        for i in range(watches)
    ]
    await until(lambda: client.transport.http2_streams == watches, what=f"{watches} watch streams open")
    expected = -(-watches // STREAMS_PER_CONNECTION)
    assert client.transport.http2_connections == expected
    # The list's HTTP/1.1 connection was there before: what the watches opened is HTTP/2 connections.
    assert connections_to(port) - before <= expected
    for i in range(watches):
        cm = configmap(f"cm-{i}", namespace)
        cm["metadata"]["labels"] = {"watch": str(i)}
        await client.create(cm)
    async with asyncio.timeout(30):
        events = await asyncio.gather(*tasks)
    assert [e.object["metadata"]["name"] for e in events] == [f"cm-{i}" for i in range(watches)]
    assert client.transport.http2_streams == 0


@OVER_HTTP2
async def test_an_abandoned_watch_frees_its_stream_for_the_next(client: Client, namespace: str) -> None:
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    await client.create(configmap("one", namespace))
    for _ in range(3):
        event = await first_added(client.watch("configmaps", namespace=namespace, resource_version=rv))
        assert event.object["metadata"]["name"] == "one"
    assert client.transport.http2_streams == 0
    assert client.transport.http2_connections == 1


@OVER_HTTP2
async def test_a_watch_the_server_ends_ends_cleanly(client: Client, namespace: str) -> None:
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    watch = client.watch("configmaps", namespace=namespace, resource_version=rv, timeout_seconds=1)
    async with asyncio.timeout(30):
        events = [e async for e in watch]
    assert all(e.type == "BOOKMARK" for e in events)
    assert client.transport.http2_connections == 1
    assert client.transport.http2_streams == 0


@OVER_HTTP2
async def test_a_too_old_resource_version_raises_gone_over_http2(client: Client, namespace: str) -> None:
    with pytest.raises(GoneError):
        await drain(client.watch("configmaps", namespace=namespace, resource_version="1"))
    assert client.transport.http2_connections == 1


@OVER_HTTP2
async def test_an_error_status_keeps_its_type_over_http2(cluster: Cluster) -> None:
    kubeconfig = cluster.user_kubeconfig("h2-nobody")
    async with await Client.load(kubeconfig, settings=ClientSettings(qps=None)) as nobody:
        with pytest.raises(ForbiddenError, match="h2-nobody"):
            await drain(nobody.watch("configmaps", namespace="default"))
        assert nobody.transport.http2_connections == 1


async def test_http2_off_watches_over_http1(cluster: Cluster, namespace: str) -> None:
    settings = ClientSettings(qps=None, http2_watches=False)
    async with await Client.load(cluster.kubeconfig, settings=settings) as http1:
        rv = (await http1.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
        await http1.create(configmap("over-http1", namespace))
        event = await first_added(http1.watch("configmaps", namespace=namespace, resource_version=rv))
        assert event.object["metadata"]["name"] == "over-http1"
        assert http1.transport.http2_connections == 0


async def test_a_server_without_http2_gets_http1_watches(embedded_api_server: EmbeddedServer) -> None:
    async with await Client.load(embedded_api_server.kubeconfig, settings=ClientSettings(qps=None)) as api:
        rv = (await api.list("configmaps", namespace="default"))["metadata"]["resourceVersion"]
        await api.create(configmap("h2-fallback", "default"))
        for _ in range(2):  # the second watch must not try HTTP/2 again
            async with asyncio.timeout(30):
                event = await first_added(api.watch("configmaps", namespace="default", resource_version=rv))
            assert event.object["metadata"]["name"] == "h2-fallback"
        assert api.transport.http2_connections == 0
        await api.delete("configmaps", "h2-fallback", namespace="default")


@OVER_HTTP2
async def test_more_than_a_stream_window_passes_through_one_watch(client: Client, namespace: str) -> None:
    # three 0.9 MiB objects on one stream: more than its 1 MiB window, so they arrive only if the window
    # is handed back as the watch reads
    value = "".join(f"{i:07d}\n" for i in range(115_000))
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    for i in range(3):
        await client.create(configmap(f"big-{i}", namespace, blob=value))
    events: list[WatchEvent] = []
    watch = client.watch("configmaps", namespace=namespace, resource_version=rv)
    async with asyncio.timeout(30), aclosing(watch):
        async for event in watch:
            # not kube-root-ca.crt, which kube-controller-manager may add to the new namespace meanwhile
            if event.object["metadata"]["name"].startswith("big-"):
                events.append(event)
            if len(events) == 3:
                break
    assert [e.object["metadata"]["name"] for e in events] == ["big-0", "big-1", "big-2"]
    assert all(e.object["data"]["blob"] == value for e in events)
    assert client.transport.http2_connections == 1
