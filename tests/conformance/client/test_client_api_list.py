"""List paging, selectors and resourceVersion semantics against the real kube-apiserver."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, GoneError
from kubeloop.testing.fixtures import Cluster


async def make(client: Client, namespace: str, name: str, **labels: str) -> dict[str, object]:
    return await client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        }
    )


async def test_list_pages_with_limit_and_continue_cover_every_item_once(
    client: Client, namespace: str
) -> None:
    for i in range(7):
        await make(client, namespace, f"item-{i}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = await client.list("configmaps", namespace=namespace, limit=3, continue_token=token)
        pages += 1
        assert len(page["items"]) <= 3
        seen += [item["metadata"]["name"] for item in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    expected = {f"item-{i}" for i in range(7)}
    assert expected <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 3


async def test_list_items_pages_transparently(client: Client, namespace: str) -> None:
    for i in range(5):
        await make(client, namespace, f"paged-{i}")
    names = [
        o["metadata"]["name"] async for o in client.list_items("configmaps", namespace=namespace, page_size=2)
    ]
    assert {f"paged-{i}" for i in range(5)} <= set(names)


async def test_label_selector_filters(client: Client, namespace: str) -> None:
    await make(client, namespace, "red-1", color="red")
    await make(client, namespace, "red-2", color="red", size="big")
    await make(client, namespace, "blue-1", color="blue")

    def names(page: dict) -> set[str]:
        return {i["metadata"]["name"] for i in page["items"]}

    assert names(await client.list("configmaps", namespace=namespace, label_selector="color=red")) == {
        "red-1",
        "red-2",
    }
    assert names(await client.list("cm", namespace=namespace, label_selector="color=red,size=big")) == {
        "red-2"
    }
    assert names(await client.list("cm", namespace=namespace, label_selector="color in (blue)")) == {"blue-1"}


async def test_field_selector_filters(client: Client, namespace: str) -> None:
    await make(client, namespace, "wanted")
    await make(client, namespace, "unwanted")
    page = await client.list("configmaps", namespace=namespace, field_selector="metadata.name=wanted")
    assert [i["metadata"]["name"] for i in page["items"]] == ["wanted"]


async def test_list_without_namespace_spans_namespaces(client: Client, namespace: str) -> None:
    await make(client, namespace, "anywhere", probe=namespace)
    page = await client.list("configmaps", label_selector=f"probe={namespace}")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]] == [
        (namespace, "anywhere")
    ]


async def test_list_returns_a_resource_version_usable_for_exact_reads(client: Client, namespace: str) -> None:
    await make(client, namespace, "before")
    page = await client.list("configmaps", namespace=namespace)
    rv = page["metadata"]["resourceVersion"]
    await make(client, namespace, "after")
    exact = await client.list(
        "configmaps", namespace=namespace, resource_version=rv, resource_version_match="Exact"
    )
    names = {i["metadata"]["name"] for i in exact["items"]}
    assert "before" in names
    assert "after" not in names


async def test_exact_list_at_compacted_resource_version_raises_gone(
    client: Client, namespace: str, cluster: Cluster
) -> None:
    before = await make(client, namespace, "old")
    old_rv = before["metadata"]["resourceVersion"]
    await make(client, namespace, "new")
    await compact_etcd(cluster)
    with pytest.raises(GoneError) as err:
        await client.list(
            "configmaps", namespace=namespace, resource_version=old_rv, resource_version_match="Exact"
        )
    assert err.value.code == 410


async def compact_etcd(cluster: Cluster) -> None:
    """Compact the control plane's etcd up to its current revision, as the apiserver does every 5 minutes
    (the embedded server forgets its watch history, its counterpart of etcd's)."""
    if isinstance(cluster, EmbeddedServer):
        cluster.compact()
        return
    base = f"http://127.0.0.1:{cluster.etcd_port}/v3/kv"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/range", json={"key": base64.b64encode(b"/").decode()}) as resp:
            revision = (await resp.json())["header"]["revision"]
        async with http.post(f"{base}/compaction", json={"revision": revision, "physical": True}) as resp:
            assert resp.status == 200, await resp.text()
