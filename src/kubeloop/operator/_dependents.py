"""Kinds watched once known: objects an operator's runs create (an Ansible role's, a Helm chart's)
reconcile their owner from then on, by controller reference or by operator-sdk's annotations
``operator-sdk/primary-resource`` (``namespace/name``) and ``operator-sdk/primary-resource-type``
(``Kind.group``), which mark children an owner reference cannot (cluster-scoped, or elsewhere).
As operator-sdk's ``DependentPredicate``, only a child's deletion or a change beyond its status
reconciles the owner: its creation (the run's own doing, or the watch's first list) and its status
(written by the child's own controller: a Deployment's, all the time) do not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from kubeloop.cache import InformerEvent
from kubeloop.controller import Mapper, Request, map_to_owner, not_status_only
from kubeloop.gvk import GroupVersionKind
from kubeloop.manager import Manager

__all__ = [
    "PRIMARY_RESOURCE",
    "PRIMARY_RESOURCE_TYPE",
    "DependentWatches",
    "dependent_changed",
    "owner_mapper",
]

PRIMARY_RESOURCE = "operator-sdk/primary-resource"
PRIMARY_RESOURCE_TYPE = "operator-sdk/primary-resource-type"

log = logging.getLogger("kubeloop.operator")


def owner_mapper(primary: GroupVersionKind, namespaced: bool) -> Mapper:
    """An object → its owner of kind ``primary``: the controlling owner reference, or the annotations."""
    by_reference = map_to_owner(primary.group, primary.kind, namespaced=namespaced)
    wanted = f"{primary.kind}.{primary.group}"

    def mapper(obj: dict[str, Any]) -> Iterable[Request]:
        yield from by_reference(obj)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if annotations.get(PRIMARY_RESOURCE_TYPE) == wanted and PRIMARY_RESOURCE in annotations:
            namespace, _, name = str(annotations[PRIMARY_RESOURCE]).rpartition("/")
            yield Request(namespace if namespaced else "", name)

    return mapper


def dependent_changed(event: InformerEvent) -> bool:
    """operator-sdk's ``DependentPredicate``: a child's deletion, or an update beyond its status,
    ``resourceVersion`` and ``managedFields``; not its creation nor a resync."""
    return event.type != "add" and not_status_only(event)


def controller_name(gvk: GroupVersionKind) -> str:
    """The name of the controller ``@operator.reconcile`` makes for ``gvk``."""
    return f"{gvk.kind.lower()}.{gvk.group}" if gvk.group else gvk.kind.lower()


class DependentWatches:
    """Adds, once per (primary, child) kind pair, a watch of the child kind to the primary's controller
    of a running manager (in the background: callers may be synchronous)."""

    def __init__(self) -> None:
        self.manager: Manager | None = None
        self._watched: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self, manager: Manager | None) -> None:
        """Serve ``manager`` (a new run of the operator): nothing watched yet."""
        self.manager = manager
        self._watched.clear()

    def add(self, primary: GroupVersionKind, child: GroupVersionKind) -> None:
        """Watch ``child`` objects for the controller of ``primary`` (no-op when already done)."""
        key = (primary.ref, child.ref)
        if key in self._watched:
            return
        self._watched.add(key)
        task = asyncio.get_running_loop().create_task(self._watch(primary, child, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, primary: GroupVersionKind, child: GroupVersionKind, key: tuple[str, str]) -> None:
        manager = self.manager
        name = controller_name(primary)
        controller = next((c for c in manager.controllers if c.name == name), None) if manager else None
        if manager is None or controller is None:
            return
        try:
            informer = await manager.cache.informer(child.ref)
            owners = await manager.cache.informer(primary.ref)
        except Exception as exc:  # the kind cannot be watched (RBAC, discovery): the runs still work
            self._watched.discard(key)
            log.warning("cannot watch %s, created for %s: %s", child.ref, primary.kind, exc)
            return
        controller.watch(informer, owner_mapper(primary, owners.resource.namespaced), (dependent_changed,))
        log.info("watching %s, created for %s", child.ref, primary.kind)
