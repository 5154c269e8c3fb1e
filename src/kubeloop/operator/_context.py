"""``Context``: what a reconcile function gets beside its object — reads, declarative children,
status, conditions, Events and a logger that names the object.

Reads come from the shared cache; writes go to the API server and are recorded in the cache
(read-your-own-writes). ``apply`` server-side-applies children with this operator's field
manager and the primary object as their controller. Nothing is pruned unless the reconcile asks:
``prune()`` declares that what this pass applied is the complete set of children and deletes the
others (see its docstring for exactly which).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import functools
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TypeVar, cast, overload

from kubeloop.cache import INDEX_OWNER, Cache, Informer, key_of
from kubeloop.client import ApiResource, Client, ConflictError, NotFoundError, Preconditions
from kubeloop.controller import Request
from kubeloop.crd import CustomResource, Model
from kubeloop.helpers import (
    ConditionStatus,
    EventRecorder,
    EventType,
    controller_of,
    set_condition,
    set_controller_reference,
)
from kubeloop.operator._applied import AppliedChildren
from kubeloop.operator._kinds import KindLike, KindSpec, kind_spec, resolve
from kubeloop.resources import Kind, kind_of

__all__ = ["Context"]

Obj = dict[str, Any]
K = TypeVar("K", bound=Mapping[str, Any])
M = TypeVar("M", bound=CustomResource)
S = TypeVar("S", bound=Mapping[str, Any])
A = TypeVar("A", bound=Mapping[str, Any] | Model)
B = TypeVar("B", bound=Mapping[str, Any] | Model)
C = TypeVar("C", bound=Mapping[str, Any] | Model)


class _KeyLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every message with the object key and passes it as ``extra`` for structured output."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return f"[{(self.extra or {}).get('key')}] {msg}", kwargs


def _to_dict(obj: Mapping[str, Any] | Model) -> Obj:
    if isinstance(obj, Model):
        dumped: Obj = obj.model_dump(by_alias=True, exclude_none=True, mode="json")
        return dumped
    return copy.deepcopy(dict(obj))


class Context:
    """The tools of one reconcile of one object (a new Context per reconcile)."""

    def __init__(
        self,
        *,
        request: Request,
        obj: Obj,
        client: Client,
        cache: Cache,
        field_manager: str,
        owned: list[KindSpec],
        recorder: EventRecorder,
        logger: logging.Logger,
        child_labels: Mapping[str, str] | None = None,
        applied: AppliedChildren | None = None,
    ) -> None:
        self.request = request
        self.obj = obj
        """The primary object as read from the cache (do not mutate; see ``status``)."""
        self.client = client
        self.cache = cache
        self.field_manager = field_manager
        status = obj.get("status")
        self.status: Obj = copy.deepcopy(status) if isinstance(status, dict) else {}
        """The status to write after the reconcile; change it in place (written only if changed).
        Starts empty when the stored status is not an object. A custom resource's typed status is
        its model's (``obj.status``): what the reconcile sets there lands here once it returns; a
        built-in kind's is ``status_as``."""
        self._logger = logger
        self._owned = owned
        self._child_labels = dict(child_labels or {})
        """Labels every owned child gets (a sharded operator's: the owner's shard, which children follow)."""
        self._recorder = recorder
        self._declared: set[tuple[str, str, str, str]] = set()
        """(group, kind, namespace, name) of every object this pass tried to apply, applied or not."""
        self._applied = applied
        """Tells which applies of children would change nothing (``apply`` skips them)."""

    @functools.cached_property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose messages name the object (made on first use: most passes log nothing)."""
        return _KeyLogger(self._logger, {"key": str(self.request), "kind": self.obj.get("kind")})

    @property
    def generation(self) -> int | None:
        """``metadata.generation`` of the primary object."""
        gen = (self.obj.get("metadata") or {}).get("generation")
        return int(gen) if gen is not None else None

    # -- reads -------------------------------------------------------------------------------------

    async def informer(self, kind: KindLike) -> Informer:
        """The shared informer of ``kind`` (started and synced on first use); ``ValueError`` for a kind
        the operator declared uncached."""
        return await self._informer(await resolve(self.client, kind_spec(kind)))

    async def _informer(self, resource: ApiResource) -> Informer:
        informer = await self.cache.informer(resource)
        await informer.wait_synced()
        return informer

    @overload
    async def get(self, kind: type[M], name: str, namespace: str | None = None) -> M | None: ...
    @overload
    async def get(self, kind: type[K], name: str, namespace: str | None = None) -> K | None: ...
    @overload
    async def get(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj | None: ...
    async def get(self, kind: KindLike, name: str, namespace: str | None = None) -> Any:
        """An object from the cache (from the API server for an uncached kind), or None; ``namespace``
        defaults to the primary's. Typed as the kind when given a typed kind (``apps_v1.Deployment``):
        the cache's own dict, not a copy; given a ``crd.CustomResource`` class, parsed into it (a
        ``pydantic.ValidationError`` names the fields that do not fit)."""
        spec = kind_spec(kind)
        resource = await resolve(self.client, spec)
        ns = (namespace if namespace is not None else self.request.namespace) if resource.namespaced else ""
        if not self.cache.caches(resource):
            try:
                found: Obj | None = await self.client.get(resource, name, namespace=ns or None)
            except NotFoundError:
                found = None
        else:
            found = (await self._informer(resource)).get(ns, name)
        return spec.parse(found) if found is not None else None

    @overload
    async def list(
        self,
        kind: type[M],
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        index: str | None = None,
        value: str = "",
    ) -> builtins.list[M]: ...
    @overload
    async def list(
        self,
        kind: type[K],
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        index: str | None = None,
        value: str = "",
    ) -> builtins.list[K]: ...
    @overload
    async def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        index: str | None = None,
        value: str = "",
    ) -> builtins.list[Obj]: ...
    async def list(
        self,
        kind: KindLike,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        index: str | None = None,
        value: str = "",
    ) -> builtins.list[Any]:
        """Objects from the cache (from the API server for an uncached kind), typed as ``get``'s;
        ``namespace`` defaults to the primary's. With ``index``: the objects whose index (declared in
        the kind's ``CacheScope``) has ``value``, in every namespace unless ``namespace`` is given
        (``KeyError`` for an index that is not declared)."""
        spec = kind_spec(kind)
        resource = await resolve(self.client, spec)
        found: builtins.list[Obj]
        if index is not None:
            if not self.cache.caches(resource):
                raise ValueError(f"{resource.kind} is uncached: it has no indexes")
            indexed = (await self._informer(resource)).by_index(index, value)
            found = [o for o in indexed if namespace is None or key_of(o).namespace == namespace]
        else:
            ns = (
                (namespace if namespace is not None else self.request.namespace)
                if resource.namespaced
                else None
            )
            if not self.cache.caches(resource):
                items = self.client.list_items(resource, namespace=ns or None, label_selector=label_selector)
                found = [item async for item in items]
            else:
                found = (await self._informer(resource)).list(ns, label_selector)
        return found if spec.model is None else [spec.parse(o) for o in found]

    # -- writes ------------------------------------------------------------------------------------

    @overload
    async def apply(
        self, a: A, /, *, owned: bool = True, force: bool = True, concurrently: bool = False
    ) -> tuple[A]: ...
    @overload
    async def apply(
        self, a: A, b: B, /, *, owned: bool = True, force: bool = True, concurrently: bool = False
    ) -> tuple[A, B]: ...
    @overload
    async def apply(
        self, a: A, b: B, c: C, /, *, owned: bool = True, force: bool = True, concurrently: bool = False
    ) -> tuple[A, B, C]: ...
    @overload
    async def apply(
        self,
        a: Mapping[str, Any] | Model,
        b: Mapping[str, Any] | Model,
        c: Mapping[str, Any] | Model,
        d: Mapping[str, Any] | Model,
        /,
        *more: Mapping[str, Any] | Model,
        owned: bool = True,
        force: bool = True,
        concurrently: bool = False,
    ) -> tuple[Any, ...]: ...
    async def apply(
        self,
        *objects: Mapping[str, Any] | Model,
        owned: bool = True,
        force: bool = True,
        concurrently: bool = False,
    ) -> tuple[Any, ...]:
        """Server-side apply ``objects`` as this operator; returns them as stored, in order, each of
        the type it was given (a dict, a typed kind such as ``apps_v1.Deployment``, or a model).

        ``owned``: make the primary object their controller (so they are garbage-collected with it,
        their events reconcile it, and ``prune()`` may delete them once no longer applied).
        Each object counts as declared by this pass from the moment it is sent, so one the server
        refuses is still not pruned.

        An owned child of a kind the reconcile ``owns`` is not sent when the apply would change
        nothing: the cached child's managedFields entry of this operator's apply holds exactly the
        fields of the object, and every value is as cached (see ``kubeloop.operator._applied``); it
        is returned as cached. This holds across restarts: a new process sends no apply for a child
        that is as it wants it.

        The objects are applied one after another, each once the one before is stored; with
        ``concurrently`` all at once, so that the pass waits for one round trip instead of one per
        object. Use it for objects that need not exist one before another (a Deployment and its
        Service), not for a Namespace and what goes in it, nor a ServiceAccount and a Pod that runs
        as it. Then every object is sent even when one fails, and the first failure in the order
        given is raised once all have been answered.
        """
        applied = self._applied

        async def one(given: Mapping[str, Any] | Model) -> Any:
            obj = _to_dict(given)
            meta = obj.setdefault("metadata", {})
            resource = await self.client.resource(f"{obj['apiVersion']}/{obj['kind']}")
            if resource.namespaced:
                meta.setdefault("namespace", self.request.namespace or self.client.namespace)
            if owned:
                set_controller_reference(self.obj, obj)
                if self._child_labels:
                    meta["labels"] = {**(meta.get("labels") or {}), **self._child_labels}
            key = (resource.group, resource.kind, *key_of(obj))
            self._declared.add(key)
            cached = self.cache.caches(resource)
            result: Obj | None = None
            if owned and cached and applied is not None and (resource.group, resource.kind) in applied.owned:
                live = (await self._informer(resource)).get(key[2], key[3])
                if applied.unchanged(obj, live):
                    result = live
            if result is None:
                result = await self.client.apply(obj, field_manager=self.field_manager, force=force)
                if cached:
                    (await self.cache.informer(resource)).observe(result)
            return type(given).model_validate(result) if isinstance(given, Model) else result

        if not concurrently:
            return tuple([await one(given) for given in objects])
        answers = await asyncio.gather(*(one(given) for given in objects), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return tuple(answers)

    async def delete(self, kind: KindLike, name: str, namespace: str | None = None) -> None:
        """Delete an object (no error if it is gone already)."""
        spec = kind_spec(kind)
        resource = await self.client.resource(spec.ref)
        ns = (namespace if namespace is not None else self.request.namespace) if resource.namespaced else ""
        with contextlib.suppress(NotFoundError):
            await self.client.delete(resource, name, namespace=ns or None)
        if self.cache.caches(resource):
            (await self.cache.informer(resource)).observe_deleted(ns, name)

    async def prune(self, *kinds: KindLike) -> builtins.list[Obj]:
        """Declare that what this pass applied is the complete set of children, and delete the rest.

        Deleted: objects of the owned kinds (or only of ``kinds``, which must be owned) that the
        primary object controls and this operator server-side-applied, and that this pass did not
        try to apply. Nothing else is ever deleted, and nothing at all unless a reconcile calls this:
        a pass that returns early, requeues or raises before calling it leaves every child alone.
        Call it after the last ``apply`` of the pass; returns the objects deleted. A child recreated
        under the same name meanwhile (another uid) is left alone.
        """
        owned = {spec.ref: spec for spec in self._owned}
        specs = list(self._owned)
        if kinds:
            specs = [kind_spec(kind) for kind in kinds]
            stray = [spec.kind for spec in specs if spec.ref not in owned]
            if stray:
                raise ValueError(f"prune() of kinds this reconcile does not own: {', '.join(stray)}")
        uid = str((self.obj.get("metadata") or {}).get("uid"))
        pruned = []
        for spec in specs:
            informer = await self.informer(spec.ref)
            for child in informer.by_index(INDEX_OWNER, uid):
                key = (informer.resource.group, informer.resource.kind, *key_of(child))
                meta = child["metadata"]
                controller = controller_of(child) or {}
                if (
                    key in self._declared
                    or controller.get("uid") != uid
                    or meta.get("deletionTimestamp")
                    or not _applied_by(child, self.field_manager)
                ):
                    continue
                if await self._delete_exact(informer, child):
                    pruned.append(child)
        return pruned

    async def _delete_exact(self, informer: Informer, obj: Obj) -> bool:
        """Delete ``obj`` if it is still the object with its uid; whether this call deleted it."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        try:
            await self.client.delete(
                informer.resource,
                meta["name"],
                namespace=namespace or None,
                preconditions=Preconditions(uid=meta.get("uid")),
            )
        except (NotFoundError, ConflictError):
            return False
        informer.observe_deleted(namespace, meta["name"])
        return True

    # -- status, conditions, events ------------------------------------------------------------------

    def status_as(self, status_type: type[S]) -> S:
        """``status`` typed as the primary's kind's status (``ctx.status_as(core_v1.ServiceStatus)``):
        the same dict, so what a reconcile sets in it is written after the pass. ``TypeError`` when
        ``status_type`` is not the ``status`` field's type of the primary's kind."""
        module = sys.modules.get(status_type.__module__)
        kind = getattr(module, str(self.obj.get("kind")), None)
        found = kind_of(kind)
        if (
            found is None
            or found.api_version != self.obj.get("apiVersion")
            or (getattr(kind, "__annotations__", {}).get("status") is not status_type)
        ):
            raise TypeError(f"{status_type.__qualname__} is not the status of {self.obj.get('kind')}")
        return cast(S, self.status)

    def set_condition(
        self, type: str, status: ConditionStatus | bool, reason: str, message: str = ""
    ) -> bool:
        """Set a condition in ``self.status`` with ``observedGeneration``; returns whether it changed."""
        return set_condition(self.status, type, status, reason, message, observed_generation=self.generation)

    def event(self, type: EventType, reason: str, message: str) -> None:
        """Record an Event about the primary object (written in the background)."""
        self._recorder.record(self.obj, type, reason, message)


def _applied_by(obj: Mapping[str, Any], manager: str) -> bool:
    """Whether ``manager`` owns fields of ``obj`` through server-side apply."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or ():
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return True
    return False
