"""Watch against the real kube-apiserver: events in order from a resourceVersion, bookmarks, 410 Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeloop.client import Client, GoneError, WatchEvent
from kubeloop.testing.objects import configmap

# The controller manager adds this ConfigMap to every new namespace, at a moment no test controls.
ROOT_CA = "kube-root-ca.crt"


async def take(
    events: AsyncIterator[WatchEvent], count: int, *, skip_bookmarks: bool = True
) -> list[WatchEvent]:
    """The first ``count`` events of ``events``, leaving out bookmarks and the namespace's root CA."""
    out: list[WatchEvent] = []
    async with asyncio.timeout(30):
        async for event in events:
            if skip_bookmarks and event.type == "BOOKMARK":
                continue
            if event.object.get("metadata", {}).get("name") == ROOT_CA:
                continue
            out.append(event)
            if len(out) == count:
                break
    return out


async def test_watch_from_resource_version_replays_changes_in_order(client: Client, namespace: str) -> None:
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    await client.create(configmap("watched", namespace, n="1"))
    await client.patch("configmaps", "watched", {"data": {"n": "2"}}, namespace=namespace)
    await client.delete("configmaps", "watched", namespace=namespace)
    events = await take(client.watch("configmaps", namespace=namespace, resource_version=rv), 3)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.object["metadata"]["name"] for e in events] == ["watched"] * 3
    assert events[1].object["data"] == {"n": "2"}
    rvs = [int(e.resource_version) for e in events]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(rv)


async def test_watch_sees_changes_made_while_it_runs(client: Client, namespace: str) -> None:
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    watching = asyncio.create_task(
        take(client.watch("configmaps", namespace=namespace, resource_version=rv), 2)
    )
    await asyncio.sleep(0.2)
    await client.create(configmap("live-1", namespace))
    await client.create(configmap("live-2", namespace))
    events = await watching
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "live-1"),
        ("ADDED", "live-2"),
    ]


async def test_watch_with_label_selector_only_sees_matching(client: Client, namespace: str) -> None:
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    plain = configmap("plain", namespace)
    marked = configmap("marked", namespace)
    marked["metadata"]["labels"] = {"watch": "me"}  # type: ignore[index]
    await client.create(plain)
    await client.create(marked)
    events = await take(
        client.watch("configmaps", namespace=namespace, resource_version=rv, label_selector="watch=me"), 1
    )
    assert events[0].object["metadata"]["name"] == "marked"


async def test_watch_list_sends_initial_objects_then_an_end_bookmark(client: Client, namespace: str) -> None:
    await client.create(configmap("existing-1", namespace))
    await client.create(configmap("existing-2", namespace))
    seen: list[WatchEvent] = []
    async with asyncio.timeout(30):
        async for event in client.watch("configmaps", namespace=namespace, send_initial_events=True):
            seen.append(event)
            if event.initial_events_end:
                break
    assert {e.object["metadata"]["name"] for e in seen if e.type == "ADDED"} >= {"existing-1", "existing-2"}
    assert seen[-1].type == "BOOKMARK"
    assert int(seen[-1].resource_version) > 0


async def test_watch_requests_bookmarks_and_receives_them(client: Client, namespace: str) -> None:
    # The apiserver sends a bookmark some seconds before a watch's timeout; with 4 s it sometimes sends none.
    rv = (await client.list("configmaps", namespace=namespace))["metadata"]["resourceVersion"]
    bookmarks = [
        e
        async for e in client.watch(
            "configmaps", namespace=namespace, resource_version=rv, timeout_seconds=10
        )
        if e.type == "BOOKMARK"
    ]
    assert bookmarks, "no bookmark arrived before the watch ended"
    assert int(bookmarks[-1].resource_version) >= int(rv)
    assert "name" not in bookmarks[-1].object["metadata"]


async def test_watch_from_too_old_resource_version_raises_gone(client: Client, namespace: str) -> None:
    for i in range(5):
        await client.create(configmap(f"churn-{i}", namespace))
    with pytest.raises(GoneError) as err:
        await take(client.watch("configmaps", namespace=namespace, resource_version="1"), 1)
    assert err.value.code == 410
