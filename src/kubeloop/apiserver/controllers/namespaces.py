"""Namespace deletion: a terminating namespace is emptied (every namespaced object deleted), then its
``kubernetes`` finalizer is removed and it goes once nothing is left in it."""

from __future__ import annotations

import contextlib
import copy

from kubeloop.apiserver.controllers.loop import MANAGER, Loop
from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.rest.api import DeleteOptions
from kubeloop.apiserver.storage import Event, Obj

__all__ = ["NamespaceLoop"]

NAMESPACES = "/namespaces"


class NamespaceLoop(Loop):
    name = "namespaces"

    async def resume(self) -> None:
        for ns in self.store.list(NAMESPACES):
            if ns["metadata"].get("deletionTimestamp"):
                await self.guarded(self._empty, ns["metadata"]["name"])

    def wants(self, event: Event) -> bool:
        if event.key[0] == NAMESPACES:
            return event.type != "DELETED" and bool(event.obj["metadata"].get("deletionTimestamp"))
        return bool(event.key[1]) and (
            event.type == "DELETED" or bool(event.obj["metadata"].get("deletionTimestamp"))
        )

    async def handle(self, event: Event) -> None:
        namespace = event.key[2] if event.key[0] == NAMESPACES else event.key[1]
        ns = self.store.get((NAMESPACES, "", namespace))
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            await self._empty(namespace)

    def _left(self, namespace: str) -> list[tuple[str, Obj]]:
        return [
            (storage, obj)
            for storage in self.store.resources()
            for _, obj in self.store.items(storage, namespace)
        ]

    async def _empty(self, name: str) -> None:
        left = self._left(name)
        for storage, obj in left:
            rt = self.rt_of_storage(storage)
            if rt is None or not rt.namespaced or obj["metadata"].get("deletionTimestamp"):
                continue
            with contextlib.suppress(StatusError):
                await self.api.delete(
                    rt, name, obj["metadata"]["name"], DeleteOptions(propagation="Background")
                )
        if left and self._left(name):
            return
        ns_rt = self.registry.by_kind("", "Namespace")
        current = self.store.get((NAMESPACES, "", name))
        if ns_rt is None or current is None or not current["metadata"].get("deletionTimestamp"):
            return
        if (current.get("spec") or {}).get("finalizers"):
            new = copy.deepcopy(current)
            new["spec"]["finalizers"] = []
            await self.api.update(ns_rt, None, name, new, None, MANAGER)
        current = self.store.get((NAMESPACES, "", name))
        if current is not None and not current["metadata"].get("finalizers"):
            await self.store.write(lambda view: view.delete((NAMESPACES, "", name)))
