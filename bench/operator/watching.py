"""The harness's own watch of a run's AppServices, in one namespace or several (bench/operator/run.py):
when each status change reached it, for the event -> reconcile latency and the cold start, which need
more than the converge curve's one-second polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from kubeloop.client import Client

APPS = "appservices.app.example.com"
Obj = dict[str, Any]


def ready_condition(obj: Obj | None) -> Obj | None:
    if obj is None:
        return None
    conditions = (obj.get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def observed_generation(obj: Obj | None) -> int:
    """The generation the operator last reported on in the Ready condition (-1: none yet)."""
    condition = ready_condition(obj)
    return int(condition.get("observedGeneration", -1)) if condition else -1


def is_ready(obj: Obj, size: int) -> bool:
    """Ready for the current generation with ``size`` ready replicas."""
    condition = ready_condition(obj)
    return (
        condition is not None
        and condition.get("status") == "True"
        and condition.get("observedGeneration") == obj["metadata"]["generation"]
        and (obj.get("status") or {}).get("readyReplicas", 0) == size
    )


class Watch:
    """Objects of ``kind`` (AppServices unless told) in a namespace, or in each of several (a watch per
    namespace; their names are told apart by name alone, so unique across them), as they reach the
    harness; ``synced`` holds the names that ``predicate`` accepts, kept per event so that a wait over
    10,000 objects costs O(1) per event (bench/sharding/run.py counts converged Deployments with it)."""

    def __init__(
        self, api: Client, namespace: str | tuple[str, ...], prefix: str = "app-", kind: str = APPS
    ) -> None:
        self.api, self.prefix, self.kind = api, prefix, kind
        self.namespaces = (namespace,) if isinstance(namespace, str) else namespace
        self.objects: dict[str, Obj] = {}
        self.changed = asyncio.Event()
        self.predicate: Callable[[Obj], bool] = lambda _: False
        self.synced: set[str] = set()
        self.first_status: float | None = None  # monotonic time of the first status seen since reset()
        self._tasks: list[asyncio.Task[None]] = []

    def _seen(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if not name.startswith(self.prefix):
            return
        self.objects[name] = obj
        if self.first_status is None and obj.get("status"):
            self.first_status = time.monotonic()
        if self.predicate(obj):
            self.synced.add(name)
        else:
            self.synced.discard(name)
        self.changed.set()

    def reset(self, predicate: Callable[[Obj], bool]) -> None:
        """Start counting anew: ``synced`` from the objects as they stand, no first status yet."""
        self.predicate, self.first_status = predicate, None
        self.synced = {name for name, obj in self.objects.items() if predicate(obj)}

    async def _follow(self, namespace: str) -> None:
        while True:
            listed = await self.api.list(self.kind, namespace=namespace)
            for obj in listed["items"]:
                self._seen(obj)
            try:
                version = listed["metadata"]["resourceVersion"]
                async for event in self.api.watch(self.kind, namespace=namespace, resource_version=version):
                    if event.type in ("ADDED", "MODIFIED"):
                        self._seen(event.object)
            except Exception:  # the watch ended (410 Gone or a cut): list again
                await asyncio.sleep(0.5)

    async def __aenter__(self) -> Watch:
        self._tasks = [asyncio.create_task(self._follow(ns)) for ns in self.namespaces]
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()

    async def until(
        self, check: Callable[[], bool], within: float, what: str, alive: Callable[[], None] = lambda: None
    ) -> float:
        """The monotonic time at which ``check`` first held after an event; ``alive`` is called at
        least every second (it raises when the operator exited); TimeoutError after ``within``."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {within:.0f} s")
            alive()
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(1.0, max(0.0, deadline - time.monotonic())))
        return time.monotonic()
