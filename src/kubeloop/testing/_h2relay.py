"""The fault proxy's HTTP/2 side: one client connection relayed stream by stream to one upstream
connection, so that a single stream (a watch) can be answered with an error, delayed, have its
connection reset after the first bytes of its response, or be ended right after its response headers,
like HTTP/1.1 requests can."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

if TYPE_CHECKING:
    from kubeloop.testing.faults import Decision

__all__ = ["H2Relay"]


@dataclass
class _Stream:
    down: int
    up: int | None = None
    pending: bytearray = field(default_factory=bytearray)
    ended: bool = False
    request_ended: bool = False
    reset_after_data: bool = False
    end_after_headers: bool = False


class H2Relay:
    """Relays one HTTP/2 connection; ``run()`` returns when either side closes."""

    def __init__(
        self,
        down: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        up: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        *,
        decide: Callable[[str, str], Decision],
        gate: Callable[[], Awaitable[None]],
        abort: Callable[[], None],
    ) -> None:
        self._down_r, self._down_w = down
        self._up_r, self._up_w = up
        self._decide = decide
        self._gate = gate
        self._abort = abort
        self._down = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self._up = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self._by_down: dict[int, _Stream] = {}
        self._by_up: dict[int, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        self._down.initiate_connection()
        self._up.initiate_connection()
        self._flush()
        pumps = [
            asyncio.ensure_future(self._pump(self._down_r, self._down, self._on_down)),
            asyncio.ensure_future(self._pump(self._up_r, self._up, self._on_up)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [*pumps, *self._tasks]
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        conn: h2.connection.H2Connection,
        handle: Callable[[h2.events.Event], None],
    ) -> None:
        while data := await reader.read(65536):
            await self._gate()
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return
            for event in events:
                handle(event)
            self._flush()
            # one after the other, not gathered: a gather cancelled with the pump leaves a future whose
            # exception (the other side's reset) nobody retrieves
            await self._down_w.drain()
            await self._up_w.drain()

    def _flush(self) -> None:
        if data := self._down.data_to_send():
            self._down_w.write(data)
        if data := self._up.data_to_send():
            self._up_w.write(data)

    # -- from the client -------------------------------------------------------------------------------

    def _on_down(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event)
        elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
            self._down.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._by_down.get(event.stream_id)
            if stream is not None and stream.up is not None:
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._up.send_data(stream.up, event.data or b"")
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
            stream = self._by_down.get(event.stream_id)
            if stream is not None and stream.up is None:
                stream.request_ended = True  # the request is still held: it goes out ended
            elif stream is not None and stream.up is not None:
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._up.end_stream(stream.up)
        elif isinstance(event, h2.events.StreamReset) and event.stream_id is not None:
            stream = self._by_down.pop(event.stream_id, None)
            if stream is not None and stream.up is not None:
                self._by_up.pop(stream.up, None)
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._up.reset_stream(stream.up)
        elif isinstance(event, h2.events.WindowUpdated):
            streams = (
                list(self._by_down.values()) if not event.stream_id else [self._by_down.get(event.stream_id)]
            )
            for stream in streams:
                if stream is not None:
                    self._send_down(stream)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._abort()

    def _request(self, event: h2.events.RequestReceived) -> None:
        assert event.stream_id is not None
        headers = [(bytes(k), bytes(v)) for k, v in event.headers or ()]
        fields = dict(headers)
        method = fields.get(b":method", b"").decode()
        path = fields.get(b":path", b"").decode()
        decision = self._decide(method, path)
        stream = _Stream(event.stream_id, reset_after_data=decision.reset, end_after_headers=decision.end)
        self._by_down[event.stream_id] = stream
        if decision.error is not None:
            code, extra, body = decision.error
            response = [(b":status", str(code).encode())] + [
                (k.encode(), v.encode()) for k, v in extra.items()
            ]
            self._down.send_headers(event.stream_id, response)
            self._down.send_data(event.stream_id, body, end_stream=True)
            self._by_down.pop(event.stream_id, None)
            return
        if decision.latency:
            task = asyncio.ensure_future(self._open_later(stream, headers, decision.latency))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._open(stream, headers)  # its StreamEnded event, if any, follows and ends it upstream

    async def _open_later(self, stream: _Stream, headers: list[tuple[bytes, bytes]], delay: float) -> None:
        await asyncio.sleep(delay)
        await self._gate()
        if self._by_down.get(stream.down) is stream:
            self._open(stream, headers)
            self._flush()

    def _open(self, stream: _Stream, headers: list[tuple[bytes, bytes]]) -> None:
        stream.up = self._up.get_next_available_stream_id()
        self._by_up[stream.up] = stream
        self._up.send_headers(stream.up, headers, end_stream=stream.request_ended)

    # -- from the API server ---------------------------------------------------------------------------

    def _on_up(self, event: h2.events.Event) -> None:
        stream = self._by_up.get(getattr(event, "stream_id", None) or 0)
        if isinstance(event, h2.events.ResponseReceived) and stream and stream.end_after_headers:
            self._by_up.pop(stream.up or 0, None)
            self._by_down.pop(stream.down, None)
            with contextlib.suppress(h2.exceptions.H2Error):  # a complete response with no body
                self._down.send_headers(stream.down, list(event.headers or ()), end_stream=True)
            with contextlib.suppress(h2.exceptions.H2Error):  # the API server's watch goes on: cancel it
                self._up.reset_stream(stream.up or 0, h2.errors.ErrorCodes.CANCEL)
        elif isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived) and stream:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._down.send_headers(
                    stream.down,
                    list(event.headers or ()),
                    end_stream=isinstance(event, h2.events.TrailersReceived),
                )
        elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
            self._up.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is not None and stream.reset_after_data and event.data:
                stream.pending += event.data[: max(1, len(event.data) // 2)]  # half of the first frame
                self._send_down(stream)
                self._flush()
                self._abort()
            elif stream is not None:
                stream.pending += event.data or b""
                self._send_down(stream)
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            stream.ended = True
            self._send_down(stream)
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            self._by_up.pop(stream.up or 0, None)
            self._by_down.pop(stream.down, None)
            with contextlib.suppress(h2.exceptions.H2Error):
                self._down.reset_stream(stream.down, event.error_code or 0)
        elif isinstance(event, h2.events.WindowUpdated):
            pass  # requests carry (almost) no body: nothing waits on the server's window
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._abort()

    def _send_down(self, stream: _Stream) -> None:
        """Send what the client's flow-control window allows; end the stream once all is sent."""
        try:
            while stream.pending:
                window = min(
                    self._down.local_flow_control_window(stream.down),
                    self._down.max_outbound_frame_size,
                )
                if window <= 0:
                    return
                chunk = bytes(stream.pending[:window])
                del stream.pending[:window]
                self._down.send_data(stream.down, chunk)
            if stream.ended:
                self._down.end_stream(stream.down)
                self._by_down.pop(stream.down, None)
                self._by_up.pop(stream.up or 0, None)
        except h2.exceptions.H2Error:
            self._by_down.pop(stream.down, None)
            self._by_up.pop(stream.up or 0, None)
