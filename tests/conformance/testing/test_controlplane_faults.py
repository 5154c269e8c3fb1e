"""Control-plane faults of ``ControlPlane``: kube-apiserver and etcd restarted (gracefully or killed)
keep their data and port, break open watches, and are healthy again on return; etcd compaction makes a
watch from an older resourceVersion answer 410."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import pytest
from yarl import URL

from kubeloop.client import Client, ClientSettings, GoneError, TransportError
from kubeloop.errors import ComponentError
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl
from kubeloop.testing.objects import configmap
from kubeloop.testing.waiting import eventually, until

pytestmark = pytest.mark.controlplane_only(
    "tests kubeloop.testing.ControlPlane itself: restarts its kube-apiserver and etcd processes "
    "(docs/apiserver.md, Known differences: the test control plane's own processes)"
)


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane of this module's own (its components are restarted), reading watches from etcd.

    Its kube-apiserver ends open watches when it is stopped (``--shutdown-watch-termination-grace-period``):
    by default it waits for them until its 60 s shutdown timeout, so a SIGTERM with a watch open
    was a SIGKILL after ``restart``'s 30 s of grace, never a graceful stop (and 30 s of make test)."""
    args = ("--watch-cache=false", "--shutdown-watch-termination-grace-period=5s")
    with ControlPlane(ControlPlaneOptions(apiserver_args=args)) as started:
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
    began = time.monotonic()
    await asyncio.to_thread(plane.restart_apiserver, kill=kill)
    ended = await asyncio.wait_for(watch, 30)
    if kill:
        assert isinstance(ended, TransportError), ended
    else:  # a graceful stop ends the watch's response (None), or the connection goes with the process
        assert ended is None or isinstance(ended, TransportError), ended
        assert time.monotonic() - began < 25, "not stopped by SIGTERM: SIGKILLed after the grace"
    assert plane.pids["kube-apiserver"] != pid
    assert (await api.get("configmaps", name, namespace="default"))["data"] == {"k": "v"}


async def test_clients_sharing_a_pool_recover_from_an_apiserver_restart_together(
    api: Client, plane: ControlPlane
) -> None:
    """Two clients of one connection pool (``kubeloop.client.pool``), a watch and idle keep-alive
    connections each, kube-apiserver SIGKILLed and started again: both watches end, and both clients'
    next requests and watches work on new connections (none is handed a dead one)."""
    other = api.with_settings(ClientSettings(qps=None, burst=1))
    try:
        clients = (api, other)
        for client in clients:
            await asyncio.gather(*(client.get("namespaces", "default") for _ in range(4)))
        assert other.transport._pool is api.transport._pool
        watches = [asyncio.create_task(watch_until_ended(client)) for client in clients]
        await until(lambda: all(c.transport.http2_streams == 1 for c in clients), what="both watches open")
        await asyncio.to_thread(plane.restart_apiserver, kill=True)
        for ended in await asyncio.wait_for(asyncio.gather(*watches), 30):
            assert isinstance(ended, TransportError), ended
        rv = (await api.create(configmap("after-shared-restart", "default")))["metadata"]["resourceVersion"]
        for client in clients:
            await asyncio.gather(*(client.get("namespaces", "default") for _ in range(4)))
            assert await asyncio.wait_for(_first_event(client, str(int(rv) - 1)), 30) == "ADDED"
    finally:
        await other.close()


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


async def test_a_component_that_does_not_come_back_fails_the_restart_with_its_last_log_lines(
    api: Client, plane: ControlPlane
) -> None:
    port = URL(plane.server).port
    assert port is not None
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    restart = asyncio.create_task(asyncio.to_thread(plane.restart_apiserver, down_for=3.0, within=12.0))
    try:

        def taken() -> bool:  # the port, in the moment kube-apiserver is down
            try:
                blocker.bind(("127.0.0.1", port))
            except OSError:
                return False
            blocker.listen()
            return True

        await until(taken, within=60, what="kube-apiserver's port bound while it is down")
        with pytest.raises(ComponentError) as raised:
            await asyncio.wait_for(restart, 60)
    finally:
        blocker.close()
    failed = raised.value
    assert re.match(r"not healthy again after [2-9] start\(s\)", failed.problem), failed  # crashes restarted
    assert "address already in use" in failed.details, failed
    # and the next run of the suite finds it running again
    assert await asyncio.to_thread(plane.ensure_running, "kube-apiserver")
    assert not await asyncio.to_thread(plane.ensure_running, "kube-apiserver")
    await api.create(configmap("after-a-failed-restart", "default"))


@pytest.mark.long
def test_pods_on_fake_nodes_stay_ready_through_a_kube_apiserver_restart_longer_than_a_minute() -> None:
    """Regression (chaos scenario 3 at load 10: 15 of 23 pods Running but not Ready after the restart,
    their node Ready): a restart that stopped the nodes' heartbeats past kube-controller-manager's
    default 50 s grace had it mark the node Unknown and its pods NotReady, which kwok never undoes.
    The old code: both pods NotReady after the restart, for good."""
    options = ControlPlaneOptions(controller_manager=True, nodes=1)
    with ControlPlane(options) as plane:
        kubectl = Kubectl(plane.kubeconfig)

        def ready_pods() -> int:
            pods = kubectl.json("get", "pods", "-n", "default", "-l", "app=web")["items"]
            return sum(
                any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", ()))
                for p in pods
            )

        kubectl("create", "deployment", "web", "-n", "default", "--image=nginx", "--replicas=2")
        eventually(lambda: ready_pods() == 2, timeout=300, what="2 Ready pods")
        plane.restart_apiserver(down_for=70.0)  # no heartbeat for 70 s and then some
        eventually(lambda: ready_pods() == 2, timeout=300, what="2 Ready pods after the restart")
        time.sleep(15.0)  # the node lifecycle controller runs every 5 s: three rounds after it
        assert ready_pods() == 2
