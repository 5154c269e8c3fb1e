"""A fault-injecting proxy between an operator and kube-apiserver, on loopback (for chaos tests).

The proxy terminates TLS with a certificate of its own CA and re-originates it to the API server, so
it sees every request: it can answer a share of them with 429 (with ``Retry-After``), 500, 503 or 504,
delay them, reset a connection after the first bytes of a response, end a watch cleanly right after its
response headers (as a server or proxy that ends every watch at once), cut every open connection (and so
every watch, HTTP/1.1 or HTTP/2 stream) at once or every N seconds, and black-hole all traffic for a
while. It offers ``h2`` and ``http/1.1`` in ALPN like kube-apiserver and relays HTTP/2 stream by stream,
so watches multiplexed on HTTP/2 get the same faults as single requests.

::

    with FaultProxy(control_plane.kubeconfig) as proxy:
        kubeconfig = proxy.kubeconfig(operator_kubeconfig, tmp_path / "via-proxy")
        proxy.faults = Faults(error_share=0.2)       # 20 % of requests answered 429/500/503/504
        proxy.cut_every(5.0)                         # every connection cut every 5 s
        proxy.blackhole(10.0)                        # nothing passes for 10 s

Credentials: bearer tokens pass through in the request headers. The upstream connection presents no
client certificate unless ``forward_client_cert=True`` (then the certificate of ``upstream``'s
kubeconfig, for every client); a client certificate given to the proxy itself is not asked for.
The proxy runs its own event loop in a thread, so tests that block (kubectl) never stall it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import re
import socket
import ssl
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson
import yaml
from yarl import URL

from kubeloop.certs import CertificateAuthority
from kubeloop.client.config import load_kubeconfig
from kubeloop.testing import _http1

__all__ = ["FaultProxy", "FaultStats", "Faults"]

T = TypeVar("T")

_REASONS = {
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_WATCH = re.compile(r"[?&]watch=(true|1)(&|$)")
"""A watch request's query, in a request target."""

