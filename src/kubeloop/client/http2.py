"""HTTP/2 for watches: many watch streams share a few TLS connections to the API server.

client-go sends everything over HTTP/2; a watch there is one stream, not one connection. Over HTTP/1.1
every watch holds its own TCP + TLS connection (asyncio keeps a TLS read buffer per connection, 64 KiB
once a pool exists, 256 before; the server a goroutine and TLS state), so 1,000 watches cost 1,000
of each. Here they cost ``ceil(1000 / max_concurrent_streams)`` connections (kube-apiserver allows
100 streams each).

``Http2Pool.open`` sends one GET and returns its ``Http2Response`` once the headers arrive. Data is flow
controlled per stream and acknowledged only as the caller reads it, so a slow reader holds at most one
stream window of unread data. A connection silent for ``read_idle`` seconds is pinged and closed if the
ping is not answered within ``ping_timeout`` (client-go's HTTP/2 health check), failing its streams so
their watchers reconnect. A server that does not negotiate ``h2`` (ALPN) raises ``Http2Unavailable``; the
caller falls back to HTTP/1.1. Liveness is network time: the checks run on the event loop's clock, not on
an injected one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from kubeloop.client.errors import ConnectError, TransportError
from kubeloop.errors import KubeloopError

__all__ = [
    "Http2Error",
    "Http2Pool",
    "Http2Response",
    "Http2Unavailable",
]

STREAM_WINDOW = 1 << 20
"""Unread bytes one stream may hold (a whole initial-events burst of a large watch fits in a few)."""
CONNECTION_WINDOW = 32 << 20
IDLE_CLOSE = 90.0
"""Seconds a connection with no streams stays open (Go's http.Transport IdleConnTimeout)."""


class Http2Error(TransportError):
    """A stream or its connection failed after the request was sent."""


class Http2Unavailable(KubeloopError):
    """The server does not speak HTTP/2 (no ``h2`` in ALPN): use HTTP/1.1 for it.

    Not a ``TransportError``: nothing failed, and no retry should see it (the transport falls back)."""


class _Refused(Http2Error):
    """The server did not process the stream (GOAWAY past it, or REFUSED_STREAM): safe to send again."""


class Http2Response:
    """One stream's response: ``status``, ``headers`` (lower-case names), and its body read as it arrives."""

    def __init__(self, conn: _Connection, stream_id: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self.status = 0
        self.headers: dict[str, str] = {}
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._headers_received: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def header(self, name: str) -> str | None:
        """The value of a response header, or None."""
        return self.headers.get(name.lower())

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as the server sends it; raises ``Http2Error`` if the stream breaks before its end."""
        while True:
            if self._chunks:
                data, flow = self._chunks.popleft()
                self._conn.consumed(self.stream_id, flow)
                if data:
                    yield data
            elif self._error is not None:
                raise self._error
            elif self._eof:
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    def at_eof(self) -> bool:
        """Whether the server ended the stream and everything was read."""
        return self._eof and not self._chunks

    def close(self) -> None:
        """Stop reading: reset the stream if the server has not ended it. A reader still waiting on it
        (its client was closed under it) gets an ``Http2Error``; what was left unread is dropped."""
        open_ = not self._eof and self._error is None
        self._conn.forget(self.stream_id, reset=open_)
        self._chunks.clear()  # forget gave their window back: nobody reads them now
        if open_:
            self._on_error(Http2Error("the stream was closed by the client"))

    release = close

    async def _wait_headers(self) -> None:
        await self._headers_received

    def _on_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name == b":status":
                self.status = int(value)
            elif not name.startswith(b":"):
                self.headers[name.decode("latin-1")] = value.decode("latin-1")
        if not self._headers_received.done():
            self._headers_received.set_result(None)

    def _on_data(self, data: bytes, flow: int) -> None:
        self._chunks.append((data, flow))
        self._wake()

    def _on_end(self) -> None:
        self._eof = True
        self._wake()

    def _on_error(self, error: BaseException) -> None:
        if self._eof or self._error is not None:
            return
        self._error = error
        if not self._headers_received.done():
            self._headers_received.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: feeds frames to ``h2`` and routes its events to the open streams."""

    def __init__(self, read_idle: float, ping_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._read_idle = read_idle
        self._ping_timeout = ping_timeout
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self._streams: dict[int, Http2Response] = {}
        self._transport: asyncio.Transport | None = None
        self._settled: asyncio.Future[None] = self._loop.create_future()
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._last_read = self._last_stream = self._loop.time()
        self._keepalive: asyncio.Task[None] | None = None
        self.negotiated = False
        self.draining = False
        self.closed = False

    # -- asyncio.Protocol --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        self.negotiated = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
        if not self.negotiated:
            return  # not a word of HTTP/2 to a server that did not choose it; the pool falls back
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self._fail(Http2Error(f"HTTP/2 protocol error from the server: {e}"))
            return
        for event in events:
            self._handle(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc!r}" if exc else ""
        self._fail(Http2Error(f"HTTP/2 connection to the API server closed{reason}"))

    # -- used by the pool and the responses -------------------------------------------------------------

    async def settle(self) -> None:
        """Wait for the server's first SETTINGS (its stream limit) and start the health check."""
        await self._settled
        self._keepalive = self._loop.create_task(self._check_health())

    def has_room(self) -> bool:
        """Whether a new stream may be opened here now."""
        limit = self._h2.remote_settings.max_concurrent_streams
        return not (self.closed or self.draining) and self._h2.open_outbound_streams < limit

    def start(self, headers: Sequence[tuple[str, str]]) -> Http2Response:
        """Send a request without a body; the response fills in as frames arrive."""
        stream_id = self._h2.get_next_available_stream_id()
        response = Http2Response(self, stream_id)
        self._streams[stream_id] = response
        self._h2.send_headers(stream_id, headers, end_stream=True)
        self._flush()
        return response

    def consumed(self, stream_id: int, flow: int) -> None:
        """Hand ``flow`` bytes of window back to the server once the reader has taken them."""
        if flow and not self.closed:
            self._h2.acknowledge_received_data(flow, stream_id)
            self._flush()

    def forget(self, stream_id: int, *, reset: bool) -> None:
        """The reader is done with a stream; reset it on the wire if it is still open."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._last_stream = self._loop.time()
        unread = sum(flow for _, flow in stream._chunks)
        if unread and not self.closed:  # the connection's window must get back what nobody will read
            self._h2.acknowledge_received_data(unread, stream_id)
        if reset and not self.closed:
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            self._flush()
        if self.draining and not self._streams:
            self.close()

    def close(self) -> None:
        """Close the connection now; open streams fail."""
        if self._transport is not None and not self.closed:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.close_connection()
            self._flush()
            self._transport.close()
        self._fail(Http2Error("HTTP/2 connection closed by the client"))

    @property
    def streams(self) -> int:
        """Streams open on this connection."""
        return len(self._streams)

    # -- internals ---------------------------------------------------------------------------------------

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream._on_data(event.data or b"", event.flow_controlled_length or 0)
            elif event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id or 0)
        elif isinstance(event, h2.events.ResponseReceived):
            if (stream := self._streams.get(event.stream_id or 0)) is not None:
                stream._on_headers(event.headers or ())
        elif isinstance(event, h2.events.StreamEnded):
            if (stream := self._streams.get(event.stream_id or 0)) is not None:
                stream._on_end()
        elif isinstance(event, h2.events.StreamReset):
            if (stream := self._streams.get(event.stream_id or 0)) is not None:
                code = event.error_code
                kind = _Refused if code == h2.errors.ErrorCodes.REFUSED_STREAM else Http2Error
                stream._on_error(kind(f"the server reset the stream ({_code_name(code)})"))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self._settled.done():
                self._settled.set_result(None)
        elif isinstance(event, h2.events.PingAckReceived):
            if (ping := self._pings.pop(event.ping_data or b"", None)) is not None and not ping.done():
                ping.set_result(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._on_goaway(event.last_stream_id or 0, event.error_code)

    def _on_goaway(self, last_stream_id: int, code: object) -> None:
        """The server takes no new streams; those past ``last_stream_id`` were never processed."""
        self.draining = True
        for stream_id, stream in self._streams.items():
            if stream_id > last_stream_id:
                stream._on_error(_Refused(f"the server is closing the connection ({_code_name(code)})"))
        if all(stream_id > last_stream_id for stream_id in self._streams):
            self.close()

    async def _check_health(self) -> None:
        """Ping when the server has been silent for ``read_idle``; close when idle and streamless."""
        while not self.closed:
            await asyncio.sleep(self._read_idle)
            if self.closed:
                return
            now = self._loop.time()
            if not self._streams and now - self._last_stream >= IDLE_CLOSE:
                self.close()
                return
            if now - self._last_read >= self._read_idle and not await self._ping():
                self._fail(
                    Http2Error(f"the API server did not answer a ping within {self._ping_timeout:g} s")
                )
                if self._transport is not None:
                    self._transport.abort()
                return

    async def _ping(self) -> bool:
        """Send a PING and wait up to ``ping_timeout`` for its acknowledgement."""
        payload = os.urandom(8)
        answered = self._pings[payload] = self._loop.create_future()
        self._h2.ping(payload)
        self._flush()
        try:
            await asyncio.wait_for(answered, self._ping_timeout)
        except TimeoutError:
            return False
        finally:
            self._pings.pop(payload, None)
        return True

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _fail(self, error: Http2Error) -> None:
        self.closed = True
        if not self._settled.done():
            self._settled.set_exception(error)
            self._settled.exception()  # retrieved: a pool that gave up waiting must not log it
        for stream in self._streams.values():
            stream._on_error(error)
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()


class Http2Pool:
    """HTTP/2 connections to one server, opened as streams need room; shared by the transports of one
    ``kubeloop.client.pool.ConnectionPool`` (one process's clients of one server and TLS identity).

    Connections are keyed by TLS context (an exec plugin may rotate the client certificate).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
        read_idle: float = 30.0,
        ping_timeout: float = 15.0,
    ) -> None:
        self._host = host
        self._port = port
        self._authority = f"{host}:{port}"
        self._server_hostname = server_hostname
        self._connect_timeout = connect_timeout
        self._read_idle = read_idle
        self._ping_timeout = ping_timeout
        self._connections: list[tuple[ssl.SSLContext, _Connection]] = []
        self._dialing: dict[ssl.SSLContext, asyncio.Lock] = {}
        self.unavailable = False
        self._closed = False

    @property
    def connections(self) -> int:
        """Open connections (for tests and metrics)."""
        return sum(1 for _, c in self._connections if not c.closed)

    @property
    def streams(self) -> int:
        """Streams open on those connections."""
        return sum(c.streams for _, c in self._connections if not c.closed)

    async def open(self, ctx: ssl.SSLContext, path: str, headers: Sequence[tuple[str, str]]) -> Http2Response:
        """GET ``path`` (with its query) and return the response once its headers arrive.

        Raises ``Http2Unavailable`` if the server does not speak HTTP/2, ``ConnectError`` if it
        cannot be reached, ``Http2Error`` if the stream fails before its headers.
        """
        request = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", self._authority),
            (":path", path),
            *headers,
        ]
        for _ in range(3):
            conn = await self._connection(ctx)
            response = conn.start(request)
            try:
                await response._wait_headers()
            except _Refused:
                response.close()
                continue
            except BaseException:
                response.close()
                raise
            return response
        raise Http2Error(f"GET {path}: the server refused the stream three times")

    async def close(self) -> None:
        """Close every connection; no new one is dialled afterwards."""
        self._closed = True
        for _, conn in self._connections:
            conn.close()
        self._connections.clear()

    async def _connection(self, ctx: ssl.SSLContext) -> _Connection:
        """A connection with room for one more stream, dialling a new one when all are full."""
        if (conn := self._with_room(ctx)) is not None:
            return conn
        async with self._dialing.setdefault(ctx, asyncio.Lock()):
            if (conn := self._with_room(ctx)) is not None:  # another task dialled while this one waited
                return conn
            conn = await self._dial(ctx)
            self._connections.append((ctx, conn))
            return conn

    def _with_room(self, ctx: ssl.SSLContext) -> _Connection | None:
        self._connections = [(c, conn) for c, conn in self._connections if not conn.closed]
        for c, conn in self._connections:
            if c is ctx and conn.has_room():
                return conn
        return None

    async def _dial(self, ctx: ssl.SSLContext) -> _Connection:
        if self._closed:
            raise Http2Error(f"{self._authority}: the connection pool is closed")
        if self.unavailable:
            raise Http2Unavailable(self._authority)
        loop = asyncio.get_running_loop()
        conn = _Connection(self._read_idle, self._ping_timeout)
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: conn,
                    self._host,
                    self._port,
                    ssl=ctx,
                    server_hostname=self._server_hostname or self._host,
                )
        except ssl.SSLCertVerificationError as e:
            raise ConnectError(f"TLS certificate verification failed ({e.verify_message})") from e
        except TimeoutError as e:
            raise ConnectError("timed out") from e
        except OSError as e:
            raise ConnectError((e.strerror or str(e)).lower()) from e
        if not conn.negotiated:
            self.unavailable = True
            transport.close()
            raise Http2Unavailable(self._authority)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await conn.settle()
        except TimeoutError as e:
            conn.close()
            raise ConnectError(f"{self._authority} sent no HTTP/2 settings") from e
        return conn


def _code_name(code: object) -> str:
    return getattr(code, "name", str(code))
