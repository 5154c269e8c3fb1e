"""``StoreListWatch``: the built-in controllers' ``kubeloop.cache.ListerWatcher`` over the server's own
storage, in process (no HTTP, no JSON): lists through ``rest.Api.list`` and watches the store with the
same selector semantics as the HTTP watch; whole objects even when ``metadata_only`` asks for less (as
a server that cannot answer so does: nothing is copied). Errors are ``kubeloop.client.errors``' (410 →
``GoneError``, so informers relist), as a ``kubeloop.client.Client`` raises them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kubeloop.apiserver.machinery import selectors
from kubeloop.apiserver.machinery.errors import StatusError, not_found
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import Registry, ResourceType
from kubeloop.apiserver.rest.api import Api
from kubeloop.apiserver.rest.watching import seen_as
from kubeloop.client import ApiResource, ResourceRef, WatchEvent
from kubeloop.client.errors import ApiError, error_from_status

__all__ = ["StoreListWatch", "api_resource", "client_error"]

Obj = dict[str, Any]


def api_resource(rt: ResourceType) -> ApiResource:
    """``rt`` as discovery would describe it to a client."""
    return ApiResource(
        group=rt.group,
        version=rt.version,
        kind=rt.kind,
        plural=rt.plural,
        singular=rt.singular,
        namespaced=rt.namespaced,
        verbs=frozenset(rt.verbs),
        short_names=rt.short_names,
        subresources=rt.subresources,
    )


def client_error(exc: StatusError) -> ApiError:
    """The error a ``kubeloop.client.Client`` raises for the same answer."""
    return error_from_status(exc.status(), http_code=exc.code)


class StoreListWatch:
    """Lists and watches resources of one ``Api`` in process."""

    def __init__(self, api: Api, registry: Registry) -> None:
        self.api = api
        self.registry = registry

    async def resource(self, ref: ResourceRef) -> ApiResource:
        if isinstance(ref, ApiResource):
            return ref
        for rt in self.registry.all():
            if f"{rt.plural}.{rt.group}".rstrip(".") == ref:
                return api_resource(rt)
        raise client_error(not_found("resources", "", ref))

    def served(self, ref: ApiResource) -> ResourceType:
        rt = self.registry.get(ref.group, ref.version, ref.plural)
        if rt is None:
            raise client_error(not_found(ref.plural, ref.group, ""))
        return rt

    async def list(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        metadata_only: bool = False,
    ) -> Obj:
        rt = self.served(await self.resource(ref))
        try:
            match = _selection(rt, label_selector, field_selector)
            return self.api.list(
                rt, namespace, match, limit, continue_token, selective=bool(label_selector or field_selector)
            )
        except StatusError as exc:
            raise client_error(exc) from exc

    async def watch(
        self,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        metadata_only: bool = False,
    ) -> AsyncIterator[WatchEvent]:
        """Changes after ``resource_version`` (every current object as ADDED first when it is unset or
        "0"); runs until the store closes its watches (no timeout, no bookmarks: nothing is idle here)."""
        rt = self.served(await self.resource(ref))
        store = self.api.store
        try:
            match = _selection(rt, label_selector, field_selector)
            since = int(resource_version) if resource_version not in (None, "", "0") else None
            watcher = store.watch(rt.storage, namespace, since)
        except StatusError as exc:
            raise client_error(exc) from exc
        try:
            if since is None:
                for _, obj in sorted(store.items(rt.storage, namespace), key=lambda p: p[0]):
                    if match(obj):
                        yield WatchEvent("ADDED", to_version(rt, obj))
            async for event in watcher:
                seen = seen_as(event, match)
                if seen is not None:
                    kind, obj = seen
                    yield WatchEvent(kind, to_version(rt, obj))  # type: ignore[arg-type]
        finally:
            watcher.close()


def _selection(
    rt: ResourceType, label_selector: str | None, field_selector: str | None
) -> selectors.Selector:
    labels = selectors.label_selector(label_selector)
    fields = selectors.field_selector(field_selector, rt.kind, group=rt.group)
    return lambda obj: labels(obj) and fields(obj)
