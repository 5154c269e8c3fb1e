"""The Event recorder against the real API server: Events about objects with the longest names, notes
at the size limit in multibyte text, and a burst of the same event aggregated into one series, also
when the series' first create fails or its answer is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.helpers import EventRecorder
from kubeloop.testing.faults import FaultProxy, Faults
from kubeloop.testing.fixtures import Cluster


async def config_map(client: Client, namespace: str, name: str) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}
    return await client.create(body)


async def events_about(client: Client, namespace: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = f"regarding.uid={obj['metadata']['uid']}"
    found = await client.list("events.k8s.io/v1/Event", namespace=namespace, field_selector=selector)
    return list(found["items"])


@pytest.mark.parametrize(
    "name",
    ["a" * 253, "b" * 236, "c" * 235 + ".d", "e" * 230 + "-" * 10 + "f" * 13],
    ids=["253-chars", "236-chars", "dot-at-the-cut", "dashes-at-the-cut"],
)
async def test_an_object_with_a_name_up_to_253_characters_gets_its_event(
    client: Client, namespace: str, name: str
) -> None:
    obj = await config_map(client, namespace, name)
    recorder = EventRecorder(client, "events-test")
    recorder.record(obj, "Warning", "Broken", "it broke")
    await recorder.flush()
    [event] = await events_about(client, namespace, obj)
    assert (event["reason"], event["note"], event["regarding"]["name"]) == ("Broken", "it broke", name)


async def test_a_note_of_multibyte_text_is_cut_to_the_1024_bytes_the_server_takes(
    client: Client, namespace: str
) -> None:
    obj = await config_map(client, namespace, "multibyte")
    recorder = EventRecorder(client, "events-test")
    recorder.record(obj, "Warning", "Broken", "é" * 2000)
    await recorder.flush()
    [event] = await events_about(client, namespace, obj)
    assert event["note"] == "é" * 512


async def test_a_burst_of_the_same_event_is_one_event_with_its_series_count(
    client: Client, namespace: str
) -> None:
    obj = await config_map(client, namespace, "burst")
    recorder = EventRecorder(client, "events-test")
    for _ in range(5):
        recorder.record(obj, "Warning", "Broken", "the same failure")
    await recorder.flush()
    [event] = await events_about(client, namespace, obj)
    assert event["series"]["count"] == 5


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[FaultProxy]:
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=7) as running:
        yield running


@pytest.mark.parametrize(
    "fault",
    [Faults(reset_share=1.0), Faults(error_share=1.0, error_codes=(500,))],
    ids=["answer-lost", "refused"],
)
async def test_a_series_whose_first_create_fails_is_still_one_event_with_its_count(
    cluster: Cluster,
    client: Client,
    namespace: str,
    proxy: FaultProxy,
    tmp_path: Path,
    fault: Faults,
) -> None:
    obj = await config_map(client, namespace, "first-create-fails")
    async with await Client.load(proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")) as via:
        recorder = EventRecorder(via, "events-test")
        proxy.faults = Faults(**{**vars(fault), "only": "^POST /apis/events.k8s.io/"})
        recorder.record(obj, "Warning", "Broken", "the same failure")
        await recorder.flush()
        proxy.faults = Faults()
        for _ in range(2):
            recorder.record(obj, "Warning", "Broken", "the same failure")
        await recorder.flush()
    [event] = await events_about(client, namespace, obj)
    assert event["series"]["count"] == 3


async def test_a_write_whose_client_closes_under_it_is_counted_not_left_as_a_task_exception(
    cluster: Cluster, client: Client, namespace: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    obj = await config_map(client, namespace, "client-closed")
    via = await Client.load(proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy"))
    recorder = EventRecorder(via, "events-test")
    recorder.record(obj, "Warning", "Broken", "it broke")
    await recorder.flush()
    proxy.faults = Faults(latency=3.0, only="^PATCH /apis/events.k8s.io/")
    recorder.record(obj, "Warning", "Broken", "it broke")  # its count waits in the proxy
    [write] = [t for t in asyncio.all_tasks() if "EventRecorder._after" in repr(t.get_coro())]
    await via.close()
    await asyncio.wait_for(recorder.flush(), 30)
    assert write.exception() is None
    assert recorder.failed == 1
    recorder.record(obj, "Warning", "Broken", "it broke")  # on a closed client: fails, counted
    await recorder.close(grace=1.0)
    recorder.record(obj, "Warning", "Broken", "it broke")  # on a closed recorder: dropped, counted
    assert (recorder.failed, recorder.pending) == (3, 0)
