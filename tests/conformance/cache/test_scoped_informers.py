"""Scoped informers against the real kube-apiserver: several namespaces into one store, metadata-only
lists and watches (the server sends PartialObjectMetadata), a resource that is not served yet or no
longer (a CRD installed and deleted while the informer runs), and an informer stopped at runtime."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from kubeloop.cache import Cache, CacheOptions, Informer, InformerEvent, InformerOptions
from kubeloop.client import ApiResource, Client
from kubeloop.testing import Kubectl, temporary_namespace, until, wait_for_crds


def configmap(name: str, namespace: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"payload": "x" * 100},
    }


def names(informer: Informer) -> set[tuple[str, str]]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in informer.list()
        if o["metadata"]["name"] != "kube-root-ca.crt"
    }


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Informer], asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []

    def start(informer: Informer) -> asyncio.Task[None]:
        tasks.append(asyncio.create_task(informer.run()))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_several_namespaces_are_listed_and_watched_into_one_store_and_no_other(
    client: Client, kubectl: Kubectl, running: Callable[[Informer], asyncio.Task[None]]
) -> None:
    with (
        temporary_namespace(kubectl, "scoped-a") as a,
        temporary_namespace(kubectl, "scoped-b") as b,
        temporary_namespace(kubectl, "scoped-c") as c,
    ):
        for ns in (a, b, c):
            await client.create(configmap("before", ns))
        informer = Informer(client, await client.resource("configmaps"), InformerOptions(namespaces=(a, b)))
        running(informer)
        await asyncio.wait_for(informer.wait_synced(), 15)
        assert names(informer) == {(a, "before"), (b, "before")}
        for ns in (a, b, c):
            await client.create(configmap("live", ns))
        await until(lambda: names(informer) >= {(a, "live"), (b, "live")}, what="live objects of a and b")
        await client.delete("configmaps", "before", namespace=a)
        await until(lambda: (a, "before") not in names(informer), what="deletion in a")
        assert names(informer) == {(b, "before"), (a, "live"), (b, "live")}
        informer.observe(await client.create(configmap("own-write", c)))  # out of scope: not stored
        assert informer.get(c, "own-write") is None


async def test_a_metadata_only_informer_is_sent_partial_object_metadata_and_stores_no_data(
    client: Client, namespace: str, running: Callable[[Informer], asyncio.Task[None]]
) -> None:
    await client.create(configmap("listed", namespace, app="web"))
    page = await client.list("configmaps", namespace=namespace, metadata_only=True)
    assert page["kind"] == "PartialObjectMetadataList"
    assert all("data" not in item for item in page["items"])

    raw: list[dict[str, object]] = []

    def keep_raw(obj: dict[str, object]) -> dict[str, object]:
        raw.append(obj)
        return obj

    informer = Informer(
        client,
        await client.resource("configmaps"),
        InformerOptions(namespace=namespace, metadata_only=True, transform=keep_raw),
    )
    events: list[InformerEvent] = []
    informer.add_handler(events.append)
    running(informer)
    await informer.wait_synced()
    await client.create(configmap("watched", namespace, app="db"))
    await until(lambda: informer.get(namespace, "watched") is not None, what="the watched add")
    for name in ("listed", "watched"):
        stored = informer.get(namespace, name)
        assert stored is not None
        assert set(stored) == {"apiVersion", "kind", "metadata"}
        assert (stored["apiVersion"], stored["kind"]) == ("v1", "ConfigMap")
        assert stored["metadata"]["labels"]
    assert informer.list(namespace, "app=db") == [informer.get(namespace, "watched")]
    assert raw
    assert all("data" not in obj for obj in raw)


LATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "latecomers.late.kubeloop.io"},
    "spec": {
        "group": "late.kubeloop.io",
        "scope": "Namespaced",
        "names": {"plural": "latecomers", "singular": "latecomer", "kind": "Latecomer"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}
LATECOMER = ApiResource(
    "late.kubeloop.io", "v1", "Latecomer", plural="latecomers", singular="latecomer", namespaced=True
)


def latecomer(name: str) -> str:
    return json.dumps({"apiVersion": "late.kubeloop.io/v1", "kind": "Latecomer", "metadata": {"name": name}})


async def install_late_crd(kubectl: Kubectl) -> None:
    await asyncio.to_thread(kubectl, "apply", "-f", "-", input=json.dumps(LATE_CRD))
    await asyncio.to_thread(wait_for_crds, kubectl, "latecomers.late.kubeloop.io")


async def delete_late_crd(kubectl: Kubectl) -> None:
    await asyncio.to_thread(kubectl, "delete", "crd", "latecomers.late.kubeloop.io", "--ignore-not-found")


async def create_latecomer(kubectl: Kubectl, namespace: str, name: str) -> None:
    await asyncio.to_thread(kubectl, "create", "-n", namespace, "-f", "-", input=latecomer(name))


async def test_an_informer_of_a_crd_not_installed_is_synced_empty_and_follows_it_being_installed_and_deleted(
    client: Client,
    kubectl: Kubectl,
    namespace: str,
    running: Callable[[Informer], asyncio.Task[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await delete_late_crd(kubectl)
    informer = Informer(client, LATECOMER, InformerOptions(namespace=namespace))
    events: list[tuple[str, str]] = []
    informer.add_handler(lambda e: events.append((e.type, e.obj["metadata"]["name"])))
    with caplog.at_level(logging.WARNING, logger="kubeloop.cache"):
        task = running(informer)
        await asyncio.wait_for(informer.wait_synced(), 10)  # not served: no objects, and synced
    assert informer.list() == []
    # the log says which resource and what to check, not only the server's 404
    said = [r.getMessage() for r in caplog.records if r.name.startswith("kubeloop.cache")]
    assert said, "nothing logged"
    assert said[0].startswith(
        "latecomers.v1.late.kubeloop.io: not served (404; is its CRD installed?):"
        " no objects of it until it is; listing again in "
    ), said
    try:
        await install_late_crd(kubectl)
        await create_latecomer(kubectl, namespace, "first")
        await until(
            lambda: informer.get(namespace, "first") is not None, within=20, what="the CR once served"
        )
    finally:
        await delete_late_crd(kubectl)
    await until(lambda: informer.get(namespace, "first") is None, within=30, what="the CR gone with its CRD")
    assert ("delete", "first") in events
    assert not task.done()
    try:
        await install_late_crd(kubectl)
        await create_latecomer(kubectl, namespace, "second")
        await until(lambda: informer.get(namespace, "second") is not None, within=20, what="served again")
    finally:
        await delete_late_crd(kubectl)
    assert not task.done()


async def test_an_informer_stopped_at_runtime_ends_alone_and_the_cache_runs_on(
    client: Client, namespace: str
) -> None:
    cache = Cache(client, CacheOptions(default=InformerOptions(namespace=namespace)))
    runner = asyncio.create_task(cache.run())
    try:
        configmaps = await cache.informer("configmaps")
        secrets = await cache.informer("secrets")
        await asyncio.wait_for(cache.wait_synced(), 15)
        seen: list[str] = []
        configmaps.add_handler(lambda e: seen.append(e.obj["metadata"]["name"]))
        await cache.stop(configmaps)
        assert configmaps not in cache.informers
        assert secrets in cache.informers
        await client.create(configmap("after-stop", namespace))
        await client.create(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace}}
        )
        await until(lambda: secrets.get(namespace, "s") is not None, what="the other informer still runs")
        assert "after-stop" not in seen
        assert not runner.done()
        again = await cache.informer("configmaps")
        assert again is not configmaps
        await asyncio.wait_for(again.wait_synced(), 15)
        assert again.get(namespace, "after-stop") is not None
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
