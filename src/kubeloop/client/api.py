"""``Client``: the verbs of the Kubernetes API on any resource, built-in or custom, with plain dicts.

Objects go out and come back exactly as JSON dicts (nothing the server sent is dropped). Resources are
named the kubectl way (``"configmaps"``, ``"deploy"``, ``"apps/v1/Deployment"``,
``"crontabs.stable.example.com"``), by an ``ApiResource``, or by a typed kind of ``kubeloop.resources``
(``apps_v1.Deployment``): then the result is typed as that kind, still the same dict (``TypedRef``).
Given a model class (a ``crd.CustomResource``, see ``ResourceModel``), ``get``/``list``/``watch`` parse
what the server sends into it and ``apply`` takes and returns the model; only then is anything parsed.
Objects being written name themselves through ``apiVersion`` and ``kind``.

Namespaces: for one object, ``namespace=None`` means the object's own ``metadata.namespace``, else the
config's namespace; for ``list``/``watch``/``delete_collection``, ``None`` means all namespaces
(as controller-runtime does). Cluster-scoped resources ignore ``namespace``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

import orjson
from typing_extensions import TypedDict

from kubeloop.client.config import ClientConfig, load_config, load_kubeconfig
from kubeloop.client.discovery import DISCOVERY_LAG, ApiResource, RestMapper
from kubeloop.client.metrics import MetricsHook
from kubeloop.client.models import ResourceModel, model_class, to_wire
from kubeloop.client.transport import JSON as JSON_CONTENT
from kubeloop.client.transport import ClientSettings, Transport
from kubeloop.client.watch import ModelEvent, WatchEvent, stream_events
from kubeloop.clock import SleepClock

__all__ = ["Client", "ObjectList", "PatchType", "Preconditions", "ResourceRef", "TypedRef", "resource_name"]

ResourceRef = str | ApiResource
"""A kubectl-style resource name or an ``ApiResource`` from discovery."""

K = TypeVar("K", bound=Mapping[str, Any])
M = TypeVar("M", bound=ResourceModel)
T = TypeVar("T")

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
"""What a metadata-only list accepts: the server's ``PartialObjectMetadataList``, else whole objects."""
METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
"""What a metadata-only watch accepts: events of ``PartialObjectMetadata``, else of whole objects."""
TypedRef = type[K]
"""A typed kind (a ``TypedDict`` class of ``kubeloop.resources`` such as ``apps_v1.Deployment``): reads
return its type, writes accept it. Known to this layer only by the ``Kind`` it carries."""

Obj = dict[str, Any]
PatchBody = Mapping[str, Any] | list[Any]


# The API server reads an apply body as YAML: JSON is YAML, except for characters YAML does not take raw
# (DEL, C1 controls, the BOM, U+FFFE/U+FFFF: "control characters are not allowed") or reads as line
# breaks (NEL, U+2028, U+2029: folded into spaces inside a string). orjson leaves them raw; escape them.
_YAML_RAW = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]|\xef\xbb\xbf|\xef\xbf[\xbe\xbf]")


def _yaml_safe(data: bytes) -> bytes:
    """``data`` (JSON) with the characters YAML cannot hold raw written as ``\\uXXXX`` escapes."""
    return _YAML_RAW.sub(lambda m: b"\\u%04x" % ord(m.group().decode()), data)


class ObjectList(TypedDict, Generic[T]):
    """A ``…List`` object of a typed kind (or of a model's, its ``items`` parsed): ``items`` and the
    list's ``metadata``."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    items: list[T]


def resource_name(ref: object) -> str | ApiResource:
    """``ref`` as the client resolves it: a name, an ``ApiResource``, a typed kind's ``apiVersion/Kind``."""
    if isinstance(ref, str | ApiResource):
        return ref
    model = model_class(ref)
    if model is not None:
        return model.resource_info().ref
    kind = getattr(ref, "__kubeloop_kind__", None) if isinstance(ref, type) else None
    name = getattr(kind, "ref", None)
    if not isinstance(name, str) or not getattr(kind, "plural", None):
        raise TypeError(f"not a resource: {ref!r} (use a name, an ApiResource, a typed kind or a model)")
    return name


class PatchType(StrEnum):
    """The patch formats the API server accepts, as their content types."""

    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Preconditions:
    """Delete only if the object still has this ``uid`` and/or ``resourceVersion``; else ``ConflictError``."""

    uid: str | None = None
    resource_version: str | None = None


