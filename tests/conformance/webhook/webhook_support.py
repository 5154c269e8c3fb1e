"""Helpers for the webhook conformance tests: a unique group per module, kubectl off the event loop
(the webhook server runs on it, so a blocking kubectl would deadlock the API server's call back),
and webhook configurations installed pointing at the loopback server and removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import yaml

import kubeloop as kl
from kubeloop import webhook
from kubeloop.testing import Kubectl, until


def unique_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}.example.com"


async def run(
    kubectl: Kubectl, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(kubectl, *args, input=input, check=check)


def to_yaml(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


@contextlib.asynccontextmanager
async def installed(
    kubectl: Kubectl, operator: kl.Operator, ca: bytes
) -> AsyncIterator[list[dict[str, Any]]]:
    """Apply the operator's webhook configurations (URL of its running server, ``ca`` as caBundle);
    delete them on exit."""
    server = operator.webhook_server
    assert server is not None
    await until(server.started, within=10, what="webhook server listening")
    assert server.port is not None
    client = webhook.ClientConfig(url=f"https://127.0.0.1:{server.port}", ca_bundle=ca)
    configs = webhook.configurations(operator.webhooks, client, name=operator.name)
    await run(kubectl, "apply", "-f", "-", input=to_yaml(configs))
    try:
        yield configs
    finally:
        for config in configs:
            await run(
                kubectl, "delete", config["kind"].lower(), config["metadata"]["name"], "--ignore-not-found"
            )


def in_namespace(namespace: str) -> dict[str, Any]:
    """A namespaceSelector matching only ``namespace`` (so other tests' objects are not affected)."""
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
