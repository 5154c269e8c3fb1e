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
  so a connection cut every few seconds never leaves the cache blind for long. A watch the server
  ends cleanly resumes at once, unless it ended within ``_SHORT_WATCH`` with no event (client-go's
  "very short watch": a proxy or server ending every watch at once): that backs off as an error
  does, so a server that ends every watch gets a watch about every 30 s once the backoff is at its
  cap, not a busy loop.
- A resource the server does not serve (404: its CRD is not installed yet, or was deleted) has no
  objects: the store is emptied (deletions told) and counts as synced, and the informer lists
  again every few seconds (at most ``_ABSENT_POLL``) until the resource is served, warning each
  time with the resource's name and version and whether its CRD is installed. So a missing CRD
  neither fails nor wedges what waits for the cache.
- Several namespaces (``InformerOptions.namespaces``) are listed and watched each on its own, into
  the one store; the informer is synced once every one of them has listed.
- Label selectors can be added at runtime (``add_selector``: a sharded replica adopting the objects
  of a shard that stopped) and removed (``remove_selector``), each listed and watched on its own (in
  each namespace) into the one store, which then holds what any selector selects. An object whose
  labels take it from one selector to another is told once (an update), or as a delete and an add
  when the stream it leaves tells first; an event older than the stored object (by resourceVersion)
  is dropped, and a stream's delete removes only an object that stream still selects. Removing a
  selector deletes (and tells) what only it selected.
- Read-your-own-writes: after ``observe(obj)`` with an object returned by a write, ``get`` and
  ``list`` return that object (or a newer one) even before the watch delivers it; after
  ``observe_deleted(key)`` they no longer return the deleted object. The write's copy is kept
  until the watch brings that version (or a newer one), not longer (``unseen_writes``). A list
  (the first, or a relist) ends what a write told before its snapshot: afterwards reads equal the
  list, but for own writes newer than it, so an object deleted meanwhile by someone else is not
  brought back.

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

_SHORT_WATCH = 1.0
"""Seconds within which a watch that ended cleanly with no event counts as failed (client-go's "very
short watch"), so the next one backs off instead of following at once."""

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

_Stream = tuple[str | None, str | None]
"""One list-and-watch of an informer: a namespace (``None``: all) and a label selector."""


