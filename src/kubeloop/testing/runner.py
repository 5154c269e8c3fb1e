"""Run an operator inside a test, against a real API server (kopf's ``KopfRunner``, async).

::

    async with run_operator(operator, control_plane.kubeconfig) as manager:
        ...   # the operator reconciles; manager.metrics_server.port / manager.probes.port are bound

    local = ManagerOptions(webhook_server=WebhookServerOptions(bind_address="127.0.0.1:0", local=True))
    async with run_operator(operator, control_plane.kubeconfig, local):
        ...   # its webhooks are served too, and the API server calls them
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubeloop.manager import Manager, ManagerOptions, MetricsOptions, ProbeOptions
from kubeloop.operator import Operator

__all__ = ["run_operator"]

LOOPBACK = "127.0.0.1:0"


@contextlib.asynccontextmanager
async def run_operator(
    operator: Operator,
    kubeconfig: str | Path,
    options: ManagerOptions | None = None,
    *,
    ready_timeout: float = 30.0,
    **deprecated: Any,
) -> AsyncIterator[Manager]:
    """Start ``operator`` with ``options`` (metrics and probes on free loopback ports unless they name
    others), yield its manager once its caches synced, stop it gracefully afterwards; re-raise
    whatever made it fail. ``deprecated``: ``Operator.run``'s old keywords, passed on to it."""
    options = options or ManagerOptions()
    if options.metrics == MetricsOptions():
        options = replace(options, metrics=MetricsOptions(LOOPBACK))
    if options.probes == ProbeOptions():
        options = replace(options, probes=ProbeOptions(LOOPBACK))
    operator.manager = None
    run = operator.run(options, kubeconfig=kubeconfig, handle_signals=False, **deprecated)
    task = asyncio.create_task(run)
    async with asyncio.timeout(ready_timeout):
        while operator.manager is None or not operator.manager.cache.synced:
            if task.done():
                task.result()
                raise RuntimeError(f"operator {operator.name} stopped before its caches synced")
            await asyncio.sleep(0.02)
    manager = operator.manager
    try:
        yield manager
    finally:
        manager.stop()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            operator.manager = None
