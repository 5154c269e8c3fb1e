"""The webhook server over real TLS on loopback: answers, bad input, failures, metrics, rotation."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from widgets import Widget

from kubeloop.manager import Metrics, WebhookServerOptions
from kubeloop.webhook import (
    AdmissionRequest,
    AdmissionResponse,
    Conversions,
    Defaulter,
    Target,
    Validator,
    WebhookServer,
    serving_certificate,
)

MUTATE = "/mutate-widgets-example-com-v1-widget"
VALIDATE = "/validate-widgets-example-com-v1-widget"


class Exploding:
    async def admit(self, request: AdmissionRequest) -> AdmissionResponse:
        raise RuntimeError("handler exploded")


def trusting(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode())


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebhookServer, bytes, Metrics]]:
    ca = serving_certificate(tmp_path)
    metrics = Metrics(process_collectors=False)
    options = WebhookServerOptions(bind_address="127.0.0.1:0", cert_dir=tmp_path, poll_interval=0.05)
    server = WebhookServer(options, metrics=metrics)

    def default(w: Widget, request: AdmissionRequest) -> None:
        w.spec.size = 7

    server.register(MUTATE, Defaulter(Target.of(Widget), default))
    server.register(VALIDATE, Validator(Target.of(Widget), lambda w, r: None))
    server.register("/explode", Exploding())
    server.register("/convert", Conversions())
    async with server:
        yield server, ca, metrics


def admission_review(uid: str = "u-1") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "widgets.example.com", "version": "v1", "kind": "Widget"},
            "resource": {"group": "widgets.example.com", "version": "v1", "resource": "widgets"},
            "operation": "CREATE",
            "name": "w",
            "namespace": "ns",
            "object": {
                "apiVersion": "widgets.example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {},
            },
        },
    }


async def post(server: WebhookServer, ca: bytes, path: str, body: bytes) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"https://127.0.0.1:{server.port}{path}",
            data=body,
            headers={"Content-Type": "application/json"},
            ssl=trusting(ca),
        ) as response,
    ):
        return response.status, await response.read()


async def test_a_review_over_tls_is_answered_with_the_patch(
    served: tuple[WebhookServer, bytes, Metrics],
) -> None:
    server, ca, _ = served
    status, body = await post(server, ca, MUTATE, orjson.dumps(admission_review()))
    assert status == 200
    response = orjson.loads(body)["response"]
    assert response["uid"] == "u-1"
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{oops", "request body is not JSON"),
        (b'"a string"', "request body is a JSON str, not an AdmissionReview object"),
        (
            b'{"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"}',
            "apiVersion 'admission.k8s.io/v2' is not supported",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "ConversionReview"}',
            "kind is 'ConversionReview', expected 'AdmissionReview'",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}',
            "AdmissionReview has no request",
        ),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
            b'"request": {"uid": "x", "operation": "PATCH"}}',
            "request.operation 'PATCH'",
        ),
    ],
    ids=["not-json", "not-object", "wrong-api-version", "wrong-kind", "no-request", "bad-operation"],
)
async def test_a_malformed_review_gets_400_with_a_clear_message_and_the_server_keeps_serving(
    served: tuple[WebhookServer, bytes, Metrics], body: bytes, message: str
) -> None:
    server, ca, metrics = served
    status, text = await post(server, ca, VALIDATE, body)
    assert status == 400
    assert message in text.decode()
    status, answer = await post(server, ca, VALIDATE, orjson.dumps(admission_review("after")))
    assert status == 200
    assert orjson.loads(answer)["response"] == {"uid": "after", "allowed": True}
    assert (
        metrics.registry.get_sample_value(
            "controller_runtime_webhook_requests_total", {"webhook": VALIDATE, "code": "400"}
        )
        == 1
    )


async def test_a_malformed_conversion_review_gets_400(served: tuple[WebhookServer, bytes, Metrics]) -> None:
    server, ca, _ = served
    status, text = await post(server, ca, "/convert", orjson.dumps(admission_review()))
    assert status == 400
    assert "expected 'ConversionReview'" in text.decode()


async def test_a_handler_that_raises_gets_an_error_answer_not_a_dropped_connection(
    served: tuple[WebhookServer, bytes, Metrics],
) -> None:
    server, ca, metrics = served
    status, body = await post(server, ca, "/explode", orjson.dumps(admission_review()))
    assert status == 200
    response = orjson.loads(body)["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "RuntimeError: handler exploded" in response["status"]["message"]
    assert (
        metrics.registry.get_sample_value(
            "kubeloop_webhook_admission_rejections_total", {"webhook": "/explode", "code": "500"}
        )
        == 1
    )


async def test_latency_and_request_counts_are_recorded_per_webhook(
    served: tuple[WebhookServer, bytes, Metrics],
) -> None:
    server, ca, metrics = served
    for _ in range(3):
        await post(server, ca, MUTATE, orjson.dumps(admission_review()))
    sample = metrics.registry.get_sample_value
    assert sample("controller_runtime_webhook_requests_total", {"webhook": MUTATE, "code": "200"}) == 3
    assert sample("controller_runtime_webhook_latency_seconds_count", {"webhook": MUTATE}) == 3
    assert sample("controller_runtime_webhook_requests_in_flight", {"webhook": MUTATE}) == 0


async def test_a_rotated_certificate_is_served_to_new_connections_without_restart(
    served: tuple[WebhookServer, bytes, Metrics],
) -> None:
    server, old_ca, _ = served
    port = server.port
    new_ca = serving_certificate(server.certs.cert_path.parent)
    async with asyncio.timeout(10):
        while True:
            try:
                status, _ = await post(server, new_ca, MUTATE, orjson.dumps(admission_review()))
                break
            except aiohttp.ClientConnectorCertificateError:
                await asyncio.sleep(0.05)
    assert status == 200
    assert server.port == port
    assert server.certs.reloads >= 1
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await post(server, old_ca, MUTATE, orjson.dumps(admission_review()))


async def test_a_half_written_pair_keeps_the_old_certificate_serving(
    served: tuple[WebhookServer, bytes, Metrics],
) -> None:
    server, ca, _ = served
    server.certs.key_path.write_bytes(b"not a key")
    await asyncio.sleep(0.3)  # several polls
    status, _ = await post(server, ca, MUTATE, orjson.dumps(admission_review()))
    assert status == 200


async def test_starting_without_a_certificate_fails(tmp_path: Path) -> None:
    server = WebhookServer(WebhookServerOptions(bind_address="127.0.0.1:0", cert_dir=tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        await server.start()
    assert not server.started()


def client_context(ca: bytes, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers only ``version``; security level 0 lets OpenSSL offer TLS < 1.2 at all."""
    context = trusting(ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1 are deprecated: the point
        context.minimum_version = context.maximum_version = version
    return context


async def handshake(port: int, context: ssl.SSLContext) -> str | None:
    """The protocol version agreed with the server on ``port`` after a TLS handshake."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        return writer.get_extra_info("ssl_object").version()  # type: ignore[no-any-return]
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def permissive_server(cert_dir: Path) -> AsyncIterator[int]:
    """A TLS server with the same certificate that accepts TLS 1.0 and later: the control showing that
    the clients below really offer the old versions."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls1.0", "tls1.1"])
async def test_a_client_offering_only_tls_below_1_2_fails_the_handshake(
    served: tuple[WebhookServer, bytes, Metrics], tmp_path: Path, version: ssl.TLSVersion
) -> None:
    server, ca, _ = served
    context = client_context(ca, version)
    async with permissive_server(tmp_path) as control:
        assert await handshake(control, context) == version.name.replace("_", ".")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(server.port, context)


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"]
)
async def test_a_client_offering_tls_1_2_or_later_completes_the_handshake(
    served: tuple[WebhookServer, bytes, Metrics], version: ssl.TLSVersion
) -> None:
    server, ca, _ = served
    assert await handshake(server.port, client_context(ca, version)) == version.name.replace("_", ".")
