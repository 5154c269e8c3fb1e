"""Transport behaviour that needs an HTTP peer (retries, Retry-After, timeouts, 401 refresh, stream
framing), exercised against a tiny local aiohttp server. Kubernetes API behaviour itself is tested
against the real kube-apiserver in tests/conformance/client."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from kubeloop.client import (
    ClientConfig,
    ClientSettings,
    ExecConfig,
    GoneError,
    RecordingMetrics,
    RetryPolicy,
    ServiceUnavailableError,
    TooManyRequestsError,
    TransportError,
)
from kubeloop.client.transport import Transport
from kubeloop.client.watch import stream_events
from kubeloop.clock import InstantClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, reason: str) -> bytes:
    return orjson.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def transport(server: str, clock: InstantClock | None = None, **settings: object) -> Transport:
    return Transport(
        ClientConfig(server=server),
        ClientSettings(qps=None, **settings),  # type: ignore[arg-type]
        clock=clock or InstantClock(),
        metrics=RecordingMetrics(),
    )


async def test_429_is_retried_after_the_servers_retry_after(serve) -> None:
    hits = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        if hits < 3:
            return web.Response(status=429, body=status(429, "TooManyRequests"), headers={"Retry-After": "2"})
        return web.json_response({"ok": True})

    clock = InstantClock()
    t = transport(await serve(handler), clock)
    try:
        assert await t.request("POST", "/api/v1/x", verb="create", body=b"{}") == {"ok": True}
    finally:
        await t.close()
    assert hits == 3
    assert clock.slept == [2.0, 2.0]
    metrics = t.metrics
    assert isinstance(metrics, RecordingMetrics)
    assert metrics.retries_total[("429", "127.0.0.1", "create")] == 2
    assert metrics.requests_total[("429", "127.0.0.1", "POST")] == 2
    assert metrics.requests_total[("200", "127.0.0.1", "POST")] == 1


async def test_429_gives_up_after_max_retries_with_typed_error(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=429, body=status(429, "TooManyRequests"), headers={"Retry-After": "1"})

    t = transport(await serve(handler), retry=RetryPolicy(max_retries=2))
    try:
        with pytest.raises(TooManyRequestsError) as err:
            await t.request("GET", "/api", verb="get", idempotent=True)
    finally:
        await t.close()
    assert err.value.retry_after == 1.0


async def test_requests_wait_for_their_own_kinds_tokens_only(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    server = await serve(handler)
    clock = InstantClock()
    t = Transport(ClientConfig(server=server), ClientSettings(qps=1, burst=2), clock=clock)
    try:
        for path in ["/api/v1/namespaces/a/configmaps", "/api/v1/namespaces/a/secrets/s"] * 2:
            await t.request("GET", path, verb="get")
        assert clock.now() == 0.0, "a second kind's requests waited for the first kind's tokens"
        await t.request("PATCH", "/api/v1/namespaces/a/secrets/s", verb="patch", body=b"{}")
        assert clock.now() == 1.0
    finally:
        await t.close()


async def test_5xx_fails_fast_for_every_verb(serve) -> None:
    hits: dict[str, int] = {"GET": 0, "PATCH": 0, "POST": 0}

    async def handler(request: web.Request) -> web.Response:
        hits[request.method] += 1
        return web.Response(status=503, body=status(503, "ServiceUnavailable"))

    clock = InstantClock()
    t = transport(await serve(handler), clock, retry=RetryPolicy(max_retries=3, base_delay=1.0, jitter=0.0))
    try:
        with pytest.raises(ServiceUnavailableError):
            await t.request("GET", "/api/v1/x", verb="get", idempotent=True)
        with pytest.raises(ServiceUnavailableError):
            await t.request("PATCH", "/api/v1/x", verb="patch", body=b"{}", idempotent=True)  # an apply
        with pytest.raises(ServiceUnavailableError):
            await t.request("POST", "/api/v1/x", verb="create", body=b"{}")
    finally:
        await t.close()
    assert hits == {"GET": 1, "PATCH": 1, "POST": 1}
    assert clock.slept == []


async def test_5xx_with_retry_after_is_retried_when_the_server_says(serve) -> None:
    hits = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        if hits == 1:
            return web.Response(status=500, body=status(500, "InternalError"), headers={"Retry-After": "2"})
        return web.json_response({"kind": "ConfigMap"})

    clock = InstantClock()
    t = transport(await serve(handler), clock)
    try:
        assert (await t.request("POST", "/x", verb="create", body=b"{}"))["kind"] == "ConfigMap"
    finally:
        await t.close()
    assert clock.slept == [2.0]


async def test_refused_connection_is_retried_then_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens there
    clock = InstantClock()
    t = transport(
        f"http://127.0.0.1:{port}", clock, retry=RetryPolicy(max_retries=2, base_delay=0.5, jitter=0.0)
    )
    try:
        with pytest.raises(TransportError):
            await t.request("POST", "/api/v1/x", verb="create", body=b"{}")  # never sent, so safe to retry
    finally:
        await t.close()
    assert clock.slept == [0.5, 1.0]


async def test_request_timeout_applies_per_request(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    t = transport(await serve(handler), request_timeout=0.2, retry=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(TransportError):
            await t.request("GET", "/slow", verb="get", idempotent=True)
    finally:
        await t.close()


async def test_401_runs_the_exec_plugin_again_once(serve, tmp_path: Path) -> None:
    token_source = tmp_path / "current-token"
    token_source.write_text("old")
    runs = tmp_path / "runs"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, sys\n"
        f"open({str(runs)!r}, 'a').write('x')\n"
        f"token = open({str(token_source)!r}).read()\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': token}}))\n"
    )

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer new":
            return web.Response(status=401, body=status(401, "Unauthorized"))
        return web.json_response({"ok": True})

    server = await serve(handler)
    config = ClientConfig(server=server, exec=ExecConfig(command=sys.executable, args=(str(plugin),)))
    t = Transport(config, ClientSettings(qps=None), clock=InstantClock())
    try:
        from kubeloop.client import UnauthorizedError

        with pytest.raises(UnauthorizedError):  # re-running the plugin still gives "old"
            await t.request("GET", "/x", verb="get", idempotent=True)
        assert runs.read_text() == "xx"
        token_source.write_text("new")  # the credential was rotated
        assert await t.request("GET", "/x", verb="get", idempotent=True) == {"ok": True}
        assert await t.request("GET", "/x", verb="get", idempotent=True) == {"ok": True}
    finally:
        await t.close()
    # 2 runs for the first request; the second: cached "old" → 401 → 1 run gives "new"; the third: cached
    assert runs.read_text() == "xxx"


async def test_watch_events_split_across_chunks_are_reassembled(serve) -> None:
    big = "x" * 200_000
    events = [
        {
            "type": "ADDED",
            "object": {"metadata": {"name": "a", "resourceVersion": "5"}, "data": {"big": big}},
        },
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}},
        {"type": "DELETED", "object": {"metadata": {"name": "a", "resourceVersion": "7"}}},
    ]
    payload = b"".join(orjson.dumps(e) + b"\n" for e in events)

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.query["watch"] == "true"
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(0, len(payload), 4099):  # chunk borders fall inside lines
            await resp.write(payload[i : i + 4099])
        return resp

    t = transport(await serve(handler))
    try:
        got = [e async for e in stream_events(t, "/api/v1/configmaps", {"watch": "true"})]
    finally:
        await t.close()
    assert [(e.type, e.resource_version) for e in got] == [
        ("ADDED", "5"),
        ("BOOKMARK", "6"),
        ("DELETED", "7"),
    ]
    assert got[0].object["data"]["big"] == big


async def test_watch_error_event_410_raises_gone(serve) -> None:
    error = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": "too old resource version: 1 (200)",
            "reason": "Expired",
            "code": 410,
        },
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(orjson.dumps(error) + b"\n")
        return resp

    t = transport(await serve(handler))
    try:
        with pytest.raises(GoneError) as err:
            _ = [e async for e in stream_events(t, "/api/v1/configmaps", {"watch": "true"})]
    finally:
        await t.close()
    assert err.value.reason == "Expired"


async def test_a_request_cancelled_while_the_tls_context_is_made_leaves_it_usable_for_the_next() -> None:
    """Every request to one server shares one TLS context future; cancelling the first request (an
    informer stopped while its watch connects) must not cancel that future for all later ones."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens: the request fails after TLS setup, as a transport error
    clock = InstantClock()
    t = transport(f"https://127.0.0.1:{port}", clock, retry=RetryPolicy(max_retries=0))
    try:
        first = asyncio.ensure_future(t.request("GET", "/version", verb="get", idempotent=True))
        await asyncio.sleep(0.001)  # the context is being made in a thread
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        with pytest.raises(TransportError):
            await t.request("GET", "/version", verb="get", idempotent=True)
    finally:
        await t.close()


