"""The metrics endpoint fed by a real client and elector: what Prometheus would scrape from an operator."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.client import Client, ClientSettings
from kubeloop.manager import LeaderElectionOptions, LeaderElector, Metrics, MetricsServer, ProbeServer
from kubeloop.testing.fixtures import Cluster


async def scrape(port: int | None, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_metrics_endpoint_shows_the_clients_requests_and_the_leader_status(
    cluster: Cluster, namespace: str
):
    metrics = Metrics(process_collectors=False)
    settings = ClientSettings(qps=None)
    async with (
        await Client.load(cluster.kubeconfig, settings=settings, metrics=metrics) as client,
        MetricsServer(metrics, "127.0.0.1:0") as server,
    ):
        host = urlsplit(client.config.server).hostname  # the client labels the host without the port
        reads = [client.get("configmaps", "missing", namespace=namespace) for _ in range(3)]
        results = await asyncio.gather(*reads, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        options = LeaderElectionOptions(
            "scraped", namespace, lease_duration=2, renew_deadline=1.5, retry_period=0.25
        )
        elector = LeaderElector(client, options, metrics=metrics)
        task = asyncio.create_task(elector.run(asyncio.Event().wait))
        await asyncio.wait_for(elector.wait_until_leading(), 10)

        status, text = await scrape(server.port, "/metrics")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert status == 200
    requests = samples(text, "rest_client_requests_total")
    # the 3 missing configmaps, and the elector's first read of the Lease before it creates it
    assert requests[frozenset({("code", "404"), ("method", "GET"), ("host", host)})] == 4
    assert requests[frozenset({("code", "201"), ("method", "POST"), ("host", host)})] == 1  # Lease created
    durations = samples(text, "rest_client_request_duration_seconds_count")
    assert durations[frozenset({("verb", "get"), ("host", host)})] >= 4  # 3 configmaps + >= 1 lease get
    assert samples(text, "leader_election_master_status") == {frozenset({("name", "scraped")}): 1.0}


async def test_readyz_follows_a_check_against_the_api_server(cluster: Cluster, namespace: str):
    async with (
        await Client.load(cluster.kubeconfig) as client,
        ProbeServer("127.0.0.1:0") as probes,
    ):

        async def config_present() -> bool:
            found = await client.list("configmaps", namespace=namespace, label_selector="ready=yes")
            return bool(found["items"])

        probes.add_readyz_check("config", config_present)
        assert (await scrape(probes.port, "/readyz"))[0] == 500
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "ready", "namespace": namespace, "labels": {"ready": "yes"}},
            }
        )
        assert await scrape(probes.port, "/readyz") == (200, "ok")
        assert await scrape(probes.port, "/healthz") == (200, "ok")
