"""The garbage collector, as kube-controller-manager's, over owner references.

Its graph is the store's owner-UID index (the real collector builds one from an informer per
resource); its work queue is a ``kubeloop.controller.Controller``'s, keyed by UID
(``Request("", uid)``), fed by every committed change (``feed``) and swept whole every resync period
(so a dependent whose owner never existed is found even if no event names it). For one object:

- deleting with the ``orphan`` finalizer: its dependents lose their reference to it, then the finalizer goes;
- deleting with ``foregroundDeletion``: the finalizer goes once no dependent blocks it
  (``blockOwnerDeletion``); the dependents themselves are deleted as below;
- with owner references: references to owners that are gone (or whose UID differs: dangling) or that
  are deleting in the foreground are removed while another owner still exists; when none exists it
  is deleted, in the foreground if an owner waits for it, else in the background.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.apiserver.storage import Event
from kubeloop.controller import Request, Result

__all__ = ["GarbageCollector"]

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


def _deleting_in_foreground(owner: Obj) -> bool:
    md = owner["metadata"]
    return bool(md.get("deletionTimestamp")) and FOREGROUND in (md.get("finalizers") or ())


class GarbageCollector(Builtin):
    name = "garbage-collector"

    async def setup(self) -> None:
        self._sweep()

    async def feed(self) -> None:
        store = self.runtime.store
        watcher = store.watch(None)
        sweep = asyncio.create_task(self._resync())
        try:
            async for event in watcher:
                self._on(event)
        finally:
            sweep.cancel()
            watcher.close()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.runtime.options.resync_period)
            self._sweep()

    def _sweep(self) -> None:
        store = self.runtime.store
        for resource in store.resources():
            for _, obj in store.items(resource):
                md = obj["metadata"]
                if md.get("ownerReferences") or md.get("deletionTimestamp"):
                    self._enqueue(md.get("uid"))

    def _enqueue(self, uid: object) -> None:
        if isinstance(uid, str) and uid:
            self.controller.enqueue(Request("", uid))

    def _on(self, event: Event) -> None:
        md = event.obj["metadata"]
        refs = md.get("ownerReferences") or ()
        if event.type == "DELETED":
            for _, dependent in self.runtime.store.dependents(md.get("uid", "")):
                self._enqueue(dependent["metadata"].get("uid"))
            for ref in refs:
                self._enqueue(ref.get("uid"))  # an owner in foreground deletion may be free to go
            return
        if md.get("deletionTimestamp"):
            self._enqueue(md.get("uid"))
            if FOREGROUND in (md.get("finalizers") or ()):
                for _, dependent in self.runtime.store.dependents(md.get("uid", "")):
                    self._enqueue(dependent["metadata"].get("uid"))
        if refs and (event.prev is None or refs != (event.prev["metadata"].get("ownerReferences") or ())):
            self._enqueue(md.get("uid"))

    def _dependents(self, uid: str) -> list[Obj]:
        return [obj for _, obj in self.runtime.store.dependents(uid)]

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.runtime.store.by_uid(request.name)
        if obj is None:
            return None
        rt = self.runtime.rt_of(obj)
        if rt is None:
            return None
        md = obj["metadata"]
        finalizers = md.get("finalizers") or ()
        if md.get("deletionTimestamp"):
            if ORPHAN in finalizers:
                for dependent in self._dependents(request.name):
                    await self._drop_references(dependent, {request.name})
                await self._drop_finalizer(obj, ORPHAN)
            elif FOREGROUND in finalizers:
                blocking = [
                    d
                    for d in self._dependents(request.name)
                    if any(
                        r.get("uid") == request.name and r.get("blockOwnerDeletion")
                        for r in d["metadata"].get("ownerReferences") or ()
                    )
                ]
                if not blocking:
                    await self._drop_finalizer(obj, FOREGROUND)
            return None
        refs = md.get("ownerReferences") or ()
        if not refs:
            return None
        store = self.runtime.store
        owners = {r.get("uid", ""): store.by_uid(r.get("uid", "")) for r in refs}
        solid = {
            uid for uid, owner in owners.items() if owner is not None and not _deleting_in_foreground(owner)
        }
        waiting = {
            uid for uid, owner in owners.items() if owner is not None and _deleting_in_foreground(owner)
        }
        dangling = set(owners) - solid - waiting
        if solid:
            if dangling or waiting:
                await self._drop_references(obj, dangling | waiting)
            return None
        propagation = "Foreground" if waiting and self._dependents(md.get("uid", "")) else None
        if propagation is None:
            propagation = (
                "Orphan"
                if ORPHAN in finalizers
                else "Foreground"
                if FOREGROUND in finalizers
                else "Background"
            )
        await self.runtime.delete(rt, obj, propagation=propagation)
        return None

    async def _drop_references(self, obj: Obj, uids: set[str]) -> None:
        rt = self.runtime.rt_of(obj)
        if rt is None:
            return
        new = copy.deepcopy(obj)
        refs = [r for r in new["metadata"].get("ownerReferences") or () if r.get("uid") not in uids]
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        await self.runtime.update(rt, new)

    async def _drop_finalizer(self, obj: Obj, name: str) -> None:
        rt = self.runtime.rt_of(obj)
        current = self.runtime.store.by_uid(obj["metadata"].get("uid", ""))
        if rt is None or current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != name]
        await self.runtime.update(rt, new)
