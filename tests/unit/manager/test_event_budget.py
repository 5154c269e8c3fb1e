"""Events have a rate limit of their own (``ManagerOptions.events``): a burst of them leaves the
manager's client, whose QPS limit the reconciles' requests share, its tokens (on the embedded API
server)."""

from __future__ import annotations

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings
from kubeloop.manager import EventOptions, Manager, ManagerOptions


async def test_a_burst_of_events_takes_none_of_the_manager_clients_tokens() -> None:
    settings = ClientSettings(qps=1, burst=20, qps_per_kind=False)  # one bucket: Events would drain it
    async with EmbeddedServer() as server, await Client.load(server.kubeconfig, settings=settings) as client:
        manager = Manager(client, ManagerOptions(name="budget"))
        recorder = manager.event_recorder("budget")
        regarding = await client.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
        )
        limiter = client.transport.limiter
        assert limiter is not None
        for i in range(40):  # twice the main client's burst, each a new Event
            recorder.record(regarding, "Normal", f"Reason{i}", "a burst")
        await recorder.flush()
        try:
            assert recorder.failed == 0
            assert len((await client.list("events.k8s.io/v1/Event", namespace="default"))["items"]) == 40
            assert limiter.bucket("/api").reserve() == 0.0, "the Events took the reconciles' tokens"
        finally:
            await recorder.client.close()


async def test_the_events_limit_is_the_one_the_options_say() -> None:
    async with EmbeddedServer() as server, await Client.load(server.kubeconfig) as client:
        options = ManagerOptions(name="budget", events=EventOptions(qps=2.5, burst=7))
        manager = Manager(client, options)
        first, second = manager.event_recorder("a"), manager.event_recorder("b")
        limiter = first.client.transport.limiter
        assert first.client is second.client is not client, "one client for the manager's Events"
        assert limiter is not None
        assert (limiter.qps, limiter.burst) == (2.5, 7)
        unlimited = Manager(client, ManagerOptions(name="free", events=EventOptions(qps=None)))
        assert unlimited.event_recorder("c").client.transport.limiter is None
