"""The API proxy the playbooks talk to: the operator's credentials, and ownership of what they create.

Each run gets a kubeconfig naming this proxy (loopback, plain HTTP) under a path holding a token of its
own (``/runs/<token>``: client-go sends no bearer token over plain HTTP, a path it keeps); the proxy
forwards every request with the operator's client (its credentials, QPS limits and retries) and
answers with the API server's code and body. A create made with a run's token gets that run's
object as its owner, as operator-sdk's proxy does: an owner reference (controller, blocking
deletion) when the child lives in the owner's namespace, else the annotations
``operator-sdk/primary-resource`` and ``operator-sdk/primary-resource-type``. The kind of every
object so created is reported (``on_created``) so that its events can be watched.

Responses pass through undecoded, with the client's ``Accept`` sent on: client-go's aggregated
discovery (two requests, where the legacy format takes one per group version) and protobuf reach
helm and the Ansible modules as the server sent them. OpenAPI v3 documents asked for by their
``?hash=`` (immutable content) are kept and served from memory: each helm process validates its
manifests against them.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web

from kubeloop.client import ApiError, Client
from kubeloop.errors import KubeloopError
from kubeloop.gvk import split_api_version
from kubeloop.operator import PRIMARY_RESOURCE, PRIMARY_RESOURCE_TYPE

__all__ = ["ApiProxy", "RunOwner"]


RUNS = "/runs/"
OPENAPI_V3 = "/openapi/v3/"
OPENAPI_CACHED = 256
"""OpenAPI v3 documents the proxy keeps (then it starts again): one per group version served."""

FORBIDDEN_HINT = (
    "the operator's RBAC does not allow this request: add the rule to the kind's rbac: in watches.yaml "
    "and run make manifests"
)

log = logging.getLogger("kubeloop.ansible.proxy")


@dataclass(frozen=True)
class RunOwner:
    """The object a run reconciles, as its children refer to it."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> RunOwner:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj["apiVersion"]),
            str(obj["kind"]),
            str(meta["name"]),
            str(meta.get("namespace") or ""),
            str(meta["uid"]),
        )

    @property
    def type(self) -> str:
        """``Kind.group``, as the annotation names it."""
        return f"{self.kind}.{split_api_version(self.api_version)[0]}"


CreatedFn = Callable[[RunOwner, dict[str, Any], bool], None]
"""Called with the owner, the created object and whether it is namespaced."""


