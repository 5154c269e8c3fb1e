"""Control-plane faults of ``ControlPlane``: kube-apiserver and etcd restarted (gracefully or killed)
keep their data and port, break open watches, and are healthy again on return; etcd compaction makes a
watch from an older resourceVersion answer 410."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import pytest

from kubeloop.client import Client, ClientSettings, GoneError, TransportError
from kubeloop.errors import ComponentError
from kubeloop.testing import ControlPlane, ControlPlaneOptions
from kubeloop.testing.objects import configmap
from kubeloop.testing.waiting import until


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane of this module's own (its components are restarted), reading watches from etcd."""
    with ControlPlane(ControlPlaneOptions(apiserver_args=("--watch-cache=false",))) as started:
        yield started


@pytest.fixture
async def api(plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as client:
        yield client


async def watch_until_ended(client: Client, resource_version: str | None = None) -> BaseException | None:
    try:
        async with aclosing(
            client.watch("configmaps", namespace="default", resource_version=resource_version)
        ) as w:
            async for _ in w:
                pass
    except (GoneError, TransportError) as exc:
        return exc
    return None


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_apiserver_restart_ends_watches_and_keeps_data(
    api: Client, plane: ControlPlane, kill: bool
) -> None:
    name = f"before-apiserver-restart-{int(kill)}"
    await api.create(configmap(name, "default", k="v"))
    pid = plane.pids["kube-apiserver"]
    watch = asyncio.create_task(watch_until_ended(api))
    await until(lambda: api.transport.http2_streams == 1, what="the watch open")
    await asyncio.to_thread(plane.restart_apiserver, kill=kill)
    ended = await asyncio.wait_for(watch, 30)
    assert isinstance(ended, TransportError), ended
    assert plane.pids["kube-apiserver"] != pid
    assert (await api.get("configmaps", name, namespace="default"))["data"] == {"k": "v"}


async def test_etcd_restart_keeps_data_and_the_apiserver_serves_again(
    api: Client, plane: ControlPlane
) -> None:
    await api.create(configmap("before-etcd-restart", "default", k="v"))
    pid = plane.pids["etcd"]
    await asyncio.to_thread(plane.restart_etcd, kill=True, down_for=1.0)
    assert plane.pids["etcd"] != pid

    async def served() -> bool:
        try:
            await api.get("configmaps", "before-etcd-restart", namespace="default")
        except TransportError:
            return False
        return True

    await until(served, within=60, what="the ConfigMap read back after etcd restarted")
    await api.create(configmap("after-etcd-restart", "default"))


async def test_compaction_makes_an_older_watch_start_gone(api: Client, plane: ControlPlane) -> None:
    first = await api.create(configmap("compacted", "default", n="0"))
    old = first["metadata"]["resourceVersion"]
    for n in range(1, 4):
        await api.patch("configmaps", "compacted", {"data": {"n": str(n)}}, namespace="default")
    before = plane.etcd_revision()
    assert before > int(old)
    assert await asyncio.wait_for(_first_event(api, old), 30) == "MODIFIED"  # history still there
    compacted = await asyncio.to_thread(plane.compact_etcd)
    assert compacted >= before
    ended = await asyncio.wait_for(watch_until_ended(api, old), 30)
    assert isinstance(ended, GoneError), ended


async def _first_event(client: Client, resource_version: str) -> str:
    async with aclosing(
        client.watch("configmaps", namespace="default", resource_version=resource_version)
    ) as w:
        async for event in w:
            return event.type
    raise AssertionError("the watch ended without an event")


def test_restarting_a_component_that_is_not_there_names_it(plane: ControlPlane) -> None:
    with pytest.raises(ComponentError, match=r"^kwok: not running in this control plane$"):
        plane.restart("kwok")
