"""A Helm operator's upgrade that renders but fails against the API server (a Deployment's selector
is immutable) is rolled back to the revision that was deployed, and reported: ReleaseFailed with
helm's message and the rollback, a Warning Event, the Deployment as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeloop.client import Client
from kubeloop.helm import HelmOperator
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

HERE = Path(__file__).parent
RESOURCE = "pins.helm.kubeloop.test"


@pytest.mark.usefixtures("pins_crd")
async def test_a_failed_upgrade_is_rolled_back_and_reported(
    helm: Path,
    helm_server: Path,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    client: Client,
    tmp_path: Path,
) -> None:
    pin = {
        "apiVersion": "helm.kubeloop.test/v1",
        "kind": "Pin",
        "metadata": {"name": "p"},
        "spec": {"track": "stable"},
    }

    async def status() -> dict:
        return (await client.get(RESOURCE, "p", namespace=namespace)).get("status") or {}

    async def condition(type_: str) -> dict:
        return next((c for c in (await status()).get("conditions") or () if c["type"] == type_), {})

    operator = HelmOperator(
        HERE / "watches.yaml", helm=helm, helm_server=helm_server, name="pin-operator", work_dir=tmp_path
    )
    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pin))

        async def deployed() -> bool:
            return (await condition("Deployed")).get("status") == "True"

        await until(deployed, within=90, what="Deployed")
        kubectl("patch", RESOURCE, "p", "-n", namespace, "--type=merge", "-p", '{"spec":{"track":"canary"}}')

        async def failed() -> bool:
            return (await condition("ReleaseFailed")).get("status") == "True"

        await until(failed, within=90, what="ReleaseFailed")
        cond = await condition("ReleaseFailed")
        assert cond["reason"] == "UpgradeError"
        assert "field is immutable" in cond["message"]
        assert cond["message"].endswith("; rolled back to revision 1")
        deployment = await client.get("apps/v1/Deployment", "p", namespace=namespace)
        assert deployment["spec"]["selector"]["matchLabels"] == {"track": "stable"}
        history = kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm,name=p")["items"]
        statuses = sorted(
            (int(s["metadata"]["labels"]["version"]), s["metadata"]["labels"]["status"]) for s in history
        )
        assert statuses[:2] == [(1, "superseded"), (2, "failed")]
        # Revision 3 is the rollback to 1 (superseded once a retry fails and rolls back again).
        assert statuses[2][0] == 3
        assert statuses[2][1] in ("deployed", "superseded")
        events = kubectl.json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
        assert any(e["reason"] == "UpgradeError" and e["regarding"]["name"] == "p" for e in events)
