"""Objects the API server keeps refusing do not hold back the others (real kube-apiserver, a fault
proxy answering the bad objects' children with 500): a request of a reconcile fails fast, its retry
is the work queue's per-key backoff, and the other keys have workers to run on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until
from kubeloop.testing.faults import FaultProxy, Faults
from kubeloop.testing.fixtures import Cluster

HEALTHY, BAD = 20, 10

pytestmark = pytest.mark.usefixtures("gadget_crd")


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[FaultProxy]:
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=14) as running:
        yield running


async def converged(client: Client, namespace: str, replicas: int) -> bool:
    """Whether every healthy Gadget's child says ``replicas``."""
    items = (await client.list("configmaps", namespace=namespace))["items"]
    seen = {i["metadata"]["name"]: (i.get("data") or {}).get("replicas") for i in items}
    return all(seen.get(f"ok-{i}-child") == str(replicas) for i in range(HEALTHY))


async def test_objects_the_server_keeps_refusing_do_not_hold_back_the_others(
    cluster: Cluster, client: Client, namespace: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.faults = Faults(
        error_share=1.0, error_codes=(500,), only=rf"^PATCH /api/v1/namespaces/{namespace}/configmaps/bad-"
    )
    operator = kl.Operator("starvation-test", namespace=namespace)
    attempts: dict[str, int] = {}

    @operator.reconcile(Gadget, owns=[core_v1.ConfigMap])
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        name = g.metadata.name or ""
        attempts[name] = attempts.get(name, 0) + 1
        data = {"replicas": str(g.spec.replicas)}
        await ctx.apply(core_v1.ConfigMap(metadata={"name": f"{name}-child"}, data=data))

    async def timed(replicas: int) -> float:
        started = time.monotonic()
        await asyncio.gather(
            *(
                client.patch(
                    "gadgets.test.kubeloop.io",
                    f"ok-{i}",
                    {"spec": {"replicas": replicas}},
                    namespace=namespace,
                )
                for i in range(HEALTHY)
            )
        )
        await until(lambda: converged(client, namespace, replicas), within=120, what=f"replicas={replicas}")
        return time.monotonic() - started

    async with run_operator(operator, proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")):
        await asyncio.gather(*(client.create(gadget(f"ok-{i}"), namespace=namespace) for i in range(HEALTHY)))
        await until(lambda: converged(client, namespace, 1), within=60, what="the healthy Gadgets' children")
        alone = await timed(2)  # no refused object yet
        await asyncio.gather(*(client.create(gadget(f"bad-{i}"), namespace=namespace) for i in range(BAD)))
        await until(lambda: proxy.stats.errors[500] >= BAD, what="the bad keys' children refused")
        beside = await timed(3)  # while the bad keys keep failing
        assert beside <= 2 * alone + 3.0, (
            f"{HEALTHY} healthy objects took {beside:.1f} s beside {BAD} refused ones, {alone:.1f} s alone"
        )
        await until(
            lambda: all(attempts.get(f"bad-{i}", 0) >= 3 for i in range(BAD)), what="the bad keys retried"
        )
