"""The lifecycle operator SIGKILLed in the middle of an upgrade, then started again: it finishes the
upgrade, and until it has, the release still records the version before (never a release naming a
bundle whose objects are not all applied).

``kubeloop olm run`` runs as a process of its own so it can be killed. The upgrade's bundle carries
many ConfigMaps, so applying it takes long enough to be caught half-way: a watch of the ConfigMaps
sees the first one of the upgrade applied and the process is killed at once, before the rest are.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from olm_widgets import SA, Package, absent, admin_installer, get

from kubeloop.client import Client
from kubeloop.olm import Bundle, apply_crds, push_catalog, render_catalog
from kubeloop.testing import Kubectl, until
from kubeloop.testing.fixtures import Cluster

KUBELOOP = Path(sys.executable).parent / "kubeloop"
EXTENSIONS = "clusterextensions.olm.kubeloop.dev"
# Enough to be caught half-way: the watch kills the process within milliseconds of the first part,
# and each apply takes tens of them. (300 made the test take over 2 minutes: every step of the
# install, the upgrade and the uninstall, preflight and ownership checks included, is per object.)
MANY = 60
PARTS = "olm.kubeloop.dev/package"
NO_SERVERS = ("--metrics-bind-address", "0", "--health-probe-bind-address", "0")


@contextmanager
def lifecycle_process(kubeconfig: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``kubeloop olm run`` in a process group of its own; killed at the end if still running."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [str(KUBELOOP), "olm", "run", "--kubeconfig", str(kubeconfig), *NO_SERVERS],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def with_configmaps(bundle: Bundle, count: int) -> Bundle:
    extra = tuple(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"part-{i}"},
            "data": {"v": str(bundle.version)},
        }
        for i in range(count)
    )
    return Bundle(
        bundle.name,
        bundle.package,
        bundle.version,
        bundle.properties,
        bundle.objects + extra,
        channels=bundle.channels,
        default_channel=bundle.default_channel,
    )


async def release_version(kubectl: Kubectl, namespace: str, package: str) -> str:
    found: dict[str, Any] = await get(kubectl, "configmap", f"kubeloop-olm-{package}", "-n", namespace)
    return str(found["data"]["version"])


async def parts(kubectl: Kubectl, namespace: str, version: str) -> int:
    items = (await get(kubectl, "configmap", "-n", namespace, "-l", PARTS))["items"]
    return sum(1 for c in items if c["metadata"]["name"].startswith("part-") and c["data"]["v"] == version)


async def test_a_lifecycle_operator_killed_mid_upgrade_finishes_it_when_started_again(
    cluster: Cluster, kubectl: Kubectl, client: Client, namespace: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    package = Package(f"widgets-{suffix}", f"g{suffix}.olm.kubeloop.dev")
    installer = await admin_installer(kubectl, namespace)
    first = with_configmaps(package.in_channel("1.0.0"), MANY)
    second = with_configmaps(package.in_channel("1.1.0", "1.0.0"), MANY)
    log = tmp_path / "olm-run.log"
    extension = package.extension(namespace, version="1.0.0")
    await apply_crds(client)
    try:
        with lifecycle_process(cluster.kubeconfig, log):
            await push_catalog(client, render_catalog([first, second]), f"catalog-{suffix}", namespace)
            await asyncio.to_thread(kubectl, "create", "-f", "-", input=json.dumps(extension))

            async def installed(version: str) -> bool:
                if await absent(kubectl, "configmap", f"kubeloop-olm-{package.name}", "-n", namespace):
                    return False
                return await release_version(kubectl, namespace, package.name) == version

            await until(lambda: installed("1.0.0"), within=90, what="1.0.0 installed")
            listed = await client.list("configmaps", namespace=namespace, label_selector=PARTS)
            first_part = asyncio.create_task(
                _first_part(client, namespace, str(listed["metadata"]["resourceVersion"]), "1.1.0")
            )
            patch = json.dumps({"spec": {"version": "1.1.0"}})
            try:
                await asyncio.to_thread(
                    kubectl, "patch", EXTENSIONS, package.name, "--type=merge", "-p", patch
                )
                await asyncio.wait_for(first_part, 60)
            finally:
                first_part.cancel()
        # killed (SIGKILL) on leaving the block, in the middle of applying 1.1.0
        applied = await parts(kubectl, namespace, "1.1.0")
        assert 0 < applied < MANY, (
            f"not caught half-way ({applied} of {MANY} applied): make the bundle larger"
        )
        assert await release_version(kubectl, namespace, package.name) == "1.0.0"

        with lifecycle_process(cluster.kubeconfig, log):
            await until(lambda: installed("1.1.0"), within=90, what="1.1.0 installed after the restart")
            assert await parts(kubectl, namespace, "1.1.0") == MANY
            dep = await get(kubectl, "deployment", SA, "-n", namespace)
            assert (
                dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/widgets:1.1.0"
            )
            status = (await get(kubectl, EXTENSIONS, package.name))["status"]
            assert status["install"]["bundle"]["version"] == "1.1.0"
            await asyncio.to_thread(kubectl, "delete", EXTENSIONS, package.name, "--timeout=90s")
    finally:
        for command in (
            ("delete", EXTENSIONS, package.name, "--ignore-not-found", "--wait=false"),
            ("delete", "clusterrolebinding", installer, "--ignore-not-found"),
            ("delete", "clustercatalog", f"catalog-{suffix}", "--ignore-not-found"),
            ("delete", "crd", package.crd, "--ignore-not-found", "--wait=false"),
            ("delete", "clusterrole,clusterrolebinding", "-l", f"olm.kubeloop.dev/package={package.name}"),
        ):
            await asyncio.to_thread(kubectl, *command)
    assert "Traceback" not in log.read_text()


async def _first_part(client: Client, namespace: str, since: str, version: str) -> None:
    """Return as soon as a watch from ``since`` sees a part of ``version`` applied."""
    async for event in client.watch("configmaps", namespace=namespace, resource_version=since):
        obj = event.object
        part = event.type in ("ADDED", "MODIFIED") and obj["metadata"]["name"].startswith("part-")
        if part and (obj.get("data") or {}).get("v") == version:
            return
