"""Connections to one API server shared by every client of the process that reaches it with the same
TLS identity, as client-go shares one transport per TLS configuration (its ``tlsCache``).

An operator process holds several clients of one server: the reconciles', the Event recorders', the
Leases', the sharder's label writes (each with a rate limit of its own). Each open TLS connection
costs its read buffer in asyncio's SSL layer and OpenSSL's state on top, and with a pool per client
the idle connections of one serve none of the others. Here the clients share one ``ConnectionPool``: the
aiohttp session (HTTP/1.1 keep-alive connections), the TLS contexts, and the HTTP/2 connections of
watches. Credentials stay per client: tokens, basic auth and impersonation are per-request headers,
so connections are shared only where the TLS identity is the same (server, CA, server name, proxy,
and the client certificate: a connection is keyed by the TLS context that presents it).

Over HTTP/1.1 a request takes the idle connection released last, as Go's net/http does (aiohttp
takes the one released first): the connections a burst opened beyond what the process then keeps
busy are left idle and closed after ``KEEPALIVE_TIMEOUT``. Taken in turn, each was used again within
the timeout by a process that is never idle that long, so a replica kept every connection its
busiest moment had opened, ~120 KiB each, whatever its share of the objects (at 10,000 apps the
replica running the sharder, whose first pass writes 16 labels at once, held 42-43 against 29).

asyncio gives every TLS connection a read buffer of ``SSLProtocol.max_size`` bytes, allocated and
zero-filled whole when the connection opens: 256 KiB, most of the ~310 KiB an idle connection kept
resident. Over HTTP/1.1 each request in flight holds a connection, so a replica whose 10 workers
have ~30 requests under way keeps ~30 of them whatever its share of the objects (at 10,000 apps over
4 replicas, 9 MiB of each one's 64-83 MiB over the idle process). The first pool of a process sets
it to ``TLS_READ_BUFFER`` (64 KiB: four TLS records, which carry at most 16 KiB each; a larger body
is read in more passes of the event loop, each as large): ~120 KiB a connection.

Guarantees: a pool is bound to the event loop it was acquired in; it lives while it has users
(``acquire`` counts one, ``release`` takes it back) and its last user's ``release`` closes its
connections, so closing one client never cuts another's requests or watches. A client ends its own
responses itself (``Transport.close``).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
import weakref
from asyncio import sslproto
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from kubeloop.client.config import ClientConfig
from kubeloop.client.errors import TransportError

if TYPE_CHECKING:
    from kubeloop.client.http2 import Http2Pool

__all__ = [
    "KEEPALIVE_TIMEOUT",
    "TLS_READ_BUFFER",
    "ConnectionPool",
    "Http2Timing",
    "TlsIdentity",
    "acquire",
    "release",
]

TLS_READ_BUFFER = 64 * 1024
"""The read buffer of each TLS connection in the process once a pool exists (see the module docstring)."""

KEEPALIVE_TIMEOUT = 15.0
"""Seconds an HTTP/1.1 connection may stay idle before it is closed (aiohttp's default)."""


class _RecentFirstConnector(aiohttp.TCPConnector):
    """A request takes the idle connection released last, so that those a burst opened stay idle
    and close after the keep-alive timeout (see the module docstring)."""

    def _release(self, key: Any, protocol: Any, *args: Any, **kwargs: Any) -> None:
        # A private hook: whatever else a later aiohttp passes goes through unchanged.
        super()._release(key, protocol, *args, **kwargs)
        idle = getattr(self, "_conns", {}).get(key)
        # aiohttp appends a released connection and takes from the left: put it at the left.
        if isinstance(idle, deque) and idle and idle[-1][0] is protocol:
            idle.rotate(1)


@dataclass(frozen=True)
class TlsIdentity:
    """What must be equal for two clients to share connections: where they connect and how TLS proves
    both ends. The client certificate of a kubeconfig is here; one an exec plugin hands out keys the
    TLS context inside the pool (connections are keyed by context)."""

    origin: str
    ca_data: bytes | None
    insecure_skip_tls_verify: bool
    tls_server_name: str | None
    client_cert_data: bytes | None
    client_key_data: bytes | None
    proxy_url: str | None

    @classmethod
    def of(cls, config: ClientConfig) -> TlsIdentity:
        base = URL(config.server)
        return cls(
            origin=str(base.origin()),
            ca_data=config.ca_data,
            insecure_skip_tls_verify=config.insecure_skip_tls_verify,
            tls_server_name=config.tls_server_name,
            client_cert_data=config.client_cert_data,
            client_key_data=config.client_key_data,
            proxy_url=config.proxy_url,
        )


@dataclass(frozen=True)
class Http2Timing:
    """The settings an HTTP/2 connection is dialled and health-checked with (clients that differ in
    them get connections of their own)."""

    connect_timeout: float
    read_idle: float
    ping_timeout: float


class ConnectionPool:
    """The connections of one process to one server under one ``TlsIdentity``; see the module docstring."""

    def __init__(self, config: ClientConfig) -> None:
        _small_tls_read_buffers()
        self.identity = TlsIdentity.of(config)
        self._config = config
        self._base = URL(config.server)
        self.users = 0
        self.closed = False
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[tuple[bytes | None, bytes | None, bool], asyncio.Future[ssl.SSLContext]] = {}
        self._http2: dict[Http2Timing, Http2Pool] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP/1.1 keep-alive connections (made on first use), as an aiohttp session the clients
        share: each passes its own headers, TLS context and timeouts with every request, and none
        closes it (a session closed under a request in flight fails the request's retry)."""
        if self._session is None:
            connector = _RecentFirstConnector(
                limit=0, ttl_dns_cache=300, enable_cleanup_closed=True, keepalive_timeout=KEEPALIVE_TIMEOUT
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    def http2(self, timing: Http2Timing) -> Http2Pool:
        """The HTTP/2 connections for watches dialled with ``timing`` (made on first use)."""
        pool = self._http2.get(timing)
        if pool is None:
            from kubeloop.client import http2  # h2 costs 25 ms to import: only for clients that watch

            pool = self._http2[timing] = http2.Http2Pool(
                self._base.host or "",
                self._base.port or 443,
                server_hostname=self._config.tls_server_name,
                connect_timeout=timing.connect_timeout,
                read_idle=timing.read_idle,
                ping_timeout=timing.ping_timeout,
            )
        return pool

    @property
    def http2_connections(self) -> int:
        """HTTP/2 connections open, whichever client's streams they carry."""
        return sum(pool.connections for pool in self._http2.values())

    async def ssl_context(
        self, cert: bytes | None, key: bytes | None, *, http2: bool = False
    ) -> ssl.SSLContext | bool:
        """The TLS context presenting ``cert``/``key``; HTTP/2 gets its own (it offers ``h2`` in ALPN).
        One per key for the pool's life: the connector keys connections by context."""
        if self._base.scheme != "https":
            return False
        made = self._ssl.get((cert, key, http2))
        if made is None:  # one future per key: concurrent first requests must share one context
            made = asyncio.ensure_future(
                asyncio.to_thread(_make_ssl_context, self._config, cert, key, http2=http2)
            )
            self._ssl[(cert, key, http2)] = made
        return await asyncio.shield(made)  # a cancelled request must not cancel the context for the rest

    async def _close(self) -> None:
        self.closed = True
        for pool in self._http2.values():
            await pool.close()
        self._http2.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TlsIdentity, ConnectionPool]] = (
    weakref.WeakKeyDictionary()
)


def acquire(config: ClientConfig) -> ConnectionPool:
    """The running loop's pool for ``config``'s server and TLS identity (made if there is none), with
    one more user: give it back with ``release``."""
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    identity = TlsIdentity.of(config)
    pool = pools.get(identity)
    if pool is None:
        pool = pools[identity] = ConnectionPool(config)
    pool.users += 1
    return pool


async def release(pool: ConnectionPool) -> None:
    """One user fewer; the last one closes the pool's connections (a later ``acquire`` makes a new pool)."""
    pool.users -= 1
    if pool.users > 0 or pool.closed:
        return
    for pools in _pools.values():
        if pools.get(pool.identity) is pool:
            del pools[pool.identity]
    await pool._close()


def _small_tls_read_buffers() -> None:
    """asyncio's TLS connections made from now on read through ``TLS_READ_BUFFER`` bytes, not 256 KiB
    (a smaller size set by someone else is kept)."""
    if sslproto.SSLProtocol.max_size > TLS_READ_BUFFER:
        sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def _make_ssl_context(
    cfg: ClientConfig, cert: bytes | None, key: bytes | None, *, http2: bool = False
) -> ssl.SSLContext:
    """TLS for the server: trust ``ca_data`` (or the system store), present the client cert if any.

    ``http2`` offers ``h2`` in ALPN; HTTP/1.1 connections must not offer it.
    """
    if cfg.insecure_skip_tls_verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_data:
        ctx = ssl.create_default_context(cadata=cfg.ca_data.decode())
    else:
        ctx = ssl.create_default_context()
    if cert and key:
        # ssl can load a chain only from files: write them to a private temp dir and remove at once.
        with tempfile.TemporaryDirectory(prefix="kubeloop-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, data in ((cert_path, cert), (key_path, key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            try:
                ctx.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as e:
                raise TransportError(f"{cfg.source}: client certificate or key is invalid: {e}") from e
    if http2:
        ctx.set_alpn_protocols(["h2"])
    return ctx
