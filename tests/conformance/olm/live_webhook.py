"""A live webhook server for an installed package: what its pod would run, as a local process part.

The lifecycle manager installs a Service-based webhook (``<deployment>-service`` in the install
namespace) whose serving certificate lives in a Secret. No pod runs in the test cluster, so
``serve_webhooks`` stands in for one: the Service becomes an ExternalName of 127.0.0.1 (the real
kube-apiserver resolves an ExternalName webhook Service to that host and the webhook's port, and
still checks the certificate against ``<service>.<namespace>.svc``), a kubeloop ``WebhookServer``
listens there, and a task copies the Secret's certificate into the server's directory as the kubelet
updates a mounted Secret: after a lag, never sooner. Traffic stays on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.client import Client, NotFoundError
from kubeloop.manager import WebhookServerOptions
from kubeloop.webhook import AdmissionRequest, AdmissionResponse, Conversions, WebhookServer

# What the kubelet's update of a mounted Secret lags behind the Secret at least (in a cluster: up to
# its sync period, a minute by default).
MOUNT_LAG = 1.0


class Allowing:
    """Admits every request and counts them."""

    def __init__(self) -> None:
        self.calls = 0

    async def admit(self, request: AdmissionRequest) -> AdmissionResponse:
        self.calls += 1
        return AdmissionResponse.allow()


@dataclass
class LiveWebhooks:
    """The running server, its handlers by path, and how many certificates it has loaded."""

    server: WebhookServer
    handlers: dict[str, Allowing]

    @property
    def calls(self) -> int:
        return sum(h.calls for h in self.handlers.values())

    @property
    def reloads(self) -> int:
        return self.server.certs.reloads


def _write_pair(directory: Path, data: dict[str, Any]) -> None:
    """The key, then the certificate, each replaced whole (the server keeps a half-written pair out)."""
    for name in ("tls.key", "tls.crt"):
        temporary = directory / f".{name}.new"
        temporary.write_bytes(base64.b64decode(data[name]))
        temporary.replace(directory / name)


async def _mount(client: Client, namespace: str, secret: str, directory: Path) -> None:
    """Keep ``directory`` holding the Secret's certificate, each change written ``MOUNT_LAG`` after seen."""
    written = (directory / "tls.crt").read_bytes()
    while True:
        with contextlib.suppress(NotFoundError):
            data = (await client.get("v1/Secret", secret, namespace=namespace)).get("data") or {}
            if "tls.crt" in data and base64.b64decode(data["tls.crt"]) != written:
                await asyncio.sleep(MOUNT_LAG)
                _write_pair(directory, data)
                written = base64.b64decode(data["tls.crt"])
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serve_webhooks(
    client: Client, namespace: str, service: str, secret: str, port: int, paths: list[str], cert_dir: Path
) -> AsyncIterator[LiveWebhooks]:
    """Serve ``paths`` (admitting everything) for the installed webhook Service ``service`` on
    127.0.0.1:``port``, with the certificate of Secret ``secret`` as a pod mounting it would."""
    data = (await client.get("v1/Secret", secret, namespace=namespace))["data"]
    _write_pair(cert_dir, data)
    options = WebhookServerOptions(bind_address=f"127.0.0.1:{port}", cert_dir=cert_dir, poll_interval=0.1)
    server = WebhookServer(options)
    handlers = {path: Allowing() for path in paths}
    for path, handler in handlers.items():
        server.register(path, handler)
    server.register("/convert", Conversions())
    external = {"spec": {"type": "ExternalName", "externalName": "127.0.0.1"}}
    await client.patch("v1/Service", service, external, namespace=namespace)
    async with server:
        mount = asyncio.create_task(_mount(client, namespace, secret, cert_dir))
        try:
            yield LiveWebhooks(server, handlers)
        finally:
            mount.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mount
