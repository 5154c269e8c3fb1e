"""``LocalWebhooks``: point the API server at a webhook server running outside the cluster.

For ``kubeloop run`` and tests: entered after the ``WebhookServer`` has bound (the manager enters
its servers in order), it applies the webhook configurations with ``url: https://HOST:PORT/...``
and the local CA as ``caBundle``, and points the ``spec.conversion`` of each converted kind's CRD
at ``/convert``. On exit it deletes the configurations again, since a ``failurePolicy: Fail``
webhook nobody serves would block every write of its kinds. CRD conversion settings are left as
they are (a CRD needs some conversion to serve several versions); the next local run re-points them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from kubeloop.client import Client, NotFoundError, PatchType
from kubeloop.webhook._config import AdmissionWebhook, ClientConfig, configurations, conversion_stanza
from kubeloop.webhook._conversion import Conversions
from kubeloop.webhook._server import WebhookServer

__all__ = ["LocalWebhooks"]

log = logging.getLogger("kubeloop.webhook")

CRD = "apiextensions.k8s.io/v1/CustomResourceDefinition"


class LocalWebhooks:
    """Installs (on enter) and removes (on exit) the configurations reaching a local ``server``."""

    def __init__(
        self,
        client: Client,
        server: WebhookServer,
        webhooks: Sequence[AdmissionWebhook],
        conversions: Conversions,
        *,
        name: str,
        ca_bundle: bytes,
        host: str = "127.0.0.1",
    ) -> None:
        self.client = client
        self.server = server
        self.webhooks = list(webhooks)
        self.conversions = conversions
        self.name = name
        self.ca_bundle = ca_bundle
        self.host = host
        self.installed: list[dict[str, Any]] = []

    def client_config(self) -> ClientConfig:
        if self.server.port is None:
            raise RuntimeError("the webhook server is not listening yet")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ClientConfig(url=f"https://{host}:{self.server.port}", ca_bundle=self.ca_bundle)

    async def __aenter__(self) -> LocalWebhooks:
        config = self.client_config()
        for obj in configurations(self.webhooks, config, name=self.name):
            self.installed.append(await self.client.apply(obj, field_manager=self.name, force=True))
            log.info("installed %s %s", obj["kind"], obj["metadata"]["name"])
        for group, kind in self.conversions.kinds:
            info = next(iter(self.conversions.models(group, kind).values())).resource_info()
            patch = {"spec": {"conversion": conversion_stanza(config)}}
            await self.client.patch(CRD, info.crd_name, patch, type=PatchType.MERGE)
            log.info("pointed the conversion of %s at %s", info.crd_name, config.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for obj in self.installed:
            with contextlib.suppress(NotFoundError):
                await self.client.delete(f"{obj['apiVersion']}/{obj['kind']}", obj["metadata"]["name"])
        self.installed.clear()
