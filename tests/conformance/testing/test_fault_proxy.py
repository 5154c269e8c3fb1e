"""The fault proxy between a client and the real kube-apiserver: every fault it offers, over HTTP/1.1
requests and HTTP/2 watches, and credentials passing through it unchanged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from kubeloop.client import (
    ApiError,
    Client,
    ClientSettings,
    RetryPolicy,
    TooManyRequestsError,
    TransportError,
)
from kubeloop.testing import Kubectl, until
from kubeloop.testing.faults import FaultProxy, Faults
from kubeloop.testing.fixtures import Cluster
from kubeloop.testing.objects import configmap

NO_RETRY = ClientSettings(qps=None, retry=RetryPolicy(max_retries=0))

# Watches as HTTP/2 streams need a server offering h2 behind the proxy.
OVER_HTTP2 = pytest.mark.controlplane_only(
    "the embedded server speaks HTTP/1.1 only (docs/apiserver.md, Known differences: HTTP/2)"
)


@pytest.fixture(scope="module")
def proxy(cluster: Cluster) -> Iterator[FaultProxy]:
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, seed=7) as running:
        yield running


@pytest.fixture
def via_proxy(proxy: FaultProxy, cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig through the proxy; the proxy's faults are cleared after each test."""
    yield proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
    proxy.faults = Faults()
    proxy.cut_every(None)


@pytest.fixture
async def api(via_proxy: Path) -> AsyncIterator[Client]:
    async with await Client.load(via_proxy, settings=NO_RETRY) as client:
        yield client


async def watch_until_ended(client: Client, namespace: str) -> tuple[int, BaseException | None]:
    """Watch ConfigMaps until the watch ends; how many events came and what ended it."""
    seen = 0
    try:
        async with aclosing(client.watch("configmaps", namespace=namespace)) as events:
            async for _ in events:
                seen += 1
    except (ApiError, TransportError) as exc:
        return seen, exc
    return seen, None


@OVER_HTTP2
async def test_requests_pass_unchanged_and_watches_ride_http2(
    api: Client, namespace: str, proxy: FaultProxy
) -> None:
    created = await api.create(configmap("plain", namespace, k="v"))
    got = await api.get("configmaps", "plain", namespace=namespace)
    assert got["data"] == {"k": "v"}
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    watch = asyncio.create_task(watch_until_ended(api, namespace))
    await until(lambda: api.transport.http2_streams == 1, what="the watch open as an HTTP/2 stream")
    assert proxy.open_connections >= 2  # the HTTP/1.1 pool and the HTTP/2 connection
    watch.cancel()


@pytest.mark.parametrize("code", [429, 500, 503, 504])
async def test_a_share_of_requests_is_answered_with_the_code(
    api: Client, namespace: str, proxy: FaultProxy, code: int
) -> None:
    proxy.faults = Faults(
        error_share=1.0, error_codes=(code,), retry_after=3, only=f"/namespaces/{namespace}/"
    )
    with pytest.raises(ApiError) as info:
        await api.get("configmaps", "anything", namespace=namespace)
    assert info.value.code == code
    assert "injected by the fault proxy" in str(info.value)
    if code == 429:
        assert isinstance(info.value, TooManyRequestsError)
        assert info.value.retry_after == 3
    assert (await api.list("configmaps", namespace="default"))["kind"] == "ConfigMapList"  # not matched


async def test_the_share_is_about_what_was_asked(api: Client, namespace: str, proxy: FaultProxy) -> None:
    proxy.faults = Faults(error_share=0.2, only=f"/namespaces/{namespace}/")
    codes = []
    for _ in range(200):
        try:
            await api.list("configmaps", namespace=namespace)
        except ApiError as exc:
            codes.append(exc.code)
    assert 20 <= len(codes) <= 60, codes
    assert set(codes) == {429, 500, 503, 504}


@OVER_HTTP2
async def test_a_watch_on_http2_gets_the_error_too(api: Client, namespace: str, proxy: FaultProxy) -> None:
    proxy.faults = Faults(error_share=1.0, error_codes=(503,), only="watch=true")
    assert (await api.list("configmaps", namespace=namespace))["kind"] == "ConfigMapList"
    _, ended = await asyncio.wait_for(watch_until_ended(api, namespace), 30)
    assert isinstance(ended, ApiError)
    assert ended.code == 503
    assert api.transport.http2_connections >= 1


async def test_latency_delays_each_matching_request(api: Client, namespace: str, proxy: FaultProxy) -> None:
    proxy.faults = Faults(latency=0.6, only=f"/namespaces/{namespace}/configmaps")
    started = time.monotonic()
    await api.list("configmaps", namespace=namespace)
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    await api.list("secrets", namespace=namespace)
    assert time.monotonic() - started < 0.6


async def test_reset_mid_response_breaks_the_read(api: Client, namespace: str, proxy: FaultProxy) -> None:
    await api.create(configmap("big", namespace, k="x" * 20000))
    proxy.faults = Faults(reset_share=1.0, only=f"/namespaces/{namespace}/configmaps/big")
    with pytest.raises(TransportError):
        await api.get("configmaps", "big", namespace=namespace)
    assert proxy.stats.resets >= 1


