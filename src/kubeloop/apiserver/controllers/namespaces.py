"""Namespace deletion, as kube-controller-manager's namespace controller: a terminating namespace is
emptied (every namespaced object in it deleted in the background; objects with finalizers stay until
theirs go), reported in its conditions as the real controller words them (``NamespaceContentRemaining``,
``NamespaceFinalizersRemaining`` …),
and once nothing is left its ``kubernetes`` finalizer is removed and it goes. Checked again every
``_RECHECK`` seconds while content remains (the contents are read from the store, not informers)."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from kubeloop.apiserver.controllers.objects import set_condition
from kubeloop.apiserver.controllers.runtime import Builtin
from kubeloop.controller import Request, Result

__all__ = ["NamespaceController"]

Obj = dict[str, Any]
_RECHECK = 0.2
_PASSED = (
    (
        "NamespaceDeletionDiscoveryFailure",
        ("False", "ResourcesDiscovered", "All resources successfully discovered"),
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        ("False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ),
    (
        "NamespaceDeletionContentFailure",
        ("False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    ),
)
"""The conditions of the steps that cannot fail here (discovery, parsing, deleting), as reported."""


class NamespaceController(Builtin):
    name = "namespace"

    async def setup(self) -> None:
        self.ns_rt = self.runtime.rt("", "v1", "namespaces")
        self.namespaces = await self.runtime.informer(self.ns_rt)
        self.controller.watch(
            self.namespaces, predicates=[lambda e: bool(e.obj["metadata"].get("deletionTimestamp"))]
        )

    def _contents(self, namespace: str) -> list[tuple[str, Obj]]:
        """(group resource, object) of everything in ``namespace``; the group resource as the real
        controller prints it (``configmaps.`` for the core group)."""
        store = self.runtime.store
        return [
            (".".join(reversed(resource.split("/"))), obj)
            for resource in store.resources()
            for _, obj in store.items(resource, namespace)
        ]

    async def reconcile(self, request: Request) -> Result | None:
        ns = self.namespaces.get("", request.name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        left = self._contents(request.name)
        for _, obj in left:
            rt = self.runtime.rt_of(obj)
            if rt is not None and rt.namespaced and not obj["metadata"].get("deletionTimestamp"):
                await self.runtime.delete(rt, obj, propagation="Background")
        left = self._contents(request.name)
        await self._report(ns, left)
        if left:
            return Result(requeue_after=_RECHECK)
        current = self.namespaces.get("", request.name) or ns
        if (current.get("spec") or {}).get("finalizers"):
            done = copy.deepcopy(current)
            done["spec"]["finalizers"] = []
            current = await self.runtime.update(self.ns_rt, done)
        if not current["metadata"].get("finalizers"):
            await self.runtime.delete(self.ns_rt, current)
        return None

    async def _report(self, ns: Obj, left: list[tuple[str, Obj]]) -> None:
        """The conditions the real namespace controller reports while it empties a namespace."""
        status = copy.deepcopy(ns.get("status") or {})
        resources = Counter(resource for resource, _ in left)
        finalizers = Counter(f for _, obj in left for f in obj["metadata"].get("finalizers") or ())
        remaining = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(resources.items()))
        held = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
        content = (
            ("True", "SomeResourcesRemain", f"Some resources are remaining: {remaining}")
            if left
            else ("False", "ContentRemoved", "All content successfully removed")
        )
        finalizing = (
            (
                "True",
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {held}",
            )
            if finalizers
            else ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished")
        )
        for kind, state in _PASSED:
            set_condition(status, kind, *state, update_time=False)
        set_condition(status, "NamespaceContentRemaining", *content, update_time=False)
        set_condition(status, "NamespaceFinalizersRemaining", *finalizing, update_time=False)
        if status != ns.get("status"):
            await self.runtime.update(self.ns_rt, dict(ns, status=status), "status")
