"""run_operator stops what it started, also when the operator never became ready: an operator whose
caches never synced (its identity may list nothing) ran on, retrying, beside the next test's."""

from __future__ import annotations

import asyncio

import pytest

from kubeloop import Operator
from kubeloop.apiserver import EmbeddedServer
from kubeloop.testing import run_operator


async def test_an_operator_whose_caches_never_sync_is_stopped_when_run_operator_gives_up() -> None:
    operator = Operator("unready")

    @operator.reconcile("v1/ConfigMap")
    async def reconcile(obj: object, ctx: object) -> None: ...

    async with EmbeddedServer() as server:
        kubeconfig = server.user_kubeconfig("nobody")  # bound to no role: every list is refused
        with pytest.raises(TimeoutError):
            async with run_operator(operator, kubeconfig, ready_timeout=1.0):
                pytest.fail("ready without a permission to list")
        # its run (whose task groups hold its informers, elector and controllers) is over
        running = [
            t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "Operator.run"
        ]
        assert not running
        assert operator.manager is None
