"""The process's connection pools (``kubeloop.client.pool``): which clients share one (same server and
TLS identity, whatever their credentials), the count of users that keeps it open, and the read buffer
of their TLS connections. Closing one
transport of a pool never cuts another's request or watch: test_client_transport.py (a local server),
and on the real kube-apiserver (HTTP/2 too) tests/conformance/client/test_client_shared_pool.py."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
from pathlib import Path

import pytest
from aiohttp import web

from kubeloop.certs import CertificateAuthority
from kubeloop.client import ClientConfig
from kubeloop.client import pool as pools

BASE = ClientConfig(
    server="https://10.0.0.1:6443", ca_data=b"ca", client_cert_data=b"c", client_key_data=b"k"
)


@pytest.mark.parametrize(
    "change",
    [
        {"token": "another"},
        {"username": "someone", "password": "secret"},
        {"impersonate": "system:serviceaccount:ns:sa", "impersonate_groups": ("g",)},
        {"namespace": "other", "context": "other", "source": "elsewhere"},
        {"server": "https://10.0.0.1:6443/some/prefix"},
    ],
    ids=["token", "basic-auth", "impersonation", "namespace-context-source", "path-prefix"],
)
def test_credentials_and_what_travels_in_headers_share_the_identity(change: dict[str, object]) -> None:
    assert pools.TlsIdentity.of(dataclasses.replace(BASE, **change)) == pools.TlsIdentity.of(BASE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"server": "https://10.0.0.2:6443"},
        {"server": "https://10.0.0.1:443"},
        {"ca_data": b"another ca"},
        {"insecure_skip_tls_verify": True},
        {"tls_server_name": "kubernetes.default"},
        {"client_cert_data": b"another cert"},
        {"client_key_data": b"another key"},
        {"proxy_url": "http://proxy:3128"},
    ],
    ids=["host", "port", "ca", "insecure", "server-name", "client-cert", "client-key", "proxy"],
)
def test_anything_of_tls_or_the_route_makes_another_identity(change: dict[str, object]) -> None:
    assert pools.TlsIdentity.of(dataclasses.replace(BASE, **change)) != pools.TlsIdentity.of(BASE)  # type: ignore[arg-type]


async def test_one_pool_per_identity_kept_while_it_has_users_and_closed_by_the_last() -> None:
    first = pools.acquire(BASE)
    second = pools.acquire(dataclasses.replace(BASE, token="another"))
    other = pools.acquire(dataclasses.replace(BASE, client_cert_data=b"another cert"))
    assert second is first
    assert other is not first
    assert first.users == 2
    session = first.session
    await pools.release(first)
    assert not first.closed
    assert not session.closed
    await pools.release(second)
    assert first.closed
    assert session.closed
    again = pools.acquire(BASE)
    assert again is not first  # a closed pool is never handed out again
    for pool in (again, other):
        await pools.release(pool)


async def test_each_event_loop_has_pools_of_its_own() -> None:
    here = pools.acquire(BASE)

    def elsewhere() -> bool:
        async def acquire() -> bool:
            pool = pools.acquire(BASE)
            try:
                return pool is not here
            finally:
                await pools.release(pool)

        return asyncio.run(acquire())

    try:
        assert await asyncio.to_thread(elsewhere)
    finally:
        await pools.release(here)


async def test_tls_connections_read_through_64_kib_and_bodies_larger_arrive_whole(tmp_path: Path) -> None:
    """asyncio allocates (and zero-fills) a 256 KiB read buffer for each TLS connection, most of what an
    open connection keeps: once a pool exists, connections read through 64 KiB, and a body of several
    MiB (many buffers) still arrives whole over one of them."""
    ca = CertificateAuthority()
    cert, key = ca.serving("127.0.0.1").write(tmp_path, "serving")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    body = os.urandom(3 * 2**20 + 17)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    pool = pools.acquire(ClientConfig(server=f"https://127.0.0.1:{port}", ca_data=ca.cert_pem))
    try:
        tls = await pool.ssl_context(None, None)
        for _ in range(2):  # a new connection, then the same one again
            async with pool.session.get(f"https://127.0.0.1:{port}/big", ssl=tls) as response:
                assert response.connection is not None
                assert response.connection.transport is not None
                protocol = response.connection.transport._ssl_protocol  # type: ignore[attr-defined]
                assert await response.read() == body
                assert len(protocol._ssl_buffer) == 64 * 1024
    finally:
        await pools.release(pool)
        await runner.cleanup()


async def test_a_request_takes_the_connection_released_last_so_a_burst_s_extra_ones_close_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """8 requests at once open 8 connections; requests one after another then all go over the one
    released last, and the 7 others, idle, are closed after the keep-alive timeout (aiohttp alone
    takes them in turn, each used again before it times out, and keeps all 8)."""
    monkeypatch.setattr(pools, "KEEPALIVE_TIMEOUT", 0.3)
    burst, arrived, all_in = 8, [0], asyncio.Event()

    async def hello(request: web.Request) -> web.Response:
        if request.query.get("burst"):
            arrived[0] += 1
            if arrived[0] == burst:
                all_in.set()
            await all_in.wait()  # every request of the burst is under way at once
        assert request.transport is not None
        return web.Response(text=str(request.transport.get_extra_info("peername")[1]))

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    pool = pools.acquire(ClientConfig(server=url))

    async def port(query: str = "") -> str:
        async with pool.session.get(url + query) as response:
            return await response.text()

    try:
        assert len(set(await asyncio.gather(*(port("?burst=1") for _ in range(burst))))) == burst
        assert runner.server is not None
        assert len(runner.server.connections) == burst
        assert len({await port() for _ in range(2 * burst)}) == 1
        # Kept busy (a request every 50 ms) past the timeout: the idle ones close, the busy one stays.
        for _ in range(100):
            used = await port()
            if len(runner.server.connections) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(runner.server.connections) == 1
        assert await port() == used
    finally:
        await pools.release(pool)
        await runner.cleanup()