class Client:
    """An async client of one API server; use as ``async with`` (or call ``close()``).

    Guarantees: every call is rate limited and retried per ``ClientSettings``; failures raise the
    ``ApiError`` subclass named by the server's ``Status``; ``watch`` never times out on the client side.
    """

    def __init__(
        self,
        config: ClientConfig,
        settings: ClientSettings | None = None,
        *,
        clock: SleepClock | None = None,
        metrics: MetricsHook | None = None,
    ) -> None:
        self.config = config
        self.transport = Transport(config, settings, clock=clock, metrics=metrics)
        self.mapper = RestMapper(self.transport)

    @classmethod
    async def load(
        cls,
        kubeconfig: str | Path | None = None,
        *,
        context: str | None = None,
        settings: ClientSettings | None = None,
        metrics: MetricsHook | None = None,
    ) -> Client:
        """A client from ``kubeconfig`` if given, else ``$KUBECONFIG``/``~/.kube/config``, else in-cluster.
        Files are read in a thread so the event loop never blocks."""
        if kubeconfig is not None:
            config = await asyncio.to_thread(load_kubeconfig, kubeconfig, context=context)
        else:
            config = await asyncio.to_thread(load_config, context=context)
        return cls(config, settings, metrics=metrics)

    def impersonating(self, user: str, groups: tuple[str, ...] = ()) -> Client:
        """A new client with this one's server, credentials and settings acting as ``user`` (in
        ``groups``); the credentials must be allowed to impersonate it. Close it when done."""
        config = dataclasses.replace(self.config, impersonate=user, impersonate_groups=groups)
        transport = self.transport
        return Client(config, transport.settings, clock=transport.clock, metrics=transport.metrics)

    def with_settings(self, settings: ClientSettings) -> Client:
        """A new client of this one's server and credentials under ``settings`` (a rate limit of its
        own, say), sharing its discovery: the kinds one has resolved the other knows. It has its own
        connections; close it when done."""
        transport = self.transport
        client = Client(self.config, settings, clock=transport.clock, metrics=transport.metrics)
        client.mapper = self.mapper
        return client

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close connections; the client must not be used afterwards."""
        await self.transport.close()

    @property
    def namespace(self) -> str:
        """The default namespace of the config (the kubeconfig context's, or the pod's)."""
        return self.config.namespace

    async def resource(self, ref: ResourceRef | TypedRef[Any] | type[ResourceModel]) -> ApiResource:
        """Resolve ``ref`` through discovery (refreshing once if it is unknown)."""
        found = resource_name(ref)
        return found if isinstance(found, ApiResource) else await self.mapper.resolve(found)

    async def server_version(self) -> Obj:
        """``/version``: gitVersion, major, minor… of the server."""
        result: Obj = await self.transport.request("GET", "/version", verb="get", idempotent=True)
        return result

    @overload
    async def get(
        self,
        ref: type[M],
        name: str,
        *,
        namespace: str | None = None,
        subresource: None = None,
        resource_version: str | None = None,
    ) -> M: ...
    @overload
    async def get(
        self,
        ref: TypedRef[K],
        name: str,
        *,
        namespace: str | None = None,
        subresource: None = None,
        resource_version: str | None = None,
    ) -> K: ...
    @overload
    async def get(
        self,
        ref: ResourceRef | TypedRef[Any],
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Obj: ...
    async def get(
        self,
        ref: ResourceRef | TypedRef[Any],
        name: str,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Any:
        """Read one object (or its ``status``/``scale`` subresource); a model class's parsed into it."""
        res = await self.resource(ref)
        params = {"resourceVersion": resource_version} if resource_version is not None else None
        path = res.path(self._ns(res, namespace), name, subresource)
        found = await self._call("GET", path, "get", params=params, idempotent=True)
        model = model_class(ref) if subresource is None else None
        return model.model_validate(found) if model is not None else found

    @overload
    async def list(
        self,
        ref: type[M],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        metadata_only: bool = False,
    ) -> ObjectList[M]: ...
    @overload
    async def list(
        self,
        ref: TypedRef[K],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        metadata_only: bool = False,
    ) -> ObjectList[K]: ...
    @overload
    async def list(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        metadata_only: bool = False,
    ) -> Obj: ...
    async def list(
        self,
        ref: ResourceRef | TypedRef[Any],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        metadata_only: bool = False,
    ) -> Any:
        """One page of a list: the ``…List`` object, with ``metadata.continue`` set when more pages remain.

        ``metadata_only``: ask for a ``PartialObjectMetadataList`` (each item only its apiVersion, kind
        and metadata) instead of whole objects; a server that cannot answer so sends whole objects.

        ``resource_version``: unset means a consistent read; ``"0"`` any cached state; otherwise see
        ``resource_version_match`` (``"NotOlderThan"`` or ``"Exact"``). An expired ``continue_token``
        raises ``GoneError``. A model class's ``items`` are parsed into it (not with ``metadata_only``).
        """
        res = await self.resource(ref)
        model = model_class(ref)
        if model is not None and metadata_only:
            raise ValueError(f"{model.__name__}: a metadata-only list has no objects to parse")
        params = _params(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=str(limit) if limit is not None else None,
            resourceVersion=resource_version,
            resourceVersionMatch=resource_version_match,
            **{"continue": continue_token},
        )
        accept = METADATA_LIST if metadata_only else JSON_CONTENT
        page = await self._call(
            "GET", res.path(namespace), "list", params=params, idempotent=True, accept=accept
        )
        if model is not None:
            page["items"] = [model.model_validate(item) for item in page.get("items") or ()]
        return page

    @overload
    def list_items(
        self,
        ref: type[M],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[M]: ...
    @overload
    def list_items(
        self,
        ref: TypedRef[K],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[K]: ...
    @overload
    def list_items(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[Obj]: ...
    async def list_items(
        self,
        ref: ResourceRef | TypedRef[Any],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[Any]:
        """Every item of a list, fetched ``page_size`` at a time with ``continue`` tokens."""
        token: str | None = None
        while True:
            page = await self.list(
                ref,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_token=token,
            )
            for item in page.get("items") or ():
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    @overload
    def watch(
        self,
        ref: type[M],
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool = False,
        metadata_only: bool = False,
    ) -> AsyncIterator[WatchEvent[M]]: ...
    @overload
    def watch(
        self,
        ref: TypedRef[K],
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool = False,
        metadata_only: bool = False,
    ) -> AsyncIterator[WatchEvent[K]]: ...
    @overload
    def watch(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool = False,
        metadata_only: bool = False,
    ) -> AsyncIterator[WatchEvent]: ...
    async def watch(
        self,
        ref: ResourceRef | TypedRef[Any],
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool = False,
        metadata_only: bool = False,
    ) -> AsyncIterator[Any]:
        """Watch changes after ``resource_version``; yields events until the server ends the watch.

        ``metadata_only``: events carry ``PartialObjectMetadata`` (apiVersion, kind, metadata) as for
        ``list``.

        ``send_initial_events`` (watch-list) first streams the current objects as ``ADDED`` and then a
        bookmark with ``initial_events_end``. A too-old ``resource_version`` raises ``GoneError``.

        A model class's events carry the object parsed into it; such a watch passes no bookmarks (they
        carry no object to parse: resume from the last event's ``resource_version``), so it takes
        neither ``send_initial_events`` nor ``metadata_only``.
        """
        res = await self.resource(ref)
        model = model_class(ref)
        if model is not None:
            if send_initial_events or metadata_only:
                raise ValueError(
                    f"{model.__name__}: a watch of a model has no initial-events end or metadata"
                )
            allow_bookmarks = False
        params = _params(
            watch="true",
            allowWatchBookmarks="true" if allow_bookmarks or send_initial_events else None,
            resourceVersion=resource_version,
            labelSelector=label_selector,
            fieldSelector=field_selector,
            timeoutSeconds=str(timeout_seconds) if timeout_seconds is not None else None,
        )
        if send_initial_events:
            params["sendInitialEvents"] = "true"
            params["resourceVersionMatch"] = "NotOlderThan"
            params.setdefault("resourceVersion", "")
        accept = METADATA if metadata_only else JSON_CONTENT
        stream = stream_events(self.transport, res.path(namespace), params, accept=accept)
        async with aclosing(stream) as events:
            async for event in events:  # closing this generator closes the stream at once, not at GC
                if model is None:
                    yield event
                elif event.type != "BOOKMARK":
                    yield ModelEvent(event.type, model.model_validate(event.object), event.object)

    async def create(
        self,
        obj: K,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> K:
        """Create ``obj``; returns it as stored. ``AlreadyExistsError`` if the name is taken."""
        res = await self._for_object(obj)
        path = res.path(self._ns(res, namespace, obj))
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return cast(K, await self._call("POST", path, "create", params=params, body=obj))

    async def replace(
        self,
        obj: K,
        *,
        resource: ResourceRef | TypedRef[Any] | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> K:
        """Replace ``obj`` (PUT); with ``metadata.resourceVersion`` set a stale copy raises ``ConflictError``.

        ``resource`` is needed only when ``obj`` is not of the resource's kind (a ``Scale``).
        """
        res = await self.resource(resource) if resource is not None else await self._for_object(obj)
        path = res.path(self._ns(res, None, obj), _name(obj), subresource)
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return cast(K, await self._call("PUT", path, "update", params=params, body=obj, idempotent=True))

    @overload
    async def patch(
        self,
        ref: TypedRef[K],
        name: str,
        patch: PatchBody,
        *,
        type: PatchType = PatchType.MERGE,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> K: ...
    @overload
    async def patch(
        self,
        ref: ResourceRef,
        name: str,
        patch: PatchBody,
        *,
        type: PatchType = PatchType.MERGE,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Obj: ...
    async def patch(
        self,
        ref: ResourceRef | TypedRef[Any],
        name: str,
        patch: PatchBody,
        *,
        type: PatchType = PatchType.MERGE,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> Any:
        """Patch one object with a JSON patch (a list of ops), merge patch or strategic merge patch."""
        res = await self.resource(ref)
        path = res.path(self._ns(res, namespace), name, subresource)
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        idempotent = type is not PatchType.JSON
        return await self._call(
            "PATCH", path, "patch", params=params, body=patch, content_type=type.value, idempotent=idempotent
        )

    @overload
    async def apply(
        self,
        obj: M,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> M: ...
    @overload
    async def apply(
        self,
        obj: K,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> K: ...
    async def apply(
        self,
        obj: Mapping[str, Any] | ResourceModel,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Server-side apply ``obj`` as ``field_manager``; creates it if missing. A model is sent as its
        wire form (fields that are None left out) and comes back as its model, as stored.

        Fields owned by another manager raise ``ConflictError`` (``causes`` name them) unless ``force``.
        """
        model, body = (None, obj) if isinstance(obj, Mapping) else (obj, to_wire(obj))
        res = await self._for_object(body)
        path = res.path(self._ns(res, None, body), _name(body), subresource)
        params = _params(
            fieldManager=field_manager, force="true" if force else None, dryRun="All" if dry_run else None
        )
        stored = await self._call(
            "PATCH",
            path,
            "apply",
            params=params,
            body=body,
            content_type=PatchType.APPLY.value,
            idempotent=True,
        )
        return stored if model is None else type(model).model_validate(stored)

    async def delete(
        self,
        ref: ResourceRef | TypedRef[Any],
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete one object. Returns the object (still terminating, e.g. with finalizers) or a ``Status``.

        ``propagation_policy``: ``"Foreground"``, ``"Background"`` or ``"Orphan"``.
        """
        res = await self.resource(ref)
        body = _delete_options(propagation_policy, grace_period_seconds, preconditions, dry_run)
        return await self._call("DELETE", res.path(self._ns(res, namespace), name), "delete", body=body)

    async def delete_collection(
        self,
        ref: ResourceRef | TypedRef[Any],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete every object matching the selectors; returns the list of what was deleted."""
        res = await self.resource(ref)
        body = _delete_options(propagation_policy, grace_period_seconds, None, dry_run)
        params = _params(labelSelector=label_selector, fieldSelector=field_selector)
        return await self._call("DELETE", res.path(namespace), "deletecollection", params=params, body=body)

    async def _call(
        self,
        method: str,
        path: str,
        verb: str,
        *,
        params: dict[str, str] | None = None,
        body: PatchBody | None = None,
        content_type: str = "application/json",
        idempotent: bool = False,
        accept: str = JSON_CONTENT,
    ) -> Obj:
        data = orjson.dumps(body) if body is not None else None
        if data is not None and content_type == PatchType.APPLY.value:
            data = _yaml_safe(data)
        result: Obj = await self.transport.request(
            method,
            path,
            verb=verb,
            params=params,
            body=data,
            content_type=content_type,
            idempotent=idempotent,
            accept=accept,
        )
        return result

    async def _for_object(self, obj: Mapping[str, Any]) -> ApiResource:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise ValueError("object needs string apiVersion and kind")
        return await self.mapper.for_kind(api_version, kind, wait=DISCOVERY_LAG)

    def _ns(
        self, res: ApiResource, namespace: str | None, obj: Mapping[str, Any] | None = None
    ) -> str | None:
        if not res.namespaced:
            return None
        if namespace:
            return namespace
        own = (obj or {}).get("metadata", {}).get("namespace")
        return str(own) if own else self.config.namespace


def _name(obj: Mapping[str, Any]) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("object needs metadata.name")
    return name


def _params(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def _delete_options(
    propagation_policy: str | None, grace_period_seconds: int | None, pre: Preconditions | None, dry_run: bool
) -> Obj:
    body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy is not None:
        body["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if pre is not None:
        body["preconditions"] = _params(uid=pre.uid, resourceVersion=pre.resource_version)
    if dry_run:
        body["dryRun"] = ["All"]
    return body
