"""The informer: a reflector (list, then watch) keeping one ``Indexer`` in step with the server.

Role: the cache layer's engine, between a ``ListerWatcher`` (list and watch: ``kubeloop.client.Client``
or another) and the controller (event handlers that enqueue keys). One informer per resource,
namespace and selector.

Guarantees:

- After ``wait_synced()`` the store holds every object of the first complete list.
- Handlers see each change once, in the order the server sent them: ``add`` (``initial=True``
  for objects of a list), ``update``, ``delete``. A relist after ``410 Gone`` delivers only the
  differences from what was stored, deletions included. A handler added later first receives
  the stored objects as initial adds.
- A watch that ends or breaks resumes from the last resourceVersion seen, bookmarks included; a
  too-old resourceVersion relists. Errors back off (0.5 s doubling to 30 s, jittered), never end
  the informer; a watch that ran at least 2 s, or brought events, before it broke resumes after the
  first step (0.5 s),
  so a connection cut every few seconds never leaves the cache blind for long.
- A resource the server does not serve (404: its CRD is not installed yet, or was deleted) has no
  objects: the store is emptied (deletions told) and counts as synced, and the informer lists
  again every few seconds (at most ``_ABSENT_POLL``) until the resource is served. So a missing
  CRD neither fails nor wedges what waits for the cache.
- Several namespaces (``InformerOptions.namespaces``) are listed and watched each on its own, into
  the one store; the informer is synced once every one of them has listed.
- Read-your-own-writes: after ``observe(obj)`` with an object returned by a write, ``get`` and
  ``list`` return that object (or a newer one) even before the watch delivers it; after
  ``observe_deleted(key)`` they no longer return the deleted object. A list (the first, or a
  relist) ends what a write told before its snapshot: afterwards reads equal the list, but for
  own writes newer than it, so an object deleted meanwhile by someone else is not brought back.

Caveats: handlers run on the informer's task and must not block; enqueue and return. Objects
are shared, and so are their values among objects (``InformerOptions.intern_values``); copy before
mutating.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kubeloop.cache._intern import Interner
from kubeloop.cache._listwatch import ListerWatcher
from kubeloop.cache._store import Indexer, IndexFunc, Obj, ObjectKey, key_of
from kubeloop.cache._transforms import Transform
from kubeloop.client import ApiResource
from kubeloop.client.errors import GoneError, NotFoundError
from kubeloop.clock import Clock, RealClock
from kubeloop.errors import KubeloopError
from kubeloop.labels import LabelSelector

__all__ = [
    "Informer",
    "InformerEvent",
    "InformerOptions",
]

log = logging.getLogger("kubeloop.cache")

_HEALTHY_ATTEMPT = 2.0
"""Seconds a list-and-watch attempt must have run before its failure no longer counts toward the backoff."""

_ABSENT_POLL = 5.0
"""The longest wait between lists of a resource the server does not serve (404), for its CRD to appear."""


@dataclass(frozen=True, slots=True)
class InformerEvent:
    """One change seen by the informer; ``old`` is set for updates."""

    type: Literal["add", "update", "delete"]
    obj: Obj
    old: Obj | None = None
    initial: bool = False


Handler = Callable[[InformerEvent], None]


@dataclass(frozen=True)
class InformerOptions:
    """What one informer watches and how.

    ``namespace`` (one) or ``namespaces`` (several, each its own list and watch into the one store)
    scope a namespaced resource; neither means all namespaces. ``metadata_only`` keeps only
    ``apiVersion``, ``kind`` and ``metadata`` of each object, and asks the server for no more
    (``PartialObjectMetadata``), for kinds whose existence, labels or owners are all that is needed.
    ``intern_values``: stored objects share their equal short strings and integers (``Interner``: a
    third less memory per Pod for a few microseconds per object stored); off, each keeps its own.
    """

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    transform: Transform | None = None
    indexers: dict[str, IndexFunc] = field(default_factory=dict)
    page_size: int = 500
    resync_period: float | None = None
    clock: Clock = field(default_factory=RealClock)
    namespaces: tuple[str, ...] = ()
    metadata_only: bool = False
    intern_values: bool = True

    def scopes(self, namespaced: bool) -> tuple[str | None, ...]:
        """The namespaces listed and watched one by one (``None``: all, or cluster-scoped)."""
        if not namespaced:
            return (None,)
        if self.namespaces:
            return tuple(sorted(set(self.namespaces)))
        return (self.namespace,)


def _rv(obj: Obj | None) -> int | None:
    """The resourceVersion as an integer, when it is one (etcd revisions are)."""
    if obj is None:
        return None
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _newer(candidate: Obj, than: Obj | None) -> bool:
    a, b = _rv(candidate), _rv(than)
    return than is None or (a is not None and b is not None and a > b)


class Informer:
    """Lists and watches one resource into an ``Indexer`` and tells handlers what changed."""

    def __init__(
        self, client: ListerWatcher, resource: ApiResource, options: InformerOptions | None = None
    ) -> None:
        self.client = client
        self.resource = resource
        self.options = options or InformerOptions()
        self.store = Indexer(self.options.indexers)
        self._selector = LabelSelector.parse(self.options.label_selector)
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._scopes = self.options.scopes(resource.namespaced)
        self._resource_versions: dict[str | None, str] = dict.fromkeys(self._scopes, "")
        self._listed: set[str | None] = set()
        self._recent: dict[ObjectKey, Obj] = {}
        self._deleted: dict[ObjectKey, int | None] = {}
        self._interner = Interner() if self.options.intern_values else None

    # -- reading ---------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Whether the first list has been stored."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first list has been stored."""
        await self._synced.wait()

    def get(self, namespace: str, name: str) -> Obj | None:
        """The newest known state of one object (own writes included), or None."""
        return self._read(ObjectKey(namespace, name))

    def list(self, namespace: str | None = None, label_selector: str | None = None) -> list[Obj]:
        """Stored objects (own writes included), optionally by namespace and label selector."""
        selector = LabelSelector.parse(label_selector)
        keys = set(self.store.keys()) | set(self._recent)
        found = []
        for key in keys:
            if namespace is not None and key.namespace != namespace:
                continue
            obj = self._read(key)
            if obj is not None and selector.matches(obj):
                found.append(obj)
        return found

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        """Stored objects whose index ``index`` has ``value``."""
        return [
            o for o in (self._read(key_of(x)) for x in self.store.by_index(index, value)) if o is not None
        ]

    def _read(self, key: ObjectKey) -> Obj | None:
        cached = self.store.get(key)
        if key in self._deleted:
            # Deleted when nothing was cached (None): whatever is cached since is a newer object.
            gone_at = self._deleted[key]
            if cached is None or (
                gone_at is not None and not _newer(cached, {"metadata": {"resourceVersion": str(gone_at)}})
            ):
                return None
            del self._deleted[key]
        recent = self._recent.get(key)
        if recent is not None:
            if _newer(recent, cached):
                return recent
            del self._recent[key]
        return cached

    # -- own writes ------------------------------------------------------------------------------

    def observe(self, obj: Obj) -> None:
        """Record an object returned by one of our own writes, so reads see it at once (and no longer
        see it when the write took it out of this informer's scope, e.g. changed a selected label)."""
        if not self._wants(obj):
            key = key_of(obj)
            if self.store.get(key) is not None or key in self._recent:
                self.observe_deleted(*key)
            return
        obj = self._transform(obj)
        key = key_of(obj)
        self._deleted.pop(key, None)
        if _newer(obj, self._read(key)):
            self._recent[key] = obj

    def observe_deleted(self, namespace: str, name: str) -> None:
        """Record that we deleted an object, so reads stop returning it at once."""
        key = ObjectKey(namespace, name)
        self._recent.pop(key, None)
        self._deleted[key] = _rv(self.store.get(key))

    # -- handlers --------------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register ``handler``; if synced already, it first gets the stored objects as initial adds."""
        self._handlers.append(handler)
        if self.synced:
            for obj in self.store:
                handler(InformerEvent("add", obj, initial=True))

    def _emit(self, event: InformerEvent) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s %s", self.resource.kind, key_of(event.obj))

    # -- the reflector ---------------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch (each namespace of the scope, concurrently) until cancelled."""
        resync = asyncio.create_task(self._resync()) if self.options.resync_period else None
        try:
            if len(self._scopes) == 1:
                await self._reflect(self._scopes[0])
            else:
                async with asyncio.TaskGroup() as group:
                    for scope in self._scopes:
                        group.create_task(
                            self._reflect(scope), name=f"reflector {self.resource.plural} {scope}"
                        )
        finally:
            if resync is not None:
                resync.cancel()

    async def _reflect(self, scope: str | None) -> None:
        """List and watch one namespace (or all) until cancelled."""
        clock = self.options.clock
        failures = 0
        need_list = True
        while True:
            attempt, seen = clock.now(), self._resource_versions[scope]
            try:
                if need_list:
                    await self._list(scope)
                    need_list = False
                await self._watch(scope)
                failures = 0
            except GoneError:
                log.info(
                    "%s: resourceVersion %s expired; relisting",
                    self.resource.plural,
                    self._resource_versions[scope],
                )
                need_list = True
            except KubeloopError as exc:
                # A watch that ran a while or brought news before it broke (a dropped connection, a
                # restarted server) resumes at once; only attempts failing in quick succession with
                # nothing to show back off further (connections cut every second pushed it to 30 s).
                healthy = clock.now() - attempt >= _HEALTHY_ATTEMPT or self._resource_versions[scope] != seen
                failures = 1 if healthy else failures + 1
                absent = isinstance(exc, NotFoundError)
                if absent and need_list:
                    self._absent(scope)
                need_list = need_list or absent
                cap = _ABSENT_POLL if absent else 30.0
                delay = min(0.5 * 2 ** (failures - 1), cap) * random.uniform(0.8, 1.2)
                log.warning("%s: %s; retrying in %.1f s", self.resource.plural, exc, delay)
                await clock.sleep(delay)

    def _absent(self, scope: str | None) -> None:
        """The server does not serve the resource (a CRD not installed yet, or deleted): there are no
        objects of it, which is what the store then holds, synced, until it is served again."""
        self._apply_list(scope, {})

    def _wants(self, obj: Obj) -> bool:
        if not self._in_scope(key_of(obj), None if len(self._scopes) > 1 else self._scopes[0]):
            return False
        return self._selector.matches(obj)

    def _in_scope(self, key: ObjectKey, scope: str | None) -> bool:
        """Whether ``key`` belongs to ``scope`` (``None``: to any namespace this informer watches)."""
        if scope is not None:
            return key.namespace == scope
        return self._scopes == (None,) or key.namespace in self._scopes

    def _transform(self, obj: Obj) -> Obj:
        if self.options.metadata_only:
            obj = {
                "apiVersion": self.resource.api_version,
                "kind": self.resource.kind,
                "metadata": obj.get("metadata") or {},
            }
        transform = self.options.transform
        if transform is not None:
            obj = transform(obj)
        return self._interner(obj) if self._interner is not None else obj

    async def _list(self, scope: str | None) -> None:
        items: dict[ObjectKey, Obj] = {}
        token: str | None = None
        while True:
            page = await self.client.list(
                self.resource,
                namespace=scope,
                label_selector=self.options.label_selector,
                field_selector=self.options.field_selector,
                limit=self.options.page_size,
                continue_token=token,
                metadata_only=self.options.metadata_only,
            )
            for item in page.get("items") or ():
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                obj = self._transform(item)
                items[key_of(obj)] = obj
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                self._resource_versions[scope] = str(meta.get("resourceVersion") or "")
                break
        self._apply_list(scope, items)

    def _apply_list(self, scope: str | None, items: dict[ObjectKey, Obj]) -> None:
        """Make the store's part for ``scope`` equal ``items``, telling handlers the differences."""
        initial = not self.synced
        stored = self.store.keys()
        for key in stored:
            if key in items or not self._in_scope(key, scope):
                continue
            gone = self.store.delete(key)
            if gone is not None:
                self._emit(InformerEvent("delete", gone))
        for obj in items.values():
            old = self.store.upsert(obj)
            if old is None:
                self._emit(InformerEvent("add", obj, initial=initial))
            elif (old.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get(
                "resourceVersion"
            ):
                self._emit(InformerEvent("update", obj, old))
        self._forget_writes_before(scope, self._resource_versions[scope])
        self._listed.add(scope)
        if self._listed.issuperset(self._scopes):
            self._synced.set()

    def _forget_writes_before(self, scope: str | None, resource_version: str) -> None:
        """Drop what own writes in ``scope`` told that a list at ``resource_version`` has superseded: the
        list is the server's view then, and only a write after it knows better."""
        snapshot = {"metadata": {"resourceVersion": resource_version}}
        for key, obj in list(self._recent.items()):
            if self._in_scope(key, scope) and not _newer(obj, snapshot):
                del self._recent[key]
        for key in list(self._deleted):
            if self._in_scope(key, scope) and self.store.get(key) is None:
                del self._deleted[key]

    async def _watch(self, scope: str | None) -> None:
        timeout = random.randint(300, 600)
        async for event in self.client.watch(
            self.resource,
            namespace=scope,
            resource_version=self._resource_versions[scope],
            label_selector=self.options.label_selector,
            field_selector=self.options.field_selector,
            allow_bookmarks=True,
            timeout_seconds=timeout,
            metadata_only=self.options.metadata_only,
        ):
            if event.type == "BOOKMARK":
                self._resource_versions[scope] = event.resource_version or self._resource_versions[scope]
                continue
            obj = self._transform(event.object)
            key = key_of(obj)
            if event.type == "DELETED":
                gone = self.store.delete(key)
                self._deleted.pop(key, None)
                self._recent.pop(key, None)
                self._emit(InformerEvent("delete", gone if gone is not None else obj))
            else:
                old = self.store.upsert(obj)
                self._emit(InformerEvent("add", obj) if old is None else InformerEvent("update", obj, old))
            self._resource_versions[scope] = event.resource_version or self._resource_versions[scope]

    async def _resync(self) -> None:
        period = self.options.resync_period or 0.0
        await self.wait_synced()
        while True:
            await self.options.clock.sleep(period * random.uniform(0.9, 1.1))
            for obj in self.store:
                self._emit(InformerEvent("update", obj, obj))
