"""HTTP/2 faults the real API server rarely shows on demand, from a small local h2 server over real TLS
sockets: a peer that stops answering pings, GOAWAY before a stream was processed, a reset connection, and
a server that offers no HTTP/2."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from kubeloop.certs import CertificateAuthority
from kubeloop.client.http2 import (
    CONNECTION_WINDOW,
    STREAM_WINDOW,
    Http2Error,
    Http2Pool,
    Http2Response,
    Http2Unavailable,
)
from kubeloop.testing import until

EVENT = b'{"type":"ADDED","object":{"metadata":{"name":"x"}}}\n'


@dataclass
class PeerBehaviour:
    """What the test server does; ``silent`` makes it stop writing (pings unanswered) after the headers."""

    silent: bool = False
    goaway_first: bool = False
    reset_after_headers: bool = False
    body_bytes: int = 0
    pings: int = 0
    connections: int = 0
    received: int = 0  # bytes read from clients
    ended: int = 0  # connections whose client closed
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def serve_h2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: PeerBehaviour) -> None:
    peer.connections += 1
    peer.writers.append(writer)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    first_connection = peer.connections == 1
    quiet = False
    unsent: dict[int, bytes] = {}  # stream -> body still to send, as flow control allows

    def pump() -> None:
        for stream_id, body in list(unsent.items()):
            try:
                while body and (room := conn.local_flow_control_window(stream_id)):
                    size = min(room, conn.max_outbound_frame_size)
                    conn.send_data(stream_id, body[:size])
                    body = body[size:]
            except h2.exceptions.StreamClosedError:
                body = b""
            unsent[stream_id] = body
            if not body:
                del unsent[stream_id]

    while data := await reader.read(65536):
        peer.received += len(data)
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.PingReceived):
                peer.pings += 1
            if isinstance(event, h2.events.StreamReset):
                unsent.pop(event.stream_id or 0, None)
            if isinstance(event, h2.events.WindowUpdated):
                pump()
            if not isinstance(event, h2.events.RequestReceived):
                continue
            stream_id = event.stream_id or 0
            if peer.goaway_first and first_connection:
                conn.close_connection(last_stream_id=0)
                continue
            conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json")])
            unsent[stream_id] = EVENT + b"x" * peer.body_bytes
            pump()
            writer.write(conn.data_to_send())
            if peer.reset_after_headers:
                writer.transport.abort()
                return
            quiet = peer.silent
        if not quiet:
            writer.write(conn.data_to_send())  # includes the acknowledgement of any PING
    peer.ended += 1


@pytest.fixture
async def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts it and offers h2."""
    ca = CertificateAuthority()
    cert, key = ca.serving("127.0.0.1").write(tmp_path, "serving")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    client.set_alpn_protocols(["h2"])
    return server, client


@pytest.fixture
def peer() -> PeerBehaviour:
    return PeerBehaviour()


@pytest.fixture
def ping_timeout() -> float:
    """Generous, so a starved test process does not fail a ping its peer answered; the test of an
    unanswered ping sets its own (parametrized)."""
    return 5.0


@pytest.fixture
async def pool(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour, ping_timeout: float
) -> AsyncIterator[Http2Pool]:
    server_ctx, _ = tls
    server_ctx.set_alpn_protocols(["h2"])
    server = await asyncio.start_server(lambda r, w: serve_h2(r, w, peer), "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    pool = Http2Pool("127.0.0.1", port, read_idle=0.2, ping_timeout=ping_timeout)
    yield pool
    await pool.close()
    for writer in peer.writers:
        writer.transport.abort()
    server.close()


async def first_chunk(response: Http2Response) -> bytes:
    async for chunk in response.chunks():
        return chunk
    raise AssertionError("no data")


async def read_to_end(response: Http2Response) -> None:
    async with asyncio.timeout(5):
        async for _ in response.chunks():
            pass


@pytest.mark.parametrize("ping_timeout", [0.3])
async def test_a_peer_that_stops_answering_pings_fails_its_streams(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    peer.silent = True
    response = await pool.open(tls[1], "/watch", [])
    assert await first_chunk(response) == EVENT
    with pytest.raises(Http2Error, match=r"did not answer a ping within 0\.3 s"):
        await read_to_end(response)
    assert pool.connections == 0


async def test_a_peer_that_answers_pings_keeps_an_idle_stream(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    response = await pool.open(tls[1], "/watch", [])
    assert await first_chunk(response) == EVENT
    await asyncio.sleep(1.2)  # six read_idle periods: the client pinged and got answers
    assert peer.pings >= 2  # every other period: an answer counts as traffic (an unread one would hold 5 s)
    assert pool.connections == 1
    assert pool.streams == 1
    assert not response.at_eof()
    response.close()
    assert pool.streams == 0


async def test_goaway_before_the_stream_was_processed_retries_on_a_new_connection(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    peer.goaway_first = True
    response = await pool.open(tls[1], "/watch", [])
    assert response.status == 200
    assert await first_chunk(response) == EVENT
    assert peer.connections == 2


async def test_a_connection_reset_mid_stream_fails_the_stream(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    peer.reset_after_headers = True
    response = await pool.open(tls[1], "/watch", [])
    with pytest.raises(Http2Error, match="connection to the API server closed"):
        await read_to_end(response)


async def test_a_server_without_h2_is_reported_unavailable_and_sent_no_http2(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    tls[0].set_alpn_protocols(["http/1.1"])  # the server's context: later handshakes offer no h2
    tls[1].set_alpn_protocols(["h2", "http/1.1"])
    with pytest.raises(Http2Unavailable):
        await pool.open(tls[1], "/watch", [])
    assert pool.unavailable
    await until(lambda: peer.ended == 1)
    assert peer.received == 0  # no connection preface: an HTTP/1.1 server would log it as a bad request


async def test_unread_data_of_a_closed_stream_is_given_back_to_the_connection_window(
    pool: Http2Pool, tls: tuple[ssl.SSLContext, ssl.SSLContext], peer: PeerBehaviour
) -> None:
    # Each stream stalls with a full stream window (1 MiB) unread when its reader closes it; unless that
    # is acknowledged, the 32 MiB connection window runs dry and later streams on it get no data at all.
    peer.body_bytes = 2 * STREAM_WINDOW
    for _ in range(CONNECTION_WINDOW // STREAM_WINDOW + 4):
        response = await pool.open(tls[1], "/watch", [])
        async with asyncio.timeout(5):
            assert (await first_chunk(response)).startswith(EVENT)
        await asyncio.sleep(0.05)  # the rest of the stream window arrives, unread
        response.close()
    assert pool.connections == 1
