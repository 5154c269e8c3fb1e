"""The garbage collector, by owner references (the store's owner-UID index finds dependents).

When an owner is gone, dependents whose owners are all gone are deleted (background propagation) and
the others lose the reference to it; ``foregroundDeletion`` deletes the dependents first and then
releases the owner; ``orphan`` removes the owner reference from the dependents and then releases it.
"""

from __future__ import annotations

import copy

from kubeloop.apiserver.controllers.loop import MANAGER, Loop
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.rest.api import DeleteOptions
from kubeloop.apiserver.storage import Event, Obj

__all__ = ["GarbageCollector"]


class GarbageCollector(Loop):
    name = "garbage-collector"

    async def resume(self) -> None:
        for storage in self.store.resources():
            for _, obj in list(self.store.items(storage)):
                if obj["metadata"].get("deletionTimestamp"):
                    await self.guarded(self._finalize, obj)

    async def handle(self, event: Event) -> None:
        if event.type == "DELETED":
            await self._collect_dependents(event.obj)
            await self._recheck_owners(event.obj)
        elif event.obj["metadata"].get("deletionTimestamp"):
            await self._finalize(event.obj)

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for key, obj in self.store.dependents(uid):
            rt = self.rt_of_storage(key[0])
            if rt is not None:
                found.append((rt, obj))
        return found

    async def _collect_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid", "")
        for rt, dep in self._dependents(uid):
            md = dep["metadata"]
            refs = [r for r in md.get("ownerReferences") or () if r.get("uid") != uid]
            if any(self.store.by_uid(r["uid"]) is not None for r in refs if r.get("uid")):
                await self._set_owner_refs(rt, dep, refs)
            elif not md.get("deletionTimestamp"):
                await self.api.delete(
                    rt, md.get("namespace"), md["name"], DeleteOptions(propagation="Background")
                )

    async def _recheck_owners(self, dependent: Obj) -> None:
        """A dependent went: owners waiting for it (foreground deletion) may now go too."""
        for ref in dependent["metadata"].get("ownerReferences") or ():
            owner = self.store.by_uid(ref.get("uid", ""))
            if owner is not None and owner["metadata"].get("deletionTimestamp"):
                await self._finalize(owner)

    async def _finalize(self, obj: Obj) -> None:
        rt = self.rt_of(obj)
        if rt is None:
            return
        finalizers = obj["metadata"].get("finalizers") or []
        uid = obj["metadata"].get("uid", "")
        if "orphan" in finalizers:
            for dep_rt, dep in self._dependents(uid):
                refs = [r for r in dep["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
                await self._set_owner_refs(dep_rt, dep, refs)
            await self._drop_finalizer(rt, obj, "orphan")
        elif "foregroundDeletion" in finalizers:
            for dep_rt, dep in self._dependents(uid):
                dmd = dep["metadata"]
                if not dmd.get("deletionTimestamp"):
                    await self.api.delete(
                        dep_rt, dmd.get("namespace"), dmd["name"], DeleteOptions(propagation="Foreground")
                    )
            if not self._dependents(uid):
                await self._drop_finalizer(rt, obj, "foregroundDeletion")

    async def _set_owner_refs(self, rt: ResourceType, obj: Obj, refs: list[Obj]) -> None:
        new = copy.deepcopy(obj)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        md = new["metadata"]
        await self.api.update(rt, md.get("namespace"), md["name"], new, None, MANAGER)

    async def _drop_finalizer(self, rt: ResourceType, obj: Obj, name: str) -> None:
        md = obj["metadata"]
        current = self.store.get((rt.storage, md.get("namespace", ""), md["name"]))
        if current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != name]
        await self.api.update(rt, md.get("namespace"), md["name"], new, None, MANAGER)
