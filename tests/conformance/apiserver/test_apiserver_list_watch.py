"""Lists (paging, label and field selectors) and watches (resume, selectors, initial events): real
and embedded alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeloop.client import BadRequestError, Client, WatchEvent
from kubeloop.testing import until


def cm(name: str, namespace: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data}


async def _fill(kube: Client, ns: str) -> None:
    # Both servers add kube-root-ca.crt to a new namespace, the real one a moment after creating it.
    await until(lambda: _has_root_ca(kube, ns), what="kube-root-ca.crt in the new namespace")
    for n, tier in enumerate(["web", "web", "db", "cache", "db"]):
        await kube.create(cm(f"item-{n}", ns, {"tier": tier, "n": str(n)}))


async def _has_root_ca(kube: Client, ns: str) -> bool:
    names = [i["metadata"]["name"] for i in (await kube.list("configmaps", namespace=ns))["items"]]
    return "kube-root-ca.crt" in names


async def test_list_pages_with_continue_tokens_in_name_order(kube: Client, ns: str) -> None:
    await _fill(kube, ns)
    first = await kube.list("configmaps", namespace=ns, limit=2, label_selector="tier")
    assert [i["metadata"]["name"] for i in first["items"]] == ["item-0", "item-1"]
    token = first["metadata"]["continue"]
    assert "remainingItemCount" not in first["metadata"]  # not counted when selectors are used
    second = await kube.list("configmaps", namespace=ns, limit=2, label_selector="tier", continue_token=token)
    assert [i["metadata"]["name"] for i in second["items"]] == ["item-2", "item-3"]
    names = [i["metadata"]["name"] async for i in kube.list_items("configmaps", namespace=ns, page_size=2)]
    assert names == [*(f"item-{n}" for n in range(5)), "kube-root-ca.crt"]


async def test_list_without_selectors_counts_remaining_items(kube: Client, ns: str) -> None:
    await _fill(kube, ns)
    page = await kube.list("configmaps", namespace=ns, limit=2)
    assert page["metadata"]["remainingItemCount"] == 4  # five items and kube-root-ca.crt


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=db", [2, 4]),
        ("tier==web", [0, 1]),
        ("tier!=web", [2, 3, 4]),
        ("tier in (db,cache)", [2, 3, 4]),
        ("tier notin (db,cache),tier", [0, 1]),
        ("tier=db,n=4", [4]),
        ("!tier", []),
    ],
    ids=["equals", "double-equals", "not-equals", "in", "notin-and-exists", "and", "not-exists"],
)
async def test_label_selectors(kube: Client, ns: str, selector: str, expected: list[int]) -> None:
    await _fill(kube, ns)
    found = await kube.list("configmaps", namespace=ns, label_selector=selector)
    names = sorted(i["metadata"]["name"] for i in found["items"] if i["metadata"]["name"].startswith("item-"))
    assert names == [f"item-{n}" for n in expected]


async def test_field_selectors_on_name_and_namespace(kube: Client, ns: str) -> None:
    await _fill(kube, ns)
    by_name = await kube.list("configmaps", namespace=ns, field_selector="metadata.name=item-3")
    assert [i["metadata"]["name"] for i in by_name["items"]] == ["item-3"]
    across = await kube.list(
        "configmaps", field_selector=f"metadata.namespace={ns},metadata.name!=item-3", label_selector="tier"
    )
    assert sorted(i["metadata"]["name"] for i in across["items"]) == ["item-0", "item-1", "item-2", "item-4"]


async def test_unsupported_field_selector_is_bad_request(kube: Client, ns: str) -> None:
    with pytest.raises(BadRequestError) as err:
        await kube.list("configmaps", namespace=ns, field_selector="data.a=1")
    assert err.value.code == 400
    assert (
        err.value.message
        == '"data.a" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


async def _collect(stream: Any, count: int) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    async for event in stream:
        if event.type != "BOOKMARK":
            events.append(event)
        if len(events) == count:
            break
    return events


async def test_watch_resumes_after_resource_version_in_order(kube: Client, ns: str) -> None:
    created = await kube.create(cm("w", ns, v="0"))
    rv = created["metadata"]["resourceVersion"]
    await kube.patch("configmaps", "w", {"data": {"v": "1"}}, namespace=ns)
    await kube.patch("configmaps", "w", {"data": {"v": "2"}}, namespace=ns)
    await kube.delete("configmaps", "w", namespace=ns)
    stream = kube.watch("configmaps", namespace=ns, resource_version=rv, timeout_seconds=10)
    events = await asyncio.wait_for(_collect(stream, 3), 15)
    assert [(e.type, (e.object.get("data") or {}).get("v")) for e in events] == [
        ("MODIFIED", "1"),
        ("MODIFIED", "2"),
        ("DELETED", "2"),
    ]
    versions = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    assert versions[0] > int(rv)


async def test_watch_without_version_starts_with_current_objects(kube: Client, ns: str) -> None:
    await kube.create(cm("a", ns))
    await kube.create(cm("b", ns))
    stream = kube.watch("configmaps", namespace=ns, label_selector="!kube-root", timeout_seconds=10)
    events = await asyncio.wait_for(_collect(stream, 2), 15)
    names = {e.object["metadata"]["name"] for e in events if e.type == "ADDED"}
    assert {"a", "b"} <= names | {"kube-root-ca.crt"}


async def test_watch_send_initial_events_ends_with_annotated_bookmark(kube: Client, ns: str) -> None:
    await kube.create(cm("init", ns, {"watch": "me"}))
    seen: list[WatchEvent] = []

    async def run() -> None:
        async for event in kube.watch(
            "configmaps",
            namespace=ns,
            label_selector="watch=me",
            send_initial_events=True,
            timeout_seconds=10,
        ):
            seen.append(event)
            if event.type == "BOOKMARK" and event.initial_events_end:
                return

    await asyncio.wait_for(run(), 15)
    assert [e.type for e in seen] == ["ADDED", "BOOKMARK"]
    assert seen[0].object["metadata"]["name"] == "init"
    assert set(seen[1].object["metadata"]) >= {"resourceVersion", "annotations"}


async def test_watch_with_label_selector_sees_object_leave_as_deleted(kube: Client, ns: str) -> None:
    created = await kube.create(cm("sel", ns, {"role": "in"}))
    rv = created["metadata"]["resourceVersion"]
    await kube.patch("configmaps", "sel", {"metadata": {"labels": {"role": "out"}}}, namespace=ns)
    stream = kube.watch(
        "configmaps", namespace=ns, label_selector="role=in", resource_version=rv, timeout_seconds=10
    )
    events = await asyncio.wait_for(_collect(stream, 1), 15)
    assert events[0].type == "DELETED"
    assert events[0].object["metadata"]["labels"] == {"role": "in"}  # the last state that matched
