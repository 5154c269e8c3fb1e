"""The lifecycle operator's drift watches (``DriftWatcher``) through a proxy that ends every watch at
once: they wait ``retry`` between such watches instead of following each at once, and still see an
installed object edited by hand once watches last again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from semver import Version

from kubeloop.client import Client, ClientSettings
from kubeloop.controller import Request
from kubeloop.olm._drift import DriftWatcher
from kubeloop.olm._names import release_labels
from kubeloop.olm._release import ObjectRef, Release
from kubeloop.testing import FaultProxy, until
from kubeloop.testing.faults import Faults
from kubeloop.testing.fixtures import Cluster


async def test_a_server_ending_every_watch_at_once_gets_a_drift_watch_per_retry_not_a_busy_loop(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Regression: a watch the server ended cleanly was followed by the next at once, so a server or
    proxy that ends every watch at once got a busy loop of watch requests."""
    labels = release_labels(namespace, "widgets")
    installed = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                 "metadata": {"name": "installed", "namespace": namespace, "labels": labels}}  # fmt: skip
    release = Release(
        package="widgets",
        bundle="widgets.v1.0.0",
        version=Version(1, 0, 0),
        namespace=namespace,
        objects=(ObjectRef("v1", "ConfigMap", namespace, "installed"),),
    )
    request = Request(namespace, "widgets")
    enqueued: list[Request] = []
    with FaultProxy(cluster.kubeconfig, forward_client_cert=True) as proxy:
        proxy.faults = Faults(end_watch_share=1.0, only="watch=true")
        kubeconfig = proxy.kubeconfig(cluster.kubeconfig, tmp_path / "via-proxy")
        async with (
            await Client.load(kubeconfig, settings=ClientSettings(qps=None)) as through_proxy,
            await Client.load(cluster.kubeconfig) as direct,
        ):
            await direct.create(installed)
            async with DriftWatcher(enqueued.append, retry=2.0) as drift:
                drift.watch(request, through_proxy, release)
                await until(lambda: proxy.stats.ended_watches >= 1, what="the first watch ended")
                started, before = time.monotonic(), proxy.stats.ended_watches
                await asyncio.sleep(6.0)
                watches, seconds = proxy.stats.ended_watches - before, time.monotonic() - started
                # each watch is followed by a wait of retry (2 s), or itself lasted a second (a round
                # trip on a busy machine can): load only lengthens both. The old code: hundreds.
                assert watches <= 1 + seconds / 1.0, (watches, seconds)
                proxy.faults = Faults()  # the next watch resumes from before the edit, and brings it
                await direct.patch("configmaps", "installed", {"data": {"k": "edited"}}, namespace=namespace)
                await until(lambda: request in enqueued, within=60, what="the edit seen")
