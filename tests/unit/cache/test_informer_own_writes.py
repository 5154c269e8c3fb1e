"""An own write (``Informer.observe``) is read back at once and kept only until the watch brings its
version: not until the next read of its key, which a reconcile's writes (a child applied, a status
written) get only when it runs again (with thousands of reconciles queued, minutes, and a second
copy of every object written meanwhile). On a fake server whose watch events are sent by the test."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from kubeloop.cache import Informer
from kubeloop.client import ApiResource, WatchEvent
from kubeloop.testing import until

APPS = ApiResource(group="app.example.com", version="v1", kind="AppService", plural="appservices",
                   singular="appservice", namespaced=True)  # fmt: skip


def app(name: str, version: int, image: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": str(version)}
    return {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": meta,
        "spec": {"image": image},
    }


class _Api:
    """Lists ``app-0`` and ``app-1`` at version 1; the watch sends what ``send`` is given."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[WatchEvent[Any]] = asyncio.Queue()

    async def list(self, ref: Any, **_: Any) -> dict[str, Any]:
        items = [app("app-0", 1, "a"), app("app-1", 1, "a")]
        return {"items": items, "metadata": {"resourceVersion": "1"}}

    async def watch(self, ref: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        while True:
            yield await self.events.get()

    def send(self, obj: dict[str, Any]) -> None:
        self.events.put_nowait(WatchEvent("MODIFIED", copy.deepcopy(obj)))


async def test_an_own_write_is_kept_until_the_watch_brings_its_version_not_until_read() -> None:
    api = _Api()
    informer = Informer(api, APPS)  # type: ignore[arg-type]
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced()
        informer.observe(app("app-0", 2, "b"))
        informer.observe(app("app-1", 4, "d"))
        assert informer.get("ns", "app-0")["spec"]["image"] == "b"  # type: ignore[index]
        assert informer.unseen_writes == 2

        # The watch brings app-0's write and a version of app-1 older than its write: app-0's copy is
        # forgotten (nothing read it since), app-1's kept and still read.
        api.send(app("app-0", 2, "b"))
        api.send(app("app-1", 3, "c"))
        await until(lambda: informer.store.get(("ns", "app-1"))["metadata"]["resourceVersion"] == "3")  # type: ignore[index]
        assert informer.unseen_writes == 1
        assert informer.get("ns", "app-0") is informer.store.get(("ns", "app-0"))  # type: ignore[arg-type]
        assert informer.get("ns", "app-1")["spec"]["image"] == "d"  # type: ignore[index]

        # A newer version than the write (someone else's change after it) ends it too.
        api.send(app("app-1", 5, "e"))
        await until(lambda: informer.unseen_writes == 0)
        assert informer.get("ns", "app-1")["spec"]["image"] == "e"  # type: ignore[index]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
