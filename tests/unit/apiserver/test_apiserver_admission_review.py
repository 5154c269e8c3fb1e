"""How webhook calls fit the store's single writer (``admission.Review``): other writes go on while a
webhook answers slowly, and a write whose object changed while its webhook answered asks the webhook
again and keeps both changes, as the real server's retried update does."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubeloop import webhook
from kubeloop.apiserver.admission import Policies, Webhooks, default_chain
from kubeloop.apiserver.registry.types import Registry
from kubeloop.apiserver.rest.api import Api, WriteOptions
from kubeloop.apiserver.rest.patch import json_patch
from kubeloop.apiserver.storage import Store

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = Store(None)
    await store.open()
    registry = Registry()
    hooks = Webhooks(registry, json_patch, store)
    yield Api(store, default_chain(), hooks, Policies(registry))
    await hooks.close()
    await store.close()


async def serve(tmp_path: Path, handler: Any) -> tuple[web.AppRunner, Obj]:
    """A TLS webhook server on loopback answering with ``handler(request) -> response``."""
    ca = webhook.serving_certificate(tmp_path)

    async def review(http: web.Request) -> web.Response:
        request = orjson.loads(await http.read())["request"]
        response = {"uid": request["uid"], "allowed": True, **(await handler(request))}
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    app = web.Application()
    app.router.add_post("/", review)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    return runner, {"url": f"https://127.0.0.1:{port}/", "caBundle": base64.b64encode(ca).decode()}


async def configure(api: Api, client: Obj, operations: list[str]) -> None:
    rt = _rt(api, "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
    hook = {
        "name": "slow.kubeloop.test",
        "clientConfig": client,
        "rules": [
            {"operations": operations, "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 30,
    }
    await api.create(rt, None, {"metadata": {"name": "hooks"}, "webhooks": [hook]}, WriteOptions())


def _rt(api: Api, group: str, version: str, plural: str) -> Any:
    assert api.webhooks is not None
    rt = api.webhooks.registry.get(group, version, plural)
    assert rt is not None
    return rt


async def test_other_writes_go_on_while_a_webhook_answers_slowly(api: Api, tmp_path: Path) -> None:
    # The webhook holds its answer until the secret is written: a secret's write that waited for the
    # configmap's webhook would wait out the webhook's timeout (30 s), which fails the configmap's
    # write first. Ordered by the test, not timed: a loaded machine made a timed form fail.
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def held(request: Obj) -> Obj:
        arrived.set()
        await answer.wait()
        return {}

    runner, client = await serve(tmp_path, held)
    try:
        await configure(api, client, ["CREATE"])
        configmaps, secrets = _rt(api, "", "v1", "configmaps"), _rt(api, "", "v1", "secrets")
        await api.create(_rt(api, "", "v1", "namespaces"), None, {"metadata": {"name": "n"}}, WriteOptions())
        waiting = asyncio.create_task(
            api.create(configmaps, "n", {"metadata": {"name": "c"}}, WriteOptions())
        )
        await asyncio.wait_for(arrived.wait(), 30)
        await api.create(secrets, "n", {"metadata": {"name": "s"}}, WriteOptions())
        assert not waiting.done(), "the secret's write waited for the configmap's webhook"
        answer.set()
        assert (await waiting)["metadata"]["name"] == "c"
    finally:
        answer.set()
        await runner.cleanup()


async def test_a_write_whose_object_changed_meanwhile_asks_again_and_keeps_both_changes(
    api: Api, tmp_path: Path
) -> None:
    configmaps = _rt(api, "", "v1", "configmaps")
    seen: list[Obj] = []

    async def meddling(request: Obj) -> Obj:
        seen.append(request["oldObject"]["data"])
        if len(seen) == 1:  # another client changes the object while the webhook answers
            await api.patch(configmaps, "n", "c", {"data": {"other": "1"}}, MERGE, None, WriteOptions())
        return {}

    runner, client = await serve(tmp_path, meddling)
    try:
        await api.create(_rt(api, "", "v1", "namespaces"), None, {"metadata": {"name": "n"}}, WriteOptions())
        await api.create(configmaps, "n", {"metadata": {"name": "c"}, "data": {"a": "1"}}, WriteOptions())
        await configure(api, client, ["UPDATE"])
        mine = {"data": {"mine": "1"}}
        result, _ = await api.patch(configmaps, "n", "c", mine, MERGE, None, WriteOptions())
        assert result["data"] == {"a": "1", "other": "1", "mine": "1"}
        assert seen[0] == {"a": "1"}
        assert {"a": "1", "other": "1"} in seen[1:], "the webhook was asked again about the changed object"
    finally:
        await runner.cleanup()