class ApiProxy:
    """An aiohttp server on loopback forwarding to ``client``'s API server (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        on_created: CreatedFn,
        host: str = "127.0.0.1",
        *,
        unowned: Callable[[dict[str, Any]], bool] = lambda obj: False,
        field_validation: str | None = None,
    ) -> None:
        """``unowned``: creates of objects it selects are passed on untouched (Helm's release Secrets).
        ``field_validation``: the ``fieldValidation`` of every write that does not name one (``Strict``:
        the API server rejects unknown and duplicate fields, naming them)."""
        self.client = client
        self.on_created = on_created
        self.unowned = unowned
        self.field_validation = field_validation
        self.host = host
        self.port = 0
        self._runs: dict[str, RunOwner | None] = {}
        self._documents: dict[tuple[str, str, str], tuple[bytes, str]] = {}
        """OpenAPI v3 documents by path, hash and Accept: a ``?hash=`` names one content for good."""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> ApiProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @asynccontextmanager
    async def run(self, owner: RunOwner | None, directory: Path) -> AsyncIterator[Path]:
        """A kubeconfig for one run over ``owner`` (written in ``directory``), valid while entered.
        ``None``: a session of no object (what it creates is passed on untouched), for a long-lived
        client's own requests (helm-server's discovery)."""
        token = secrets.token_urlsafe(24)
        self._runs[token] = owner
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": f"{self.url}{RUNS}{token}"}}],
            "users": [{"name": "run", "user": {}}],
            "contexts": [
                {
                    "name": "run",
                    "context": {
                        "cluster": "proxy",
                        "user": "run",
                        "namespace": (owner.namespace if owner else "") or "default",
                    },
                }
            ],
            "current-context": "run",
        }
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        try:
            yield path
        finally:
            del self._runs[token]
            path.unlink(missing_ok=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token, _, rest = request.path.removeprefix(RUNS).partition("/")
        if not request.path.startswith(RUNS) or token not in self._runs:
            return _status(401, "Unauthorized", "this proxy serves the operator's runs only")
        owner = self._runs[token]
        path = "/" + rest
        body = await request.read() if request.can_read_body else None
        content_type = request.headers.get("Content-Type", "application/json")
        created_in: tuple[bool, str] | None = None
        if request.method == "POST" and body and owner is not None:
            created_in = _create_target(path)
            if created_in is not None:
                owned = _owned(body, owner, *created_in, self.unowned)
                if owned is not None:
                    body, content_type = owned, "application/json"
        params = dict(request.query)
        if self.field_validation and request.method in ("POST", "PUT", "PATCH"):
            params.setdefault("fieldValidation", self.field_validation)
        transport = self.client.transport
        if request.method == "GET" and params.get("watch") in ("1", "true"):
            return await self._watch(request, path, params)
        accept = request.headers.get("Accept") or "application/json"
        key = (path, params.get("hash", ""), accept)
        cacheable = request.method == "GET" and path.startswith(OPENAPI_V3) and bool(key[1])
        cached = self._documents.get(key) if cacheable else None
        if cached is not None:
            return web.Response(body=cached[0], headers={"Content-Type": cached[1]})
        try:
            data, returned = await transport.request_bytes(
                request.method,
                path,
                verb=f"proxy-{request.method.lower()}",
                params=params,
                body=body,
                content_type=content_type,
                accept=accept,
                idempotent=request.method == "GET",
            )
        except ApiError as exc:
            status = dict(exc.status)
            if exc.code == 403:
                status["message"] = f"{exc.message} ({FORBIDDEN_HINT})"
            return web.Response(
                status=exc.code or 500, body=orjson.dumps(status), content_type="application/json"
            )
        except KubeloopError as exc:
            return _status(503, "ServiceUnavailable", str(exc))
        if cacheable:
            if len(self._documents) >= OPENAPI_CACHED:
                self._documents.clear()
            self._documents[key] = (data, returned)
        if created_in is not None and returned.startswith("application/json"):
            result = orjson.loads(data) if data else None
            if isinstance(result, dict) and result.get("metadata") and not self.unowned(result):
                assert owner is not None  # created_in is only set for a run's creates
                self.on_created(owner, result, created_in[0])
        return web.Response(body=data, headers={"Content-Type": returned})

    async def _watch(self, request: web.Request, path: str, params: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            async with self.client.transport.stream(path, params=params) as upstream:
                await response.prepare(request)
                async for chunk in upstream.chunks():
                    await response.write(chunk)
        except ApiError as exc:
            if not response.prepared:
                return web.Response(
                    status=exc.code or 500, body=orjson.dumps(exc.status), content_type="application/json"
                )
        except (KubeloopError, ConnectionError):
            pass  # the watch ends; the client resumes or lists again
        return response


def _status(code: int, reason: str, message: str) -> web.Response:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    status["message"] = message
    return web.Response(status=code, body=orjson.dumps(status), content_type="application/json")


def _create_target(path: str) -> tuple[bool, str] | None:
    """For a create (a POST to a collection): (namespaced, namespace); None for anything else."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return None
    if len(rest) == 3 and rest[0] == "namespaces":
        return True, rest[1]
    if len(rest) == 1:
        return False, ""
    return None


def _owned(
    body: bytes, owner: RunOwner, namespaced: bool, namespace: str, unowned: Callable[[dict[str, Any]], bool]
) -> bytes | None:
    """The object of a create with its owner set (JSON); None when the body is not an object."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            obj = yaml.safe_load(body)
        except yaml.YAMLError:
            return None
    if not isinstance(obj, dict) or unowned(obj):
        return None
    meta = obj.setdefault("metadata", {})
    if namespaced and owner.namespace and namespace == owner.namespace:
        refs = meta.setdefault("ownerReferences", [])
        if not any(r.get("uid") == owner.uid for r in refs):
            refs.append(
                {
                    "apiVersion": owner.api_version,
                    "kind": owner.kind,
                    "name": owner.name,
                    "uid": owner.uid,
                    "controller": not any(r.get("controller") for r in refs),
                    "blockOwnerDeletion": True,
                }
            )
    else:
        annotations = meta.setdefault("annotations", {})
        annotations[PRIMARY_RESOURCE] = f"{owner.namespace}/{owner.name}"
        annotations[PRIMARY_RESOURCE_TYPE] = owner.type
    return orjson.dumps(obj)
