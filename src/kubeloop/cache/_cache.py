"""The cache: shared informers, one per resource and scope, started on first use.

Role: what controllers read from and register handlers on. ``informer()`` returns the same
``Informer`` for the same resource, namespace and selectors, so the controllers of one manager
share one watch per kind (client-go's shared informer factory). Informers requested after
``run()`` started are started at once. An informer that stops while the cache runs (it never
should: it retries its errors) ends ``run()`` with the reason, ``StoppedError`` if it has none.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from kubeloop.cache._informer import Informer, InformerOptions
from kubeloop.client import Client, ResourceRef
from kubeloop.tasks import Supervisor

__all__ = ["Cache", "CacheOptions"]

_Key = tuple[str, str, str, str | None, str | None, str | None]


@dataclasses.dataclass(frozen=True)
class CacheOptions:
    """Informer options: ``default`` for every resource (its ``namespace`` restricts all informers
    to one namespace), ``by_resource`` per resource, keyed ``"<plural>.<group>"`` (``"<plural>"``
    for the core group), e.g. a transform or a label selector for ``"secrets"`` only."""

    default: InformerOptions = dataclasses.field(default_factory=InformerOptions)
    by_resource: Mapping[str, InformerOptions] = dataclasses.field(default_factory=dict)


class Cache:
    """Shared informers over one ``Client``."""

    def __init__(self, client: Client, options: CacheOptions | None = None) -> None:
        self.client = client
        self.options = options or CacheOptions()
        self._informers: dict[_Key, Informer] = {}
        self._group: asyncio.TaskGroup | None = None
        self._supervisor: Supervisor | None = None
        self._running = asyncio.Event()

    @property
    def informers(self) -> list[Informer]:
        """Every informer created so far."""
        return list(self._informers.values())

    async def informer(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        """The shared informer of ``ref`` in this scope (created, and started if running, on first use)."""
        resource = await self.client.resource(ref)
        name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        base = self.options.by_resource.get(name, self.options.default)
        ns = namespace if namespace is not None else base.namespace
        if not resource.namespaced:
            ns = None
        key: _Key = (resource.group, resource.version, resource.plural, ns, label_selector, field_selector)
        found = self._informers.get(key)
        if found is None:
            opts = dataclasses.replace(
                base,
                namespace=ns,
                label_selector=label_selector or base.label_selector,
                field_selector=field_selector or base.field_selector,
            )
            found = self._informers[key] = Informer(self.client, resource, opts)
            self._start(found)
        return found

    def _start(self, informer: Informer) -> None:
        if self._group is None or self._supervisor is None:
            return  # started by run()
        name = f"informer {informer.resource.plural}"
        self._group.create_task(self._supervisor.run(name, informer.run()), name=name)

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

    @property
    def synced(self) -> bool:
        """Whether every informer has stored its first list."""
        return all(i.synced for i in self._informers.values())

    async def wait_synced(self) -> None:
        """Return once every informer created so far has synced."""
        await asyncio.gather(*(i.wait_synced() for i in list(self._informers.values())))
