"""A webhook server for the admission and conversion tests (TLS on loopback, one handler per path;
AdmissionReview and ConversionReview alike) and webhook configurations installed on both servers of a
``Twin``, in effect before the test goes on."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from apiserver_twin import Twin

from kubeloop import webhook
from kubeloop.testing import until

Obj = dict[str, Any]
Handler = Callable[[Obj], Awaitable[Obj | None] | Obj | None]
"""Gets the AdmissionRequest; returns the response (uid filled in), or None for a body with none."""

GROUP_PATH = "/apis/admissionregistration.k8s.io/v1"


def allow(**extra: Any) -> Obj:
    return {"allowed": True, **extra}


def deny(message: str, code: int = 403, reason: str = "Forbidden") -> Obj:
    return {"allowed": False, "status": {"code": code, "reason": reason, "message": message}}


def json_patch(*ops: Obj) -> Obj:
    return {"patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(list(ops))).decode()}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HookServer:
    """Serves ``handlers`` (path → handler of the review's ``request``, returning its ``response``) over
    TLS; records every request per path."""

    def __init__(self, directory: Path, *names: str) -> None:
        """``names``: DNS names the certificate holds besides loopback (a Service's ``<name>.<ns>.svc``)."""
        self.ca = webhook.serving_certificate(directory, ("127.0.0.1", "localhost", *names))
        self.directory = directory
        self.handlers: dict[str, Handler] = {}
        self.calls: dict[str, list[Obj]] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def client(self, path: str) -> Obj:
        return {"url": f"https://127.0.0.1:{self.port}{path}", "caBundle": base64.b64encode(self.ca).decode()}

    async def _serve(self, request: web.Request) -> web.Response:
        review = orjson.loads(await request.read())
        self.calls.setdefault(request.path, []).append(review["request"])
        result = self.handlers[request.path](review["request"])
        if asyncio.iscoroutine(result):
            result = await result
        answer: Obj = {"apiVersion": review["apiVersion"], "kind": review["kind"]}
        if result is not None:
            answer["response"] = {"uid": review["request"]["uid"], **result}
        return web.json_response(answer)

    async def __aenter__(self) -> HookServer:
        import ssl

        app = web.Application()
        app.router.add_post("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.directory / "tls.crt"), str(self.directory / "tls.key"))
        self.port = closed_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ctx).start()
        self.handlers["/probe"] = lambda request: deny("probe")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def hook(name: str, client: Obj, namespace: str, **fields: Any) -> Obj:
    """A webhook on ConfigMaps (CREATE, UPDATE) of ``namespace`` unless ``fields`` say otherwise."""
    spec: Obj = {
        "name": name,
        "clientConfig": client,
        "rules": [
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            }
        ],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    }
    spec.update(fields)
    return spec


@contextlib.asynccontextmanager
async def configured(
    twin: Twin, server: HookServer, namespace: str, kind: str, hooks: list[Obj]
) -> AsyncIterator[None]:
    """``kind`` (Mutating/ValidatingWebhookConfiguration) with ``hooks`` on both servers, plus a probe
    webhook denying ConfigMaps labelled ``probe``; waits until the real server calls it."""
    name = f"{namespace}-{kind.lower()}"
    probe = hook(
        "probe.kubeloop.test",
        server.client("/probe"),
        namespace,
        objectSelector={"matchLabels": {"probe": kind[:8].lower()}},
        rules=[
            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
        ],
    )
    plural = f"{kind.lower()}s"
    body = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name}}
    real, embedded = await twin.call("POST", f"{GROUP_PATH}/{plural}", {**body, "webhooks": [probe, *hooks]})
    assert real.status == embedded.status == 201, (real.body, embedded.body)

    async def active() -> bool:
        answers = await twin.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/configmaps?dryRun=All",
            {"metadata": {"name": "probe", "labels": {"probe": kind[:8].lower()}}},
        )
        return all("probe" in str(answer.body.get("message", "")) for answer in answers)

    try:
        await until(active, within=30, what=f"{kind} {name} in effect", interval=0.2)
        server.calls.clear()
        yield
    finally:
        await twin.call("DELETE", f"{GROUP_PATH}/{plural}/{name}")
