"""Label selectors added to a running informer (a sharded replica adopting a stopped shard's objects):
each listed and watched into the one store; an object relabelled from one selector to another is
never lost, whichever stream tells first; removing a selector takes out what only it selected."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeloop.cache import Informer, InformerEvent, InformerOptions
from kubeloop.client import ApiResource, WatchEvent
from kubeloop.labels import LabelSelector

APPS = ApiResource(group="app.example.com", version="v1", kind="AppService", plural="appservices",
                   singular="appservice", namespaced=True)  # fmt: skip
SHARD = "shard.kubeloop.io/op"


class _Api:
    """Objects with resourceVersions; a watch per selector gets what the real server's watch cache
    sends: ADDED on entering the selector, MODIFIED within it, DELETED (the old object at the new
    resourceVersion) on leaving it. ``held``: selectors whose events wait until released."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.watches: list[tuple[LabelSelector, asyncio.Queue[WatchEvent[Any]]]] = []
        self.held: dict[str, list[WatchEvent[Any]]] = {}
        self.selectors: dict[int, str] = {}

    async def resource(self, ref: Any) -> ApiResource:
        return APPS

    async def list(self, ref: Any, *, label_selector: str | None = None, **_: Any) -> dict[str, Any]:
        match = LabelSelector.parse(label_selector)
        items = [copy.deepcopy(o) for o in self.objects.values() if match.matches(o)]
        return {"items": items, "metadata": {"resourceVersion": str(self.version)}}

    async def watch(
        self, ref: Any, *, label_selector: str | None = None, **_: Any
    ) -> AsyncIterator[WatchEvent[Any]]:
        queue: asyncio.Queue[WatchEvent[Any]] = asyncio.Queue()
        self.watches.append((LabelSelector.parse(label_selector), queue))
        self.selectors[id(queue)] = label_selector or ""
        while True:
            yield await queue.get()

    def write(self, name: str, shard: str) -> None:
        self.version += 1
        old = self.objects.get(name)
        meta = {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(self.version),
            "labels": {SHARD: shard},
        }
        new = {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}
        self.objects[name] = new
        for match, queue in self.watches:
            was, now = old is not None and match.matches(old), match.matches(new)
            if now:
                event = WatchEvent("MODIFIED" if was else "ADDED", copy.deepcopy(new))
            elif was:
                assert old is not None
                gone = copy.deepcopy(old)
                gone["metadata"]["resourceVersion"] = str(self.version)
                event = WatchEvent("DELETED", gone)
            else:
                continue
            selector = self.selectors[id(queue)]
            if selector in self.held:
                self.held[selector].append(event)
            else:
                queue.put_nowait(event)

    def release(self, selector: str) -> None:
        for _match, queue in self.watches:
            if self.selectors[id(queue)] == selector:
                for event in self.held.pop(selector, []):
                    queue.put_nowait(event)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("first", ["leaving", "entering"], ids=["left-first", "entered-first"])
async def test_an_object_relabelled_from_an_added_selector_to_the_own_one_is_never_lost(first: str) -> None:
    api = _Api()
    for i in range(3):
        api.write(f"a-{i}", "a")
        api.write(f"b-{i}", "b")
    informer = Informer(api, APPS, InformerOptions(namespace="ns", label_selector=f"{SHARD}=a"))  # type: ignore[arg-type]
    events: list[InformerEvent] = []
    informer.add_handler(events.append)
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced()
        assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a-0", "a-1", "a-2"]
        await informer.add_selector(f"{SHARD}=b")
        assert len(informer.list()) == 6
        await settle()

        # b-0 relabelled to a: one stream tells it left, the other that it entered, in either order.
        api.held[f"{SHARD}=b" if first == "entering" else f"{SHARD}=a"] = []
        api.write("b-0", "a")
        await settle()
        api.release(f"{SHARD}=b")
        api.release(f"{SHARD}=a")
        await settle()
        got = informer.get("ns", "b-0")
        assert got is not None
        assert got["metadata"]["labels"][SHARD] == "a"
        assert len(informer.list()) == 6

        # Removing the added selector takes out what only it selected, and tells it.
        events.clear()
        await informer.remove_selector(f"{SHARD}=b")
        assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a-0", "a-1", "a-2", "b-0"]
        assert sorted(e.obj["metadata"]["name"] for e in events if e.type == "delete") == ["b-1", "b-2"]
        api.write("b-1", "b")  # no longer watched
        await settle()
        assert informer.get("ns", "b-1") is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