async def test_reset_mid_response_ends_an_http2_watch_after_its_first_bytes(
    api: Client, namespace: str, proxy: FaultProxy
) -> None:
    for name in ("one", "two", "three"):
        await api.create(configmap(name, namespace))
    proxy.faults = Faults(reset_share=1.0, only="watch=true")
    seen, ended = await asyncio.wait_for(watch_until_ended(api, namespace), 30)
    assert seen < 3  # the initial ADDED events were cut short
    assert isinstance(ended, TransportError)
    assert api.transport.http2_connections == 0  # the connection went with it


@OVER_HTTP2
async def test_cut_ends_every_watch_and_connection(api: Client, namespace: str, proxy: FaultProxy) -> None:
    watches = [asyncio.create_task(watch_until_ended(api, namespace)) for _ in range(3)]
    await until(lambda: api.transport.http2_streams == 3, what="3 watches open")
    assert proxy.cut() >= 1
    results = await asyncio.wait_for(asyncio.gather(*watches), 30)
    assert all(isinstance(ended, TransportError) for _, ended in results), results
    assert (await api.list("configmaps", namespace=namespace))["kind"] == "ConfigMapList"  # new connection


async def test_cut_every_n_seconds_keeps_cutting(api: Client, namespace: str, proxy: FaultProxy) -> None:
    before = proxy.stats.cuts
    proxy.cut_every(0.5)
    ended = 0
    async with asyncio.timeout(30):
        while ended < 3:
            _, error = await watch_until_ended(api, namespace)
            assert isinstance(error, TransportError)
            ended += 1
    proxy.cut_every(None)
    assert proxy.stats.cuts - before >= 3


@pytest.mark.parametrize(
    "http2", [pytest.param(True, id="http2", marks=OVER_HTTP2), pytest.param(False, id="http1.1")]
)
async def test_a_watch_ended_after_its_headers_ends_cleanly_with_no_event(
    cluster: Cluster, namespace: str, tmp_path: Path, http2: bool
) -> None:
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True, http2=http2) as proxy:
        kubeconfig = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        async with await Client.load(kubeconfig, settings=NO_RETRY) as api:
            await api.create(configmap("there", namespace))
            proxy.faults = Faults(end_watch_share=1.0, only="watch=true")
            # a watch from no resourceVersion first sends the object there as ADDED: it is not sent
            assert await asyncio.wait_for(watch_until_ended(api, namespace), 30) == (0, None)
            assert await asyncio.wait_for(watch_until_ended(api, namespace), 30) == (0, None)
            assert proxy.stats.ended_watches == 2
            names = [
                cm["metadata"]["name"] for cm in (await api.list("configmaps", namespace=namespace))["items"]
            ]
            assert "there" in names  # other requests pass, on the connection the watches used or another
            proxy.faults = Faults()
            async with aclosing(api.watch("configmaps", namespace=namespace)) as events:
                first = await asyncio.wait_for(anext(events), 30)
            assert first.type == "ADDED"


async def test_blackhole_holds_traffic_then_lets_it_through(
    api: Client, namespace: str, proxy: FaultProxy
) -> None:
    await api.list("configmaps", namespace=namespace)  # a pooled connection exists
    proxy.blackhole(1.5)
    assert proxy.blackholed
    started = time.monotonic()
    await api.list("configmaps", namespace=namespace)
    assert time.monotonic() - started >= 1.4
    assert not proxy.blackholed


async def test_blackhole_longer_than_the_request_timeout_times_the_request_out(
    via_proxy: Path, namespace: str, proxy: FaultProxy
) -> None:
    settings = ClientSettings(qps=None, retry=RetryPolicy(max_retries=0), request_timeout=1.0)
    async with await Client.load(via_proxy, settings=settings) as client:
        proxy.blackhole(3.0)
        with pytest.raises(TransportError):
            await client.list("configmaps", namespace=namespace)


async def test_a_bearer_token_passes_through_and_keeps_its_identity(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    sa_kubeconfig = cluster.service_account_kubeconfig(namespace, "proxied")
    with FaultProxy(cluster.kubeconfig) as plain:  # forwards no client certificate
        kubeconfig = plain.kubeconfig(sa_kubeconfig, tmp_path / "sa-via-proxy")
        who = await asyncio.to_thread(Kubectl(kubeconfig).json, "auth", "whoami")
        assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:proxied"
        with pytest.raises(ApiError) as info:
            async with await Client.load(kubeconfig, settings=NO_RETRY) as client:
                await client.list("secrets", namespace=namespace)
        assert info.value.code == 403


@OVER_HTTP2
async def test_stopping_with_watches_open_leaves_no_task_of_the_proxy_pending(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Stopping ends every connection's task, the HTTP/2 relay's included: a task left pending when
    the proxy's loop stops is destroyed pending (asyncio's 'Task was destroyed but it is pending!' at
    the end of make test, FaultProxy._serve waiting on H2Relay._pump)."""
    running = FaultProxy(cluster.kubeconfig, forward_client_cert=True).start()
    loop = running._loop
    assert loop is not None
    try:
        kubeconfig = running.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        async with await Client.load(kubeconfig, settings=NO_RETRY) as client:
            watches = [asyncio.create_task(watch_until_ended(client, namespace)) for _ in range(2)]
            await until(lambda: client.transport.http2_streams == 2, what="2 watches open")
            running.blackhole(60)  # traffic held: the relay's tasks wait on the gate
            await asyncio.to_thread(running.stop)
            await asyncio.wait_for(asyncio.gather(*watches), 30)
    finally:
        running.stop()
    assert loop.is_closed()
    assert not [task for task in asyncio.all_tasks(loop) if not task.done()]
