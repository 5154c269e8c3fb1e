"""Against the real kube-apiserver: paging over more than a thousand objects, a client certificate
without RBAC is Forbidden, and the client-side rate limiter holds the configured QPS."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubeloop.client import Client, ClientSettings, ForbiddenError
from kubeloop.testing.fixtures import Cluster


async def test_paging_over_1050_objects_returns_each_exactly_once(client: Client, namespace: str) -> None:
    semaphore = asyncio.Semaphore(50)

    async def create(i: int) -> None:
        async with semaphore:
            await client.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"bulk-{i:04d}", "namespace": namespace},
                }
            )

    await asyncio.gather(*(create(i) for i in range(1050)))
    pages = 0
    names: list[str] = []
    token = None
    while True:
        page = await client.list("configmaps", namespace=namespace, limit=100, continue_token=token)
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"] if i["metadata"]["name"].startswith("bulk-")]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert pages == 11
    assert sorted(names) == [f"bulk-{i:04d}" for i in range(1050)]
    assert (
        len([n async for n in _names(client.list_items("configmaps", namespace=namespace, page_size=250))])
        >= 1050
    )


async def _names(items):  # type: ignore[no-untyped-def]
    async for item in items:
        yield item["metadata"]["name"]


async def test_client_certificate_without_rbac_is_forbidden(cluster: Cluster, namespace: str) -> None:
    kubeconfig = cluster.user_kubeconfig("nobody", ("no-permissions",))
    async with await Client.load(kubeconfig) as nobody:
        with pytest.raises(ForbiddenError) as err:
            await nobody.list("configmaps", namespace=namespace)
    assert err.value.code == 403
    assert 'User "nobody" cannot list resource "configmaps"' in err.value.message


async def test_rate_limiter_holds_the_configured_qps(cluster: Cluster, namespace: str) -> None:
    qps, burst, requests = 20.0, 2, 42
    async with await Client.load(
        cluster.kubeconfig, settings=ClientSettings(qps=qps, burst=burst)
    ) as limited:
        started = time.monotonic()
        await asyncio.gather(
            *(limited.list("configmaps", namespace=namespace, limit=1) for _ in range(requests))
        )
        elapsed = time.monotonic() - started
    # The first `burst` requests go at once; each further one waits for a token: 40 / 20 = 2 s at least.
    assert elapsed >= (requests - burst) / qps * 0.95, f"{requests} requests took only {elapsed:.2f} s"