@dataclass(frozen=True)
class InformerOptions:
    """What one informer watches and how.

    ``namespace`` (one) or ``namespaces`` (several, each its own list and watch into the one store)
    scope a namespaced resource; neither means all namespaces. ``metadata_only`` keeps only
    ``apiVersion``, ``kind`` and ``metadata`` of each object, and asks the server for no more
    (``PartialObjectMetadata``), for kinds whose existence, labels or owners are all that is needed.
    ``intern_values``: stored objects share their equal short strings and integers (``Interner``: a
    third less memory per Pod for a few microseconds per object stored); off, each keeps its own.
    ``default_indexes``: the store indexes its objects by namespace and by owner UID (``by_index``,
    ``ctx.prune``); off for a store nobody reads so (the sharder's record of every sharded object:
    0.5 MiB at 10,000 objects in one namespace). ``store``: makes the store to fill instead of an
    ``Indexer`` of the objects as decoded, for one that keeps them in another form (an ``Indexer``
    whose reads rebuild them: the sharder's compact record of every sharded object).
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
    default_indexes: bool = True
    store: Callable[[], Indexer] | None = None

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


def _backoff(failures: int, cap: float) -> float:
    """The wait after the ``failures``-th attempt in a row that failed: 0.5 s doubling up to ``cap``,
    jittered by a fifth either way so that many informers do not retry in step."""
    return min(0.5 * 2.0 ** (failures - 1), cap) * random.uniform(0.8, 1.2)


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
        self.store = (
            self.options.store()
            if self.options.store is not None
            else Indexer(self.options.indexers, defaults=self.options.default_indexes)
        )
        self._selectors: dict[str | None, LabelSelector] = {
            self.options.label_selector: LabelSelector.parse(self.options.label_selector)
        }
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._scopes = self.options.scopes(resource.namespaced)
        self._initial: tuple[_Stream, ...] = tuple((ns, self.options.label_selector) for ns in self._scopes)
        self._resource_versions: dict[_Stream, str] = dict.fromkeys(self._initial, "")
        self._listed: dict[_Stream, asyncio.Event] = {stream: asyncio.Event() for stream in self._initial}
        self._added: dict[str, list[asyncio.Task[None]]] = {}
        self._group: asyncio.TaskGroup | None = None
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

    @property
    def unseen_writes(self) -> int:
        """Own writes recorded by ``observe`` whose version the watch has not brought yet: each a copy
        of its object kept beside the stored one until then."""
        return len(self._recent)

    def written(self) -> builtins.list[ObjectKey]:
        """The keys of own writes recorded by ``observe`` that the watch may not have brought yet
        (``get`` of each returns the write, or what is newer): for a reader of the store itself."""
        return builtins.list(self._recent)

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
        """List and watch (each namespace of the scope, and each selector added, concurrently) until
        cancelled."""
        resync = asyncio.create_task(self._resync()) if self.options.resync_period else None
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for stream in self._initial:
                    self._start(stream)
        finally:
            self._group = None
            self._added.clear()
            if resync is not None:
                resync.cancel()

    def _start(self, stream: _Stream) -> asyncio.Task[None]:
        assert self._group is not None
        name = f"reflector {self.resource.plural} {stream[0]} {stream[1]}"
        return self._group.create_task(self._reflect(stream), name=name)

    # -- selectors added at runtime ----------------------------------------------------------------

    async def add_selector(self, selector: str) -> None:
        """Also list and watch what ``selector`` selects (in each namespace of the scope, the field
        selector applying too) into the same store; returns once that has been listed. The informer
        must be running."""
        if self._group is None:
            raise RuntimeError(f"{self.resource.plural}: add_selector needs a running informer")
        if selector not in self._selectors:
            self._selectors[selector] = LabelSelector.parse(selector)
            streams = [(ns, selector) for ns in self._scopes]
            for stream in streams:
                self._resource_versions[stream] = ""
                self._listed[stream] = asyncio.Event()
            self._added[selector] = [self._start(stream) for stream in streams]
        await asyncio.gather(*(self._listed[(ns, selector)].wait() for ns in self._scopes))

    async def remove_selector(self, selector: str) -> None:
        """Stop listing and watching what ``add_selector(selector)`` added; what only it selected is
        deleted from the store (and told). The informer's own selector is not removed."""
        if selector == self.options.label_selector:
            return
        tasks = self._added.pop(selector, [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        match = self._selectors.pop(selector, None)
        if match is None:
            return
        for ns in self._scopes:
            self._resource_versions.pop((ns, selector), None)
            self._listed.pop((ns, selector), None)
        stored = self.store.keys()
        for key in stored:
            held = self.store.get(key)
            if held is not None and match.matches(held) and not self._selected(held):
                self.store.delete(key)
                self._recent.pop(key, None)
                self._emit(InformerEvent("delete", held))

    def _selected(self, obj: Obj) -> bool:
        """Whether one of the label selectors selects ``obj``."""
        return any(selector.matches(obj) for selector in self._selectors.values())

    def _held_elsewhere(self, stream: _Stream, held: Obj | None) -> bool:
        """Whether the stored ``held`` came by another selector than ``stream``'s (so is not
        ``stream``'s to delete): the object moved from one selector to another."""
        if held is None or len(self._selectors) == 1:
            return False
        selector = self._selectors.get(stream[1])
        return selector is None or not selector.matches(held)

    def _stale(self, obj: Obj, held: Obj | None) -> bool:
        """Whether ``obj`` is older than the stored ``held`` (only across selectors: each stream's
        events come in order)."""
        return len(self._selectors) > 1 and held is not None and _newer(held, obj)

    # -- one stream ------------------------------------------------------------------------------

    async def _reflect(self, stream: _Stream) -> None:
        """List and watch one namespace (or all) with one label selector until cancelled."""
        clock = self.options.clock
        failures = 0
        need_list = True
        while True:
            attempt, seen = clock.now(), self._resource_versions[stream]
            try:
                if need_list:
                    await self._list(stream)
                    need_list = False
                watched = clock.now()
                if await self._watch(stream) or clock.now() - watched >= _SHORT_WATCH:
                    failures = 0
                    continue
                failures += 1
                delay = _backoff(failures, 30.0)
                log.warning(
                    "%s: the watch ended at once with no event (a server or proxy ending watches?);"
                    " watching again in %.1f s",
                    self.resource.plural,
                    delay,
                )
                await clock.sleep(delay)
            except GoneError:
                log.info(
                    "%s: resourceVersion %s expired; relisting",
                    self.resource.plural,
                    self._resource_versions[stream],
                )
                need_list = True
            except KubeloopError as exc:
                # A watch that ran a while or brought news before it broke (a dropped connection, a
                # restarted server) resumes at once; only attempts failing in quick succession with
                # nothing to show back off further (connections cut every second pushed it to 30 s).
                healthy = clock.now() - attempt >= _HEALTHY_ATTEMPT or self._resource_versions[stream] != seen
                failures = 1 if healthy else failures + 1
                absent = isinstance(exc, NotFoundError)
                if absent and need_list:
                    self._absent(stream)
                need_list = need_list or absent
                cap = _ABSENT_POLL if absent else 30.0
                delay = _backoff(failures, cap)
                if absent:
                    log.warning(
                        "%s: not served (404; is its CRD installed?): no objects of it until it is;"
                        " listing again in %.1f s",
                        self._served_name(),
                        delay,
                    )
                else:
                    log.warning("%s: %s; retrying in %.1f s", self.resource.plural, exc, delay)
                await clock.sleep(delay)

    def _served_name(self) -> str:
        """The resource as kubectl names it with its version: ``widgets.v1.example.com``, ``pods.v1``."""
        group = f".{self.resource.group}" if self.resource.group else ""
        return f"{self.resource.plural}.{self.resource.version}{group}"

    def _absent(self, stream: _Stream) -> None:
        """The server does not serve the resource (a CRD not installed yet, or deleted): there are no
        objects of it, which is what the store then holds, synced, until it is served again."""
        self._apply_list(stream, {})

    def _wants(self, obj: Obj) -> bool:
        if not self._in_scope(key_of(obj), None if len(self._scopes) > 1 else self._scopes[0]):
            return False
        return self._selected(obj)

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

    async def _list(self, stream: _Stream) -> None:
        items: dict[ObjectKey, Obj] = {}
        token: str | None = None
        while True:
            page = await self.client.list(
                self.resource,
                namespace=stream[0],
                label_selector=stream[1],
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
                self._resource_versions[stream] = str(meta.get("resourceVersion") or "")
                break
        self._apply_list(stream, items)

    def _apply_list(self, stream: _Stream, items: dict[ObjectKey, Obj]) -> None:
        """Make the store's part for ``stream`` equal ``items``, telling handlers the differences."""
        initial = not self.synced
        scope = stream[0]
        stored = self.store.keys()
        for key in stored:
            if key in items or not self._in_scope(key, scope):
                continue
            if self._held_elsewhere(stream, self.store.get(key)):
                continue  # selected by another of the selectors: not this list's to end
            gone = self.store.delete(key)
            if gone is not None:
                self._emit(InformerEvent("delete", gone))
        for obj in items.values():
            if self._stale(obj, self.store.get(key_of(obj))):
                continue
            old = self.store.upsert(obj)
            if old is None:
                self._emit(InformerEvent("add", obj, initial=initial))
            elif (old.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get(
                "resourceVersion"
            ):
                self._emit(InformerEvent("update", obj, old))
        self._forget_writes_before(stream, self._resource_versions[stream])
        self._listed[stream].set()
        if all(self._listed[s].is_set() for s in self._initial):
            self._synced.set()

    def _forget_writes_before(self, stream: _Stream, resource_version: str) -> None:
        """Drop what own writes in ``stream`` told that a list at ``resource_version`` has superseded: the
        list is the server's view then, and only a write after it knows better."""
        snapshot = {"metadata": {"resourceVersion": resource_version}}
        scope = stream[0]
        for key, obj in list(self._recent.items()):
            if (
                self._in_scope(key, scope)
                and not _newer(obj, snapshot)
                and not self._held_elsewhere(stream, obj)
            ):
                del self._recent[key]
        for key in list(self._deleted):
            if self._in_scope(key, scope) and self.store.get(key) is None:
                del self._deleted[key]

    async def _watch(self, stream: _Stream) -> int:
        """Watch ``stream`` from its last resourceVersion until the server ends the watch; how many
        events (bookmarks included) it brought."""
        timeout = random.randint(300, 600)
        events = 0
        async for event in self.client.watch(
            self.resource,
            namespace=stream[0],
            resource_version=self._resource_versions[stream],
            label_selector=stream[1],
            field_selector=self.options.field_selector,
            allow_bookmarks=True,
            timeout_seconds=timeout,
            metadata_only=self.options.metadata_only,
        ):
            events += 1
            if event.type != "BOOKMARK":
                self._apply_event(stream, event.type, self._transform(event.object))
            self._resource_versions[stream] = event.resource_version or self._resource_versions[stream]
        return events

    def _apply_event(self, stream: _Stream, type_: str, obj: Obj) -> None:
        key = key_of(obj)
        held = self.store.get(key)
        if type_ == "DELETED":
            if self._held_elsewhere(stream, held):
                return  # moved to another selector, whose stream told it first
            gone = self.store.delete(key)
            self._deleted.pop(key, None)
            self._recent.pop(key, None)
            self._emit(InformerEvent("delete", gone if gone is not None else obj))
        elif not self._stale(obj, held):
            old = self.store.upsert(obj)
            self._seen_write(key, obj)
            self._emit(InformerEvent("add", obj) if old is None else InformerEvent("update", obj, old))

    def _seen_write(self, key: ObjectKey, stored: Obj) -> None:
        """Forget the own write of ``key`` that ``stored`` (from the watch) is as new as: reads return
        ``stored`` from now on, as they would have on the next read of ``key`` (``_read``), but the
        write's copy is not kept until that read, which a reconcile's own writes (a child applied, a
        status written) get only when it runs again: with thousands of reconciles queued, minutes and
        a second copy of every object written."""
        recent = self._recent.get(key)
        if recent is not None and not _newer(recent, stored):
            del self._recent[key]

    async def _resync(self) -> None:
        period = self.options.resync_period or 0.0
        await self.wait_synced()
        while True:
            await self.options.clock.sleep(period * random.uniform(0.9, 1.1))
            for obj in self.store:
                self._emit(InformerEvent("update", obj, obj))
