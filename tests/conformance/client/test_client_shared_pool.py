"""Clients of one server share the process's connections (``kubeloop.client.pool``), on the real
kube-apiserver: what one client's burst opened serves the next client's, their watches share an
HTTP/2 connection, and closing one client leaves the others' requests and watches running. Through
a pass-through ``FaultProxy``, so that the connections to its port are these clients' alone (the
session's other clients reach the server directly). The restart of kube-apiserver under clients
that share a pool: tests/conformance/testing/test_controlplane_faults.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import psutil
import pytest
from yarl import URL

from kubeloop.client import Client, ClientSettings, TransportError
from kubeloop.testing.faults import FaultProxy
from kubeloop.testing.fixtures import Cluster
from kubeloop.testing.objects import configmap
from kubeloop.testing.waiting import until

pytestmark = pytest.mark.controlplane_only(
    "the embedded server speaks HTTP/1.1 only (docs/apiserver.md, Known differences: HTTP/2)"
)

BURST = 8
"""Requests sent at once: over HTTP/1.1 each holds a connection of its own while in flight."""


def connections_to(port: int) -> int:
    """TCP connections this process holds open to ``port`` on loopback."""
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@pytest.fixture
async def proxied(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[Path, int]]:
    """A kubeconfig of the cluster through a pass-through proxy, and the proxy's port."""
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True) as proxy:
        port = URL(proxy.url).port
        assert port is not None
        yield proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy"), port


async def first_added(client: Client, namespace: str, selector: str) -> str:
    async with aclosing(client.watch("configmaps", namespace=namespace, label_selector=selector)) as w:
        async for event in w:
            if event.type == "ADDED":
                return str(event.object["metadata"]["name"])
    raise AssertionError("the watch ended before an ADDED event")


async def test_clients_of_one_server_hold_the_connections_of_one_pool(
    proxied: tuple[Path, int], namespace: str
) -> None:
    kubeconfig, port = proxied
    first = await Client.load(kubeconfig, settings=ClientSettings(qps=None))
    # As a manager's clients: one derived with a rate limit of its own, one loaded again.
    derived = first.with_settings(ClientSettings(qps=1000, burst=1000))
    clients = [first, derived, await Client.load(kubeconfig)]
    try:
        for client in clients:  # one after the other: each burst finds the last one's connections idle
            await asyncio.gather(*(client.get("namespaces", namespace) for _ in range(BURST)))
        assert connections_to(port) <= BURST  # a pool per client held 3 x 8
        held = connections_to(port)
        watches = [
            asyncio.create_task(first_added(c, namespace, f"watch={i}")) for i, c in enumerate(clients)
        ]
        await until(lambda: all(c.transport.http2_streams == 1 for c in clients), what="3 watches open")
        assert connections_to(port) == held + 1  # the three watches are streams of one HTTP/2 connection
        for i in range(len(clients)):
            cm = configmap(f"cm-{i}", namespace)
            cm["metadata"]["labels"] = {"watch": str(i)}
            await first.create(cm)
        assert await asyncio.wait_for(asyncio.gather(*watches), 30) == ["cm-0", "cm-1", "cm-2"]
    finally:
        for client in clients:
            await client.close()
    await until(lambda: connections_to(port) == 0, what="the last client's close closes the connections")


async def test_closing_one_client_leaves_the_others_requests_and_watches_running(
    proxied: tuple[Path, int], namespace: str
) -> None:
    kubeconfig, port = proxied
    staying = await Client.load(kubeconfig, settings=ClientSettings(qps=None))
    closing = staying.with_settings(ClientSettings(qps=None))
    try:
        events: asyncio.Queue[str] = asyncio.Queue()

        async def watch(client: Client, into: asyncio.Queue[str] | None = None) -> None:
            async with aclosing(client.watch("configmaps", namespace=namespace)) as w:
                async for event in w:
                    if into is not None and event.type == "ADDED":  # not the bookmarks (no name)
                        into.put_nowait(event.object["metadata"]["name"])

        kept = asyncio.create_task(watch(staying, events))
        cut = asyncio.create_task(watch(closing))

        def both_open() -> bool:
            for task in (kept, cut):
                if task.done():
                    task.result()  # raises what ended it
                    raise AssertionError("a watch ended")
            return staying.transport.http2_streams == closing.transport.http2_streams == 1

        await until(both_open, what="both watches open")
        await asyncio.gather(*(closing.get("namespaces", namespace) for _ in range(BURST)))
        held = connections_to(port)

        await closing.close()
        with pytest.raises(TransportError):  # the closed client's own watch ends
            await asyncio.wait_for(cut, 10)
        assert connections_to(port) == held  # none of the connections it used is closed
        await staying.create(configmap("after-close", namespace))

        async def added(name: str) -> None:
            while await events.get() != name:  # the namespace's own ConfigMaps come first
                pass

        await asyncio.wait_for(added("after-close"), 30)  # the other watch still runs
        await asyncio.gather(*(staying.get("namespaces", namespace) for _ in range(BURST)))
        assert connections_to(port) == held  # and its requests use what the closed one left idle
        assert not kept.done()
        kept.cancel()
    finally:
        await closing.close()
        await staying.close()
    await until(lambda: connections_to(port) == 0, what="the last client's close closes the connections")