async def test_closing_one_transport_of_a_pool_leaves_the_others_request_and_watch_running(serve) -> None:
    """Two transports of one server share its connection pool (``kubeloop.client.pool``), each sending its
    own credentials; closing one ends its own watch at once and leaves the other's request under way and
    watch running on the shared connections; the last one's close closes the pool."""
    answer, arrived = asyncio.Event(), asyncio.Event()
    tokens: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        tokens.append(request.headers["Authorization"])
        if len(tokens) == 3:
            arrived.set()
        if request.query.get("watch") == "true":
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n')
            await answer.wait()
            await resp.write(b'{"type":"ADDED","object":{"metadata":{"name":"b","resourceVersion":"2"}}}\n')
            return resp
        await answer.wait()
        return web.json_response({"kind": "Namespace"})

    server = await serve(handler)
    closing, staying = (
        Transport(ClientConfig(server=server, token=token), ClientSettings(qps=None), clock=InstantClock())
        for token in ("closing", "staying")
    )
    try:

        async def watch(t: Transport) -> list[str]:
            names: list[str] = []
            async for event in stream_events(t, "/api/v1/configmaps", {"watch": "true"}):
                names.append(event.object["metadata"]["name"])
            return names

        doomed = asyncio.create_task(watch(closing))
        watched = asyncio.create_task(watch(staying))
        request = asyncio.create_task(
            staying.request("GET", "/api/v1/namespaces/default", verb="get", idempotent=True)
        )
        await asyncio.wait_for(arrived.wait(), 5)
        assert sorted(tokens) == ["Bearer closing", "Bearer staying", "Bearer staying"]  # each its own
        assert closing._pool is staying._pool  # one pool: each client's credentials go per request

        await closing.close()
        with pytest.raises(TransportError):  # its own watch ends at once
            await asyncio.wait_for(doomed, 5)
        answer.set()
        assert (await asyncio.wait_for(request, 5))["kind"] == "Namespace"
        assert await asyncio.wait_for(watched, 5) == ["a", "b"]
        pool = staying._pool
        assert pool is not None
        assert not pool.closed
        assert pool.users == 1
    finally:
        await closing.close()
        await staying.close()
    assert pool.closed
