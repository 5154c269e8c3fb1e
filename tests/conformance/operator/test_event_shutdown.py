"""Events still being written when an operator stops, on the real API server: the manager writes them
before ``run()`` returns and the client closes, and no write ends as a task exception nobody retrieved
(CI's runs ended with many ``Task exception was never retrieved ... RuntimeError: Session is closed``
from the recorder's writes, retried on the session closed under them)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gadgets import Gadget, gadget

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.testing import run_operator, until
from kubeloop.testing.faults import FaultProxy, Faults
from kubeloop.testing.fixtures import Cluster


def recorder_writes() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "EventRecorder._after" in repr(t.get_coro())]


async def test_event_writes_pending_when_the_operator_stops_are_written_before_its_client_closes(
    cluster: Cluster,
    gadget_crd: str,
    client: Client,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator = kl.Operator("event-shutdown-test", namespace=namespace)
    recorded = asyncio.Event()

    @operator.reconcile(Gadget)
    async def reconcile(g: Gadget, ctx: kl.Context) -> None:
        for _ in range(2):  # one Event: a create, then its count (PATCH), the series' last write
            ctx.event("Normal", "Seen", "the same event twice")
        recorded.set()

    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=3) as proxy:
        via = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        proxy.faults = Faults(latency=2.0, only=r"^PATCH /apis/events\.k8s\.io/")
        async with run_operator(operator, via):
            created = await client.create(gadget("g"), namespace=namespace)
            await asyncio.wait_for(recorded.wait(), 30)
            await until(lambda: events_about(client, namespace, created), what="the Event created")
            writes = recorder_writes()
            assert writes, "the count is still on its way when the operator stops"
        # stopped while the count waited in the proxy: run() returned, the client is closed
        await asyncio.wait(writes, timeout=30)
    assert all(w.done() for w in writes)
    assert [None if w.cancelled() else w.exception() for w in writes] == [None] * len(writes)
    [event] = await events_about(client, namespace, created)
    assert event.get("series", {}).get("count") == 2  # written, not dropped


async def events_about(client: Client, namespace: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = f"regarding.uid={obj['metadata']['uid']}"
    found = await client.list("events.k8s.io/v1/Event", namespace=namespace, field_selector=selector)
    return list(found["items"])
