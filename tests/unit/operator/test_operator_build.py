"""Building an operator's controllers (on the embedded API server) leaves its declarations as they were."""

from __future__ import annotations

import asyncio

import pytest

from kubeloop import Operator
from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client
from kubeloop.controller import Request
from kubeloop.manager import ManagerOptions
from kubeloop.operator import Watch, kind_spec
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until


async def test_building_twice_leaves_the_declared_kinds_unchanged() -> None:
    operator = Operator("keeper")

    @operator.reconcile("v1/ConfigMap", owns=[core_v1.Secret])
    async def reconcile(obj: object, ctx: object) -> None: ...

    declared = operator.kinds
    async with EmbeddedServer() as server, await Client.load(server.kubeconfig) as client:
        for _ in range(2):
            manager = await operator.build(client, ManagerOptions(name="keeper"))
            assert [c.name for c in manager.controllers] == ["configmap"]
    assert operator.kinds == declared
    assert declared[0][0] == kind_spec("v1/ConfigMap")
    assert declared[0][0].namespaced is None  # the server's answer went to the controller, not here


async def test_the_old_run_keywords_still_run_the_operator_with_a_warning() -> None:
    operator = Operator("legacy")

    @operator.reconcile("v1/ConfigMap")
    async def reconcile(obj: object, ctx: object) -> None: ...

    old = {"health_probe_bind_address": "0", "leader_election": True, "leader_election_namespace": "default"}
    async with EmbeddedServer() as server:
        with pytest.deprecated_call(match="health_probe_bind_address=.*leader_election="):
            async with run_operator(operator, server.kubeconfig, **old) as manager:
                assert manager.probes.port is None  # disabled, as the old keyword asked
                assert manager.metrics_server.port  # run_operator's loopback default still applies
                elector = manager.elector
                assert elector is not None
                assert (elector.options.lease_name, elector.options.lease_namespace) == (
                    "legacy-leader",
                    "default",
                )


async def test_a_kubeconfig_passed_first_still_connects_with_a_warning() -> None:
    operator = Operator("positional")

    @operator.reconcile("v1/ConfigMap")
    async def reconcile(obj: object, ctx: object) -> None: ...

    async with EmbeddedServer() as server:
        with pytest.deprecated_call() as caught:
            off = {"metrics_bind_address": "0", "health_probe_bind_address": "0"}
            task = asyncio.create_task(operator.run(server.kubeconfig, handle_signals=False, **off))
            await until(lambda: operator.manager is not None and operator.manager.cache.synced, within=30)
        assert operator.manager is not None
        assert any("Operator.run(kubeconfig) is deprecated" in str(w.message) for w in caught)
        operator.manager.stop()
        await asyncio.wait_for(task, 30)


def test_a_watch_pair_of_the_last_release_is_still_declared_with_a_warning() -> None:
    operator = Operator("watcher")

    def mapper(obj: dict[str, object]) -> list[Request]:
        return []

    @operator.reconcile("v1/ConfigMap", watches=[Watch(core_v1.Secret, mapper)])
    async def typed(obj: object, ctx: object) -> None: ...

    with pytest.deprecated_call(
        match=r"watches=\[\(kind, mapper\)\] is deprecated; use .*kl.Watch"
    ) as caught:

        @operator.reconcile("v1/Service", watches=[(core_v1.Secret, mapper)])  # type: ignore[list-item]
        async def untyped(obj: object, ctx: object) -> None: ...

    assert [w.filename for w in caught if w.category is DeprecationWarning] == [__file__]  # points here

    assert [watched for _, _, watched in operator.kinds] == [[kind_spec(core_v1.Secret)]] * 2
