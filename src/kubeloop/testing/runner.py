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
    whatever made it fail. One not ready within ``ready_timeout`` is stopped too (TimeoutError).
    ``deprecated``: ``Operator.run``'s old keywords, passed on to it."""
    options = options or ManagerOptions()
    if options.metrics == MetricsOptions():
        options = replace(options, metrics=MetricsOptions(LOOPBACK))
    if options.probes == ProbeOptions():
        options = replace(options, probes=ProbeOptions(LOOPBACK))
    operator.manager = None
    run = operator.run(options, kubeconfig=kubeconfig, handle_signals=False, **deprecated)
    task = asyncio.create_task(run)
    try:
        async with asyncio.timeout(ready_timeout):
            while operator.manager is None or not operator.manager.cache.synced:
                if task.done():
                    task.result()
                    raise RuntimeError(f"operator {operator.name} stopped before its caches synced")
                await asyncio.sleep(0.02)
    except BaseException:
        # what kept it from starting is what is raised; stopped all the same, else it ran on, retrying
        # (a missing permission's 403s in the next test's log)
        await _ended(operator, operator.manager, task, quietly=True)
        raise
    manager = operator.manager
    try:
        yield manager
    finally:
        await _ended(operator, manager, task)


async def _ended(
    operator: Operator, manager: Manager | None, task: asyncio.Task[None], *, quietly: bool = False
) -> None:
    """Stop ``operator``'s run (``task``): gracefully within 30 s through its ``manager``, else
    cancelled; re-raise what made it fail unless ``quietly``."""
    try:
        if manager is not None:
            manager.stop()
        else:
            task.cancel()
        await asyncio.wait_for(task, 30)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not task.cancelled() or (current is not None and current.cancelling()):
            raise
    except Exception:
        if not quietly:
            raise
    finally:
        operator.manager = None
