"""HTTP routes of the embedded API server: discovery, OpenAPI and the resource verbs.

Role: parses Kubernetes REST paths and query parameters, decodes bodies (JSON or YAML), calls ``rest``
and encodes results (JSON, or a ``Table`` when asked). Watches are handed to ``watch``. Every
``StatusError`` becomes the real server's ``Status`` body (see ``server`` middleware).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson
import yaml
from aiohttp import web

from kubeloop.apiserver.auth import REVIEWS, Reviews, forbidden, request_attributes
from kubeloop.apiserver.http import protobuf, tables
from kubeloop.apiserver.http.filters import user_of, with_warnings
from kubeloop.apiserver.http.partial import partial, partial_list, wants_partial
from kubeloop.apiserver.http.responses import json_response
from kubeloop.apiserver.http.watch import serve_watch
from kubeloop.apiserver.machinery.errors import (
    Cause,
    StatusError,
    bad_request,
    invalid,
    method_not_supported,
    unparsable_version,
)
from kubeloop.apiserver.machinery.selectors import field_selector, label_selector
from kubeloop.apiserver.registry import discovery, openapi
from kubeloop.apiserver.registry.types import Registry, ResourceType
from kubeloop.apiserver.rest import scale
from kubeloop.apiserver.rest.api import Api, DeleteOptions, WriteOptions

__all__ = ["Routes"]

Obj = dict[str, Any]
MAX_BODY = 3 * 1024 * 1024


@dataclass
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class Routes:
    """Binds ``Api`` and ``Registry`` to aiohttp routes."""

    def __init__(self, api: Api, registry: Registry, address: str, reviews: Reviews) -> None:
        self.api = api
        self.registry = registry
        self.address = address
        self.reviews = reviews

    def install(self, app: web.Application) -> None:
        app.router.add_get("/version", self.version)
        for probe in ("/healthz", "/readyz", "/livez"):
            app.router.add_get(probe, self.ok)
        app.router.add_get("/api", self.core_root)
        app.router.add_get("/apis", self.apis_root)
        app.router.add_get("/openapi/v2", self.openapi_v2)
        app.router.add_get("/openapi/v3", self.openapi_v3_index)
        app.router.add_get("/openapi/v3/{path:.*}", self.openapi_v3)
        for (group, plural), (_, namespaced) in REVIEWS.items():
            where = "namespaces/{namespace}/" if namespaced else ""
            app.router.add_route("*", f"/apis/{group}/v1/{where}{plural}", self.review)
        app.router.add_route("*", "/api/{version}", self.core_version)
        app.router.add_route("*", "/apis/{group}", self.group)
        app.router.add_route("*", "/apis/{group}/{version}", self.group_version)
        app.router.add_route("*", "/api/{version}/{rest:.+}", self.resource)
        app.router.add_route("*", "/apis/{group}/{version}/{rest:.+}", self.resource)

    # -- discovery and documents -------------------------------------------------------------------

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def version(self, request: web.Request) -> web.Response:
        return json_response(discovery.version())

    async def core_root(self, request: web.Request) -> web.Response:
        if "as=APIGroupDiscoveryList" in request.headers.get("Accept", ""):
            return json_response(
                discovery.aggregated(self.registry, core=True), content_type=discovery.AGGREGATED
            )
        return json_response(discovery.api_versions(self.address))

    async def apis_root(self, request: web.Request) -> web.Response:
        if "as=APIGroupDiscoveryList" in request.headers.get("Accept", ""):
            return json_response(
                discovery.aggregated(self.registry, core=False), content_type=discovery.AGGREGATED
            )
        return json_response(discovery.group_list(self.registry))

    async def core_version(self, request: web.Request) -> web.Response:
        doc = discovery.resource_list(self.registry, "", request.match_info["version"])
        if doc is None:
            raise _path_not_found()
        return json_response(doc)

    async def group(self, request: web.Request) -> web.Response:
        doc = discovery.group(self.registry, request.match_info["group"])
        if doc is None:
            raise _path_not_found()
        return json_response(doc)

    async def group_version(self, request: web.Request) -> web.Response:
        doc = discovery.resource_list(
            self.registry, request.match_info["group"], request.match_info["version"]
        )
        if doc is None:
            raise _path_not_found()
        return json_response(doc)

    async def openapi_v2(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "protobuf" in accept and "json" not in accept:
            return web.Response(
                body=openapi.v2_protobuf_header(), headers={"Content-Type": openapi.PROTOBUF_V2}
            )
        return web.Response(body=openapi.v2(self.registry), content_type="application/json")

    async def openapi_v3_index(self, request: web.Request) -> web.Response:
        return json_response(openapi.v3_index(self.registry))

    async def openapi_v3(self, request: web.Request) -> web.Response:
        doc = openapi.v3(self.registry, request.match_info["path"])
        if doc is None:
            raise _path_not_found()
        return web.Response(body=doc, content_type="application/json")

    # -- reviews and tokens (answered, not stored) ---------------------------------------------------

    async def review(self, request: web.Request) -> web.Response:
        group, plural = request.path.split("/")[2], request.path.rsplit("/", 1)[1]
        if request.method != "POST":
            raise method_not_supported(plural, group, request.method)
        body = await _body(request)
        answer = self.reviews.answer(
            plural, group, request.match_info.get("namespace"), user_of(request), body
        )
        return json_response(answer, status=201)

    def _authorize(self, request: web.Request, verb: str) -> None:
        """The real 403 unless the request's user may also do ``verb`` to what the request names."""
        attrs = request_attributes(user_of(request), request.method, request.path, request.query)
        attrs = replace(attrs, verb=verb)
        allowed, reason = self.reviews.rbac.authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)

    async def _token(self, request: web.Request, target: Target) -> web.Response:
        if request.method != "POST":
            raise method_not_supported(f"{target.rt.plural}/token", target.rt.group, request.method)
        assert target.name is not None
        body = await _body(request)
        answer = self.reviews.tokens.request(target.namespace or "", target.name, body)
        return json_response(answer, status=201)

    # -- resources ---------------------------------------------------------------------------------

    def _target(self, request: web.Request) -> Target:
        group = request.match_info.get("group", "")
        version = request.match_info["version"]
        parts = [p for p in request.match_info["rest"].split("/") if p]
        namespace: str | None = None
        if (
            len(parts) >= 3
            and parts[0] == "namespaces"
            and self.registry.get(group, version, parts[2]) is not None
        ):
            namespace, parts = parts[1], parts[2:]
        rt = self.registry.get(group, version, parts[0])
        if rt is None or len(parts) > 3:
            raise _path_not_found()
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        if (
            sub is not None
            and sub not in rt.subresources
            and not (rt.kind == "Namespace" and sub == "finalize")
        ):
            raise _path_not_found()
        if namespace is not None and not rt.namespaced:
            raise _path_not_found()
        return Target(rt, namespace, name, sub)

    async def resource(self, request: web.Request) -> web.StreamResponse:
        target = self._target(request)
        method = request.method
        q = request.query
        if target.name is None:
            if method == "GET":
                if q.get("watch") in ("true", "1"):
                    return await serve_watch(request, self.api, target.rt, target.namespace)
                return await self._list(request, target)
            if method == "POST":
                body = await _body(request)
                opts = _write_options(request)
                with _failing_warned(opts):
                    result = await self.api.create(target.rt, target.namespace, body, opts)
                return _warned(json_response(result, status=201), opts)
            if method == "DELETE":
                rt = target.rt
                match = _selectors(request, rt)
                deleting = await _delete_options(request)
                with _failing_warned(deleting):
                    result = await self.api.delete_collection(rt, target.namespace, match, deleting)
                return _warned(json_response(result), deleting)
            raise method_not_supported(target.rt.plural, target.rt.group, method)
        if target.subresource == "scale":
            return await self._scale(request, target)
        if target.subresource == "token" and target.rt.kind == "ServiceAccount":
            return await self._token(request, target)
        if method == "GET":
            if q.get("watch") in ("true", "1"):
                return await serve_watch(request, self.api, target.rt, target.namespace, name=target.name)
            obj = await self._read(target.rt, target.namespace, target.name)
            if wants_partial(request.headers.get("Accept", "")):
                return json_response(partial(obj))
            if tables.wants_table(request.headers.get("Accept", "")):
                return json_response(
                    tables.to_table(
                        target.rt,
                        [obj],
                        obj["metadata"]["resourceVersion"],
                        q.get("includeObject", "Metadata"),
                    )
                )
            return json_response(obj)
        sub = "status" if target.subresource == "status" else None
        if method == "PUT":
            body = await _body(request)
            if target.subresource == "finalize":
                current = self.api.get(target.rt, target.namespace, target.name)
                merged = copy.deepcopy(current)
                merged["spec"] = body.get("spec") or {}
                body = merged
            opts = _write_options(request)
            with _failing_warned(opts):
                result, created = await self.api.replace(
                    target.rt, target.namespace, target.name, body, sub, opts
                )
            return _warned(json_response(result, status=201 if created else 200), opts)
        if method == "PATCH":
            content_type = request.content_type
            body = await _body(request, patch=True)
            apply = content_type == "application/apply-patch+yaml"
            opts = _write_options(request, apply=apply)
            if apply:
                opts = replace(opts, authorize_create=lambda: self._authorize(request, "create"))
            with _failing_warned(opts):
                result, created = await self.api.patch(
                    target.rt, target.namespace, target.name, body, content_type, sub, opts
                )
            return _warned(json_response(result, status=201 if created else 200), opts)
        if method == "DELETE":
            deleting = await _delete_options(request)
            with _failing_warned(deleting):
                result = await self.api.delete(target.rt, target.namespace, target.name, deleting)
            return _warned(json_response(result), deleting)
        raise method_not_supported(target.rt.plural, target.rt.group, method)

    async def _read(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        """One object in ``rt``'s version (converted by its CRD's webhook when it must be)."""
        return (await self.api.converted(rt, [self.api.get(rt, namespace, name)]))[0]

    async def _list(self, request: web.Request, target: Target) -> web.Response:
        q = request.query
        limit = int(q["limit"]) if q.get("limit", "").isdigit() and int(q["limit"]) > 0 else None
        selective = bool(q.get("labelSelector") or q.get("fieldSelector"))
        exact = None
        if q.get("resourceVersion", "").strip("0123456789"):
            raise bad_request(f"invalid resource version: {unparsable_version(q['resourceVersion'])}")
        if q.get("resourceVersionMatch") == "Exact":
            if not q.get("resourceVersion", "").isdigit():
                raise bad_request("resourceVersionMatch=Exact requires a resourceVersion")
            exact = int(q["resourceVersion"])
        result = self.api.list(
            target.rt,
            target.namespace,
            _selectors(request, target.rt),
            limit,
            q.get("continue") or None,
            selective,
            exact,
        )
        result["items"] = await self.api.converted(target.rt, result["items"])
        if tables.wants_table(request.headers.get("Accept", "")):
            table = tables.to_table(
                target.rt,
                result["items"],
                result["metadata"]["resourceVersion"],
                q.get("includeObject", "Metadata"),
            )
            if "continue" in result["metadata"]:
                table["metadata"]["continue"] = result["metadata"]["continue"]
            return json_response(table)
        if wants_partial(request.headers.get("Accept", "")):
            return json_response(partial_list(result))
        if target.rt.crd is None:  # Go's typed lists leave their items' apiVersion and kind empty
            result["items"] = [
                {k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in result["items"]
            ]
        return json_response(result)

    async def _scale(self, request: web.Request, target: Target) -> web.Response:
        rt, ns, name = target.rt, target.namespace, target.name
        assert name is not None
        if request.method == "GET":
            return json_response(scale.to_scale(rt, await self._read(rt, ns, name)))
        if request.method not in ("PUT", "PATCH"):
            raise method_not_supported(rt.plural, rt.group, request.method)
        body = await _body(request, patch=request.method == "PATCH")
        result = await scale.write(
            self.api, rt, ns, name, body, request.method, request.content_type, _write_options(request)
        )
        return json_response(result)


def _path_not_found() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def _dry(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def _write_options(request: web.Request, *, apply: bool = False) -> WriteOptions:
    """An apply's field manager is only the one named (``Api`` refuses none); other writes default
    to the client's User-Agent, as the real server does."""
    manager = request.query.get("fieldManager") or (
        "" if apply else request.headers.get("User-Agent", "unknown").split("/")[0][:128]
    )
    return WriteOptions(
        dry_run=_dry(request),
        manager=manager,
        force=request.query.get("force") == "true",
        field_validation=request.query.get("fieldValidation") or "Warn",
        warnings=[],
        user=user_of(request).to_dict(),
    )


def _warned(response: web.Response, opts: WriteOptions | DeleteOptions) -> web.Response:
    """``response`` with the request's warnings as ``Warning: 299 - "…"`` headers."""
    return with_warnings(response, opts.warnings or ())


@contextlib.contextmanager
def _failing_warned(opts: WriteOptions | DeleteOptions) -> Iterator[None]:
    """A write refused inside keeps the warnings it had gathered (sent with its Status)."""
    try:
        yield
    except StatusError as exc:
        exc.warnings.extend(opts.warnings or ())
        raise


def _selectors(request: web.Request, rt: ResourceType) -> Any:
    labels = label_selector(request.query.get("labelSelector"))
    fields = field_selector(
        request.query.get("fieldSelector"), rt.kind, custom=rt.crd is not None, group=rt.group
    )
    return lambda obj: labels(obj) and fields(obj)


async def _delete_options(request: web.Request) -> DeleteOptions:
    body: Obj = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            body = _decode(raw, request.content_type)
    # As the real server: the options come from the body when there is one, else from the query.
    q: Any = {} if body else request.query
    pre = body.get("preconditions") or {}
    dry = "All" in (body.get("dryRun") or []) or "All" in (q.getall("dryRun", []) if q else [])
    propagation = body.get("propagationPolicy") or q.get("propagationPolicy")
    if body.get("orphanDependents") is True or q.get("orphanDependents") == "true":
        propagation = propagation or "Orphan"
    if propagation not in (None, "Foreground", "Background", "Orphan"):
        supported = 'supported values: "Foreground", "Background", "Orphan", "nil"'
        cause = Cause(
            "FieldValueNotSupported", f'Unsupported value: "{propagation}": {supported}', "propagationPolicy"
        )
        raise invalid("DeleteOptions", "meta.k8s.io", "", [cause])
    grace = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
    return DeleteOptions(
        dry_run=dry,
        propagation=propagation,
        uid=pre.get("uid"),
        resource_version=pre.get("resourceVersion"),
        grace_period=int(grace) if grace is not None else None,
        user=user_of(request).to_dict(),
        warnings=[],
    )


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    try:
        if "yaml" in content_type:
            return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        try:
            return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            raise bad_request(f"error decoding body: {exc}") from exc


async def _body(request: web.Request, patch: bool = False) -> Any:
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
    if not raw.strip():
        raise bad_request("the body of the request was empty")
    body = _decode(raw, request.content_type)
    if not patch and not isinstance(body, dict):
        raise bad_request("the body of the request must be an object")
    return body
