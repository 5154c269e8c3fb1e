"""A closed client, on the real API server: a request made after ``close()``, or under way when it
happens, raises ``ClientClosedError`` (a ``KubeloopError``), is not retried and opens no new session;
before, the first made a new session behind the owner's back and the second was retried on the closed
one and ended in aiohttp's ``RuntimeError: Session is closed``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubeloop.client import Client, ClientClosedError
from kubeloop.errors import KubeloopError
from kubeloop.testing import until
from kubeloop.testing.faults import FaultProxy, Faults
from kubeloop.testing.fixtures import Cluster


async def test_a_request_after_close_raises_client_closed_error(cluster: Cluster) -> None:
    client = await Client.load(cluster.kubeconfig)
    await client.get("namespaces", "default")
    await client.close()
    with pytest.raises(ClientClosedError) as raised:
        await client.get("namespaces", "default")
    assert isinstance(raised.value, KubeloopError)
    assert "GET /api/v1/namespaces/default" in str(raised.value)


async def test_a_request_under_way_when_the_client_closes_raises_client_closed_error(
    cluster: Cluster, tmp_path: Path
) -> None:
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=5) as proxy:
        client = await Client.load(proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy"))
        await client.get("namespaces", "default")  # discovery done
        sent = proxy.stats.requests
        proxy.faults = Faults(latency=3.0, only=r"^GET /api/v1/namespaces/default$")
        request = asyncio.create_task(client.get("namespaces", "default"))  # idempotent: retried on a drop
        await until(lambda: proxy.stats.requests > sent, what="the request held in the proxy")
        await client.close()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(request, 30)
        assert proxy.stats.requests == sent + 1  # not sent again