_STATUS_REASON = {
    404: "NotFound",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Faults:
    """What the proxy does to requests now; replace ``FaultProxy.faults`` to change it.

    ``error_share`` of the matching requests is answered by the proxy with one of ``error_codes`` (429
    carries ``Retry-After: retry_after``); ``reset_share`` of the rest has its connection reset after the
    first bytes of the response; every matching request waits ``latency`` s before it is forwarded.
    ``end_watch_share`` of the matching watches (``watch=true``) that the error spared is ended cleanly
    right after the response headers: a complete response with no event (the HTTP/1.1 connection stays
    open for the next request; the API server's stream is closed). ``only`` (a regular expression
    searched in ``"METHOD /path?query"``) limits them all to some requests.
    """

    error_share: float = 0.0
    error_codes: tuple[int, ...] = (429, 500, 503, 504)
    retry_after: int = 1
    latency: float = 0.0
    reset_share: float = 0.0
    end_watch_share: float = 0.0
    only: str | None = None

    def matches(self, method: str, target: str) -> bool:
        return self.only is None or re.search(self.only, f"{method} {target}") is not None


@dataclass(frozen=True)
class Decision:
    """What the proxy does to one request: answer it itself, hold it, reset after its first bytes, or
    end it (a watch) right after its response headers."""

    error: tuple[int, dict[str, str], bytes] | None = None
    latency: float = 0.0
    reset: bool = False
    end: bool = False


@dataclass
class FaultStats:
    """What went through the proxy and what it did."""

    connections: int = 0
    requests: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    resets: int = 0
    ended_watches: int = 0
    cut_connections: int = 0
    cuts: int = 0
    blackholes: int = 0

    def summary(self) -> str:
        errors = ", ".join(f"{code} x{n}" for code, n in sorted(self.errors.items())) or "none"
        return (
            f"{self.connections} connections, {self.requests} requests, errors answered: {errors}, "
            f"{self.resets} reset mid-response, {self.ended_watches} watches ended at once, "
            f"{self.cuts} cuts ({self.cut_connections} connections), "
            f"{self.blackholes} black holes"
        )


class _Connection:
    """One client connection and its upstream connection, to be cut together."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.down = transport
        self.up: asyncio.BaseTransport | None = None
        self.task: asyncio.Task[Any] | None = None
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True
        for transport in (self.down, self.up):
            if transport is not None:
                _reset(transport)
        if self.task is not None:
            self.task.cancel()


class _Held(asyncio.Protocol):
    """A new client connection, not read from until the proxy lets it through (a black hole holds it)."""

    def __init__(self, accept: Callable[[asyncio.BaseTransport], None]) -> None:
        self._accept = accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self._accept(transport)


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST (linger 0), like a dropped connection, rather than an orderly close."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.Transport | asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()


class FaultProxy:
    """The proxy; ``start()``/``stop()`` or ``with``. Control methods may be called from any thread."""

    def __init__(
        self,
        upstream: str | Path,
        *,
        http2: bool = True,
        forward_client_cert: bool = False,
        seed: int | None = None,
    ) -> None:
        config = load_kubeconfig(Path(upstream))
        self._upstream = URL(config.server)
        self._server_name = config.tls_server_name or self._upstream.host
        self._upstream_ssl: dict[str, ssl.SSLContext] = {}
        for alpn in ("h2", "http/1.1"):  # the h2 context is also the probe: it may get http/1.1
            ctx = ssl.create_default_context(cadata=config.ca_data.decode() if config.ca_data else None)
            if config.insecure_skip_tls_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if forward_client_cert and config.client_cert_data and config.client_key_data:
                _load_chain(ctx, config.client_cert_data, config.client_key_data)
            ctx.set_alpn_protocols([alpn] if alpn == "http/1.1" else ["h2", "http/1.1"])
            self._upstream_ssl[alpn] = ctx
        self._ca = CertificateAuthority("kubeloop-fault-proxy-ca")
        pair = self._ca.serving("127.0.0.1", "localhost")
        self._serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        _load_chain(self._serving, pair.cert_pem, pair.key_pem)
        self._http2 = http2
        self._random = random.Random(seed)
        self.faults = Faults()
        self.stats = FaultStats()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._flowing: asyncio.Event | None = None
        self._blackhole_ends = 0.0
        self._heal: asyncio.TimerHandle | None = None
        self._cutter: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's address, to put in a kubeconfig."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        """The CA that signed the proxy's serving certificate."""
        return self._ca.cert_pem

    def start(self) -> Self:
        """Listen on a free loopback port, in a thread of its own; returns once listening."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="kubeloop-fault-proxy", daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close the listener and every connection, stop the thread; idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def kubeconfig(self, source: str | Path, path: str | Path) -> Path:
        """Write to ``path`` a copy of kubeconfig ``source`` whose current context's cluster is the proxy
        (its server and CA); users and their credentials are kept as they are."""
        config = yaml.safe_load(Path(source).read_text())
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        for cluster in config["clusters"]:
            if cluster["name"] == context["cluster"]:
                cluster["cluster"] = {
                    "server": self.url,
                    "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                }
        out = Path(path)
        out.write_text(yaml.safe_dump(config))
        out.chmod(0o600)
        return out

    # -- faults that act on connections ----------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection now; returns how many there were."""
        return self._call(self._cut())

    def cut_every(self, seconds: float | None) -> None:
        """Cut every connection every ``seconds`` s from now on; ``None`` stops it."""
        self._call(self._set_cutter(seconds))

    def blackhole(self, seconds: float) -> None:
        """For ``seconds`` s nothing passes either way (connections are accepted and held, bytes wait);
        afterwards the held traffic flows on, like a network partition that heals. Returns at once."""
        self._call(self._blackhole(seconds))

    @property
    def blackholed(self) -> bool:
        """Whether a black hole is in force."""
        return self._flowing is not None and not self._flowing.is_set()

    @property
    def open_connections(self) -> int:
        """Client connections open now."""
        return len(self._connections)

    # -- the event loop side ---------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("fault proxy not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        # Offer h2 only where the API server speaks it: each client connection maps to one upstream one.
        _, probe = await self._connect("h2")
        ssl_object = probe.get_extra_info("ssl_object")
        upstream_h2 = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
        probe.transport.abort()
        self._serving.set_alpn_protocols(["h2", "http/1.1"] if self._http2 and upstream_h2 else ["http/1.1"])
        self._flowing = asyncio.Event()
        self._flowing.set()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Held(self._accept), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        """Stop listening, cut every connection and wait for every task of this loop to end: a task
        left pending when the loop stops is destroyed pending (asyncio says so at exit), and a gather
        left behind by one ends with an exception nobody retrieves."""
        if self._cutter is not None:
            self._cutter.cancel()
        if self._heal is not None:
            self._heal.cancel()
        if self._server is not None:
            self._server.close()
        await self._cut(count=False)
        if self._flowing is not None:
            self._flowing.set()
        me = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not me]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest, timeout=5)

    async def _cut(self, count: bool = True) -> int:
        victims = list(self._connections)
        for conn in victims:
            conn.abort()
        if count:
            self.stats.cuts += 1
            self.stats.cut_connections += len(victims)
        return len(victims)

    async def _set_cutter(self, seconds: float | None) -> None:
        if self._cutter is not None:
            self._cutter.cancel()
            self._cutter = None
        if seconds is not None:
            self._cutter = asyncio.ensure_future(self._cut_loop(seconds))

    async def _cut_loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._cut()

    async def _blackhole(self, seconds: float) -> None:
        assert self._flowing is not None
        loop = asyncio.get_running_loop()
        self.stats.blackholes += 1
        self._blackhole_ends = max(self._blackhole_ends, loop.time() + seconds)
        if self._heal is not None:
            self._heal.cancel()
        self._flowing.clear()
        self._heal = loop.call_at(self._blackhole_ends, self._flowing.set)

    async def _gate(self) -> None:
        if self._flowing is not None and not self._flowing.is_set():
            await self._flowing.wait()

    def _decide(self, method: str, target: str) -> Decision:
        self.stats.requests += 1
        faults = self.faults
        if not faults.matches(method, target):
            return Decision()
        if faults.error_share and self._random.random() < faults.error_share:
            code = self._random.choice(faults.error_codes)
            self.stats.errors[code] += 1
            headers = {"content-type": "application/json"}
            if code == 429:
                headers["retry-after"] = str(faults.retry_after)
            return Decision(error=(code, headers, _status_body(code)), latency=faults.latency)
        reset = bool(faults.reset_share) and self._random.random() < faults.reset_share
        if reset:
            self.stats.resets += 1
        end = (
            not reset
            and bool(faults.end_watch_share)
            and _WATCH.search(target) is not None
            and self._random.random() < faults.end_watch_share
        )
        if end:
            self.stats.ended_watches += 1
        return Decision(latency=faults.latency, reset=reset, end=end)

    def _accept(self, transport: asyncio.BaseTransport) -> None:
        conn = _Connection(transport)
        self._connections.add(conn)
        self.stats.connections += 1
        conn.task = asyncio.ensure_future(self._serve(conn))

    async def _serve(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._gate()
            reader = asyncio.StreamReader(limit=2**20)
            protocol = asyncio.StreamReaderProtocol(reader)
            tls = await loop.start_tls(conn.down, protocol, self._serving, server_side=True)  # type: ignore[arg-type]
            if tls is None:
                return
            conn.down = tls
            protocol.connection_made(tls)
            writer = asyncio.StreamWriter(tls, protocol, reader, loop)
            ssl_object = tls.get_extra_info("ssl_object")
            alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            up_reader, up_writer = await self._connect("h2" if alpn == "h2" else "http/1.1")
            conn.up = up_writer.transport
            if alpn == "h2":
                from kubeloop.testing._h2relay import H2Relay  # h2 costs 25 ms to import: only when used

                relay = H2Relay(
                    (reader, writer),
                    (up_reader, up_writer),
                    decide=self._decide,
                    gate=self._gate,
                    abort=conn.abort,
                )
                await relay.run()
            else:
                await self._http1((reader, writer), (up_reader, up_writer), conn)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            if not conn.aborted:
                raise
        finally:
            self._connections.discard(conn)
            for transport in (conn.down, conn.up):
                if transport is not None:
                    _reset(transport)

    async def _connect(self, alpn: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            self._upstream.host,
            self._upstream.port,
            ssl=self._upstream_ssl[alpn],
            server_hostname=self._server_name,
            limit=2**20,
        )

    async def _http1(
        self,
        down: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        up: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        conn: _Connection,
    ) -> None:
        reader, writer = down
        up_reader, up_writer = up

        async def send_down(data: bytes) -> None:
            await self._gate()
            writer.write(data)
            await writer.drain()

        while True:
            head = await _http1.read_head(reader)
            body = await _http1.read_body(reader, head)
            await self._gate()
            method, target = head.start[0], head.start[1]
            decision = self._decide(method, target)
            if decision.latency:
                await asyncio.sleep(decision.latency)
            if decision.error is not None:
                code, headers, payload = decision.error
                lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}"]
                lines += [f"{k}: {v}" for k, v in {**headers, "content-length": str(len(payload))}.items()]
                await send_down(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
                continue
            up_writer.write(head.raw + body)
            await up_writer.drain()
            response = await _http1.read_head(up_reader)
            if decision.end and response.status == 200 and response.chunked():
                await send_down(response.raw + b"0\r\n\r\n")  # the body's last chunk: nothing came
                _reset(up_writer.transport)  # the API server's watch goes on: close it, take another
                up_reader, up_writer = await self._connect("http/1.1")
                conn.up = up_writer.transport
                if head.closes():
                    return
                continue
            await send_down(response.raw)
            if method == "HEAD" or response.status in (204, 304) or response.status < 200:
                continue
            limit = None
            if decision.reset:  # half a plain body, or the first bytes of a stream's first chunk
                limit = (response.length() or 0) // 2 or 64
            complete = await _http1.relay_body(up_reader, response, send_down, until_eof=True, limit=limit)
            if not complete:
                conn.abort()
                return
            if response.closes() or head.closes():
                return


def _status_body(code: int) -> bytes:
    """The ``Status`` the API server would send with ``code``."""
    return orjson.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"injected by the fault proxy: {_REASONS.get(code, 'error')}",
            "reason": _STATUS_REASON.get(code, "InternalError"),
            "code": code,
        }
    )


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """``load_cert_chain`` reads only files: write them to a private directory for the call."""
    with tempfile.TemporaryDirectory(prefix="kubeloop-proxy-") as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert_path.write_bytes(cert)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        ctx.load_cert_chain(cert_path, key_path)
