"""``Loop``: one control loop of the server, fed by the store's events on a task of its own.

A loop gets every committed event in order and looks at those it ``wants``; ``resume`` runs once at
start for the state it finds (objects left mid-deletion by a restart, namespaces without their root
CA). A loop's failure on one event is logged and the loop goes on; a conflict with a concurrent writer
is handled on the next event of the object (all writes go through ``rest.Api`` with manager
``kube-controller-manager``). No requeue or resync yet: the built-in controllers of issue 15 step 1
replace these loops with kubeloop's own controller runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kubeloop.apiserver.machinery.errors import StatusError
from kubeloop.apiserver.registry.types import Registry, ResourceType, by_storage
from kubeloop.apiserver.rest.api import Api, WriteOptions
from kubeloop.apiserver.storage import Event, Obj, Watcher
from kubeloop.gvk import split_api_version

__all__ = ["MANAGER", "Loop"]

log = logging.getLogger(__name__)
MANAGER = WriteOptions(manager="kube-controller-manager")
T = TypeVar("T")


class Loop:
    """Base of the control loops: override ``wants``, ``handle`` and (optionally) ``resume``."""

    name = "loop"

    def __init__(self, api: Api, registry: Registry) -> None:
        self.api = api
        self.store = api.store
        self.registry = registry
        self._task: asyncio.Task[None] | None = None

    def wants(self, event: Event) -> bool:
        return True

    async def handle(self, event: Event) -> None:
        raise NotImplementedError

    async def resume(self) -> None:
        """Act on the state found at start."""

    def start(self) -> None:
        """Subscribe now (no event after this call is missed) and run on a task of its own."""
        watcher = self.store.watch(None)
        self._task = asyncio.create_task(self._run(watcher), name=f"kubeloop-apiserver-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, watcher: Watcher) -> None:
        try:
            await self.guarded(self.resume)
            async for event in watcher:
                if self.wants(event):
                    await self.guarded(self.handle, event)
        finally:
            watcher.close()

    async def guarded(self, fn: Callable[..., Awaitable[T]], *args: object) -> None:
        """Run ``fn``; its failure is logged, not raised (the loop goes on)."""
        try:
            await fn(*args)
        except StatusError as exc:
            log.debug("%s: %s", self.name, exc)
        except Exception:
            log.exception("%s failed", self.name)

    # -- lookups shared by the loops ---------------------------------------------------------------

    def rt_of(self, obj: Obj) -> ResourceType | None:
        """The served resource of ``obj``'s apiVersion and kind (owner references work too)."""
        return self.registry.by_kind(split_api_version(obj.get("apiVersion", ""))[0], obj.get("kind", ""))

    def rt_of_storage(self, storage: str) -> ResourceType | None:
        return by_storage(self.registry, storage)
