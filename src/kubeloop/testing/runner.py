"""Run an operator inside a test, against a real API server (kopf's ``KopfRunner``, async).

::

    async with run_operator(operator, control_plane.kubeconfig) as manager:
        ...   # the operator reconciles; manager.metrics_server.port / manager.probes.port are bound
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubeloop.manager import Manager
from kubeloop.operator import Operator

__all__ = ["run_operator"]


@contextlib.asynccontextmanager
async def run_operator(
    operator: Operator, kubeconfig: str | Path, *, ready_timeout: float = 30.0, **options: Any
) -> AsyncIterator[Manager]:
    """Start ``operator`` (servers on free loopback ports), yield its manager once its caches synced,
    stop it gracefully afterwards; re-raise whatever made it fail."""
    options.setdefault("metrics_bind_address", "127.0.0.1:0")
    options.setdefault("health_probe_bind_address", "127.0.0.1:0")
    operator.manager = None
    task = asyncio.create_task(operator.run(kubeconfig, handle_signals=False, **options))
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
