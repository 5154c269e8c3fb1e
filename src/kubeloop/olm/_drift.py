"""Watches what each ClusterExtension installed, by its release's labels and as its service account,
so that an installed object edited or deleted by hand reconciles the extension at once (which puts it
back: ``Installer.restore``).

One watch per kind and namespace the release has objects of (its record included), through the
client that acts as the extension's service account: the lifecycle operator itself needs no right to
read what it installs. A watch that fails is started again after ``retry`` seconds with a fresh list,
and the extension is reconciled then too (anything may have happened meanwhile). A watch the server
ends cleanly resumes at once, but after ``retry`` seconds when it ended within ``_SHORT_WATCH`` with no
event (a server or proxy ending every watch at once), so such a server sees no busy loop of watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from kubeloop.client import Client, GoneError
from kubeloop.controller import Request
from kubeloop.errors import KubeloopError
from kubeloop.olm._names import release_selector
from kubeloop.olm._release import Release

__all__ = ["DriftWatcher"]

log = logging.getLogger("kubeloop.olm")

Kinds = frozenset[tuple[str, str | None]]  # ("apiVersion/Kind", namespace or None)

_SHORT_WATCH = 1.0
"""Seconds within which a watch that ended with no event waits ``retry`` before the next (client-go's
"very short watch")."""


class DriftWatcher:
    """Per ClusterExtension, the watches of its release's objects; ``enqueue`` reconciles it.

    An async context manager run by the lifecycle operator's manager: leaving it stops every watch.
    """

    def __init__(self, enqueue: Callable[[Request], None], *, retry: float = 5.0) -> None:
        self.enqueue = enqueue
        self.retry = retry
        self._watched: dict[str, tuple[Kinds, list[asyncio.Task[None]]]] = {}
        self._running = False

    async def __aenter__(self) -> DriftWatcher:
        self._running = True
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._running = False
        for name in list(self._watched):
            await self.stop(name)

    def watch(self, request: Request, client: Client, release: Release) -> None:
        """Watch ``release``'s objects through ``client`` for ``request`` (its ClusterExtension);
        nothing changes when they are already watched so."""
        kinds: Kinds = frozenset(
            {(f"{r.api_version}/{r.kind}", r.namespace) for r in release.objects}
            | {("v1/ConfigMap", release.namespace)}
        )
        current = self._watched.get(request.name)
        if not self._running or (current is not None and current[0] == kinds):
            return
        if current is not None:
            for task in current[1]:
                task.cancel()
        selector = release_selector(release.namespace, release.package)
        tasks = [
            asyncio.create_task(self._run(request, client, resource, namespace, selector))
            for resource, namespace in sorted(kinds, key=str)
        ]
        self._watched[request.name] = (kinds, tasks)

    async def stop(self, name: str) -> None:
        """Stop watching for ClusterExtension ``name``."""
        _, tasks = self._watched.pop(name, (frozenset(), []))
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(
        self, request: Request, client: Client, resource: str, namespace: str | None, selector: str
    ) -> None:
        version: str | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                if version is None:
                    listed = await client.list(resource, namespace=namespace, label_selector=selector)
                    version = str(listed["metadata"]["resourceVersion"])
                started, events = loop.time(), 0
                async for event in client.watch(
                    resource, namespace=namespace, resource_version=version, label_selector=selector
                ):
                    events += 1
                    version = event.resource_version or version
                    if event.type in ("MODIFIED", "DELETED"):
                        self.enqueue(request)
                if not events and loop.time() - started < _SHORT_WATCH:
                    log.warning(
                        "watching %s of %s: the watch ended at once with no event (again in %gs)",
                        resource,
                        request,
                        self.retry,
                    )
                    await asyncio.sleep(self.retry)
            except GoneError:
                version = None
                self.enqueue(request)
            except KubeloopError as err:
                log.warning(
                    "watching %s of %s for drift failed (again in %gs): %s",
                    resource,
                    request,
                    self.retry,
                    err,
                )
                version = None
                await asyncio.sleep(self.retry)
                self.enqueue(request)
