"""The helm-server process killed while installs and then upgrades are in flight: the reconciles it
was serving fail (a Warning Event naming the server's end), the next request starts another process,
and every Pin ends deployed at the spec's track, its release's last revision ``deployed`` (the
installs half-made by the dead process uninstalled and made again, the upgrades rolled back and made
again): no release left ``pending-*``, no object lost."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from kubeloop.client import Client
from kubeloop.helm import HelmOperator, HelmServer
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

HERE = Path(__file__).parent
RESOURCE = "pins.helm.kubeloop.test"
PINS = [f"p{i}" for i in range(4)]


@pytest.mark.usefixtures("pins_crd")
async def test_a_killed_helm_server_is_restarted_and_every_release_ends_deployed(
    helm: Path,
    helm_server: Path,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    client: Client,
    tmp_path: Path,
) -> None:
    operator = HelmOperator(
        HERE / "watches.yaml",
        helm=helm,
        helm_server=helm_server,
        name="restart-operator",
        namespace=namespace,  # not the Pins other tests left to uninstall
        work_dir=tmp_path,
        max_concurrent_reconciles=8,
    )
    server = operator.helm
    assert isinstance(server, HelmServer)

    async def kill_in_flight() -> int:
        """SIGKILL the process once it serves requests; its pid."""
        await until(lambda: server.in_flight > 0, within=60, interval=0.01, what="requests in flight")
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        return pid

    async def settled(track: str) -> bool:
        for name in PINS:
            pin = await client.get(RESOURCE, name, namespace=namespace)
            conditions = {c["type"]: c for c in (pin.get("status") or {}).get("conditions") or ()}
            if conditions.get("Deployed", {}).get("status") != "True":
                return False
            deployment = await client.get("apps/v1/Deployment", name, namespace=namespace)
            if deployment["metadata"]["annotations"]["note"] != track:
                return False
        return True

    def last_revisions() -> dict[str, str]:
        found = kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm")["items"]
        last: dict[str, tuple[int, str]] = {}
        for s in found:
            labels = s["metadata"]["labels"]
            revision = (int(labels["version"]), labels["status"])
            last[labels["name"]] = max(last.get(labels["name"], revision), revision)
        return {name: status for name, (_, status) in last.items()}

    def ended_events() -> int:
        events = kubectl.json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
        return sum(
            1 for e in events if e["type"] == "Warning" and "the helm server ended" in e.get("note", "")
        )

    async with run_operator(operator, cluster.kubeconfig):
        for name in PINS:
            pin = {"apiVersion": "helm.kubeloop.test/v1", "kind": "Pin", "metadata": {"name": name}}
            pin["spec"] = {"track": "stable", "note": "first"}
            kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pin))
        killed = await kill_in_flight()
        await until(lambda: settled("first"), within=120, what="every Pin installed after the kill")
        assert server.pid not in (None, killed)
        assert last_revisions() == dict.fromkeys(PINS, "deployed")
        assert ended_events() >= 1  # the kill hit reconciles in flight, which retried

        for name in PINS:
            patch = '{"spec":{"note":"second"}}'
            kubectl("patch", RESOURCE, name, "-n", namespace, "--type=merge", "-p", patch)
        killed = await kill_in_flight()
        await until(lambda: settled("second"), within=120, what="every Pin upgraded after the kill")
        assert server.pid not in (None, killed)
        assert last_revisions() == dict.fromkeys(PINS, "deployed")
