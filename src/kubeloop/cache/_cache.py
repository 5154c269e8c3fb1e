"""The cache: shared informers, one per resource and scope, started on first use.

Role: what controllers read from and register handlers on. ``informer()`` returns the same
``Informer`` for the same resource, namespace and selectors, so the controllers of one manager
share one watch per kind (client-go's shared informer factory). Informers requested after
``run()`` started are started at once, and ``stop()`` ends one at runtime (an operator that
watches kinds as they come and go). An informer that stops otherwise while the cache runs (it never
should: it retries its errors) ends ``run()`` with the reason, ``StoppedError`` if it has none.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from kubeloop.cache._informer import Informer, InformerOptions
from kubeloop.cache._listwatch import ListerWatcher
from kubeloop.client import ApiResource, ResourceRef
from kubeloop.tasks import Supervisor

__all__ = ["Cache", "CacheOptions"]

_Key = tuple[str, str, str, tuple[str | None, ...], str | None, str | None]


@dataclasses.dataclass(frozen=True)
class CacheOptions:
    """Informer options: ``default`` for every resource (its ``namespace`` or ``namespaces`` restrict
    all informers), ``by_resource`` per resource, keyed ``"<plural>.<group>"`` or ``"<Kind>.<group>"``
    (without ``.<group>`` for the core group), e.g. a transform or a label selector for ``"secrets"``
    only. ``uncached`` names (the same way) resources read from the API server instead: no informer
    is made for them (``Cache.caches`` says so to readers)."""

    default: InformerOptions = dataclasses.field(default_factory=InformerOptions)
    by_resource: Mapping[str, InformerOptions] = dataclasses.field(default_factory=dict)
    uncached: frozenset[str] = frozenset()

    def lookup(self, resource: ApiResource) -> tuple[str, str]:
        """The two names ``resource`` may be keyed by: ``"<plural>.<group>"`` and ``"<Kind>.<group>"``."""
        group = f".{resource.group}" if resource.group else ""
        return f"{resource.plural}{group}", f"{resource.kind}{group}"

    def for_resource(self, resource: ApiResource) -> InformerOptions:
        """The options of ``resource``'s informer: its own, else the default."""
        for name in self.lookup(resource):
            if name in self.by_resource:
                return self.by_resource[name]
        return self.default

    def caches(self, resource: ApiResource) -> bool:
        """Whether ``resource`` is cached (not named in ``uncached``)."""
        return not any(name in self.uncached for name in self.lookup(resource))


class Cache:
    """Shared informers over one ``Client`` (or another ``ListerWatcher``)."""

    def __init__(self, client: ListerWatcher, options: CacheOptions | None = None) -> None:
        self.client = client
        self.options = options or CacheOptions()
        self._informers: dict[_Key, Informer] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._supervisor: Supervisor | None = None
        self._running = asyncio.Event()

    @property
    def informers(self) -> list[Informer]:
        """Every informer created so far."""
        return list(self._informers.values())

    def caches(self, resource: ApiResource) -> bool:
        """Whether reads of ``resource`` come from an informer (else from the API server)."""
        return self.options.caches(resource)

    async def informer(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        """The shared informer of ``ref`` in this scope (created, and started if running, on first use).

        ``ValueError`` for a resource configured as uncached."""
        resource = await self.client.resource(ref)
        if not self.caches(resource):
            raise ValueError(f"{resource.plural} is configured uncached: read it from the API server")
        opts = base = self.options.for_resource(resource)
        if namespace is not None or label_selector or field_selector:  # else: a reconcile's read, as is
            opts = dataclasses.replace(
                base,
                namespace=namespace if namespace is not None else base.namespace,
                namespaces=() if namespace is not None else base.namespaces,
                label_selector=label_selector or base.label_selector,
                field_selector=field_selector or base.field_selector,
            )
        key: _Key = (
            resource.group,
            resource.version,
            resource.plural,
            opts.scopes(resource.namespaced),
            opts.label_selector,
            opts.field_selector,
        )
        found = self._informers.get(key)
        if found is None:
            found = self._informers[key] = Informer(self.client, resource, opts)
            self._start(found)
        return found

    async def stop(self, informer: Informer) -> None:
        """Stop ``informer`` and forget it (its handlers get nothing more; a later ``informer()`` for the
        same resource makes a new one)."""
        self._informers = {k: i for k, i in self._informers.items() if i is not informer}
        task = self._tasks.pop(id(informer), None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _start(self, informer: Informer) -> None:
        if self._group is None or self._supervisor is None:
            return  # started by run()
        name = f"informer {informer.resource.plural}"
        task = self._group.create_task(self._run_informer(informer, self._supervisor), name=name)
        self._tasks[id(informer)] = task

    async def _run_informer(self, informer: Informer, supervisor: Supervisor) -> None:
        name = f"informer {informer.resource.plural}"
        await supervisor.run(name, informer.run(), stopped=lambda: id(informer) not in self._tasks)

    async def run(self) -> None:
        """Run every informer (and those added later) until cancelled."""
        self._supervisor = Supervisor()
        async with asyncio.TaskGroup() as group:
            self._group = group
            for inf in self._informers.values():
                self._start(inf)
            self._running.set()
            try:
                await asyncio.Future()
            finally:
                self._group = None
                self._tasks.clear()

    @property
    def synced(self) -> bool:
        """Whether every informer has stored its first list."""
        return all(i.synced for i in self._informers.values())

    async def wait_synced(self) -> None:
        """Return once every informer created so far has synced."""
        await asyncio.gather(*(i.wait_synced() for i in list(self._informers.values())))
