"""What is changed by hand in a Helm operator's release objects is put back by the next reconcile (the
change of a dependent triggers it), as Helm's three-way merge would: the fields the chart sets return
to what it renders, fields it does not set are left, and no new revision is made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubeloop.client import Client
from kubeloop.helm import HelmOperator
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

HERE = Path(__file__).parent
RESOURCE = "pins.helm.kubeloop.test"


@pytest.mark.usefixtures("pins_crd")
async def test_fields_changed_by_hand_are_put_back(
    helm: Path, cluster: Cluster, kubectl: Kubectl, namespace: str, client: Client, tmp_path: Path
) -> None:
    pin = {"apiVersion": "helm.kubeloop.test/v1", "kind": "Pin", "metadata": {"name": "d"}, "spec": {}}

    async def deployment() -> dict:
        return await client.get("apps/v1/Deployment", "d", namespace=namespace)

    operator = HelmOperator(HERE / "watches.yaml", helm=helm, name="drift-operator", work_dir=tmp_path)
    async with run_operator(operator, cluster.kubeconfig):
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pin))

        async def deployed() -> bool:
            conditions = ((await client.get(RESOURCE, "d", namespace=namespace)).get("status") or {}).get(
                "conditions"
            ) or ()
            return any(c["type"] == "Deployed" and c["status"] == "True" for c in conditions)

        await until(deployed, within=90, what="Deployed")
        hand = {
            "metadata": {"labels": {"by-hand": "yes"}},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [{"name": "app", "image": "nginx:9"}]}},
            },
        }
        kubectl("patch", "deployment", "d", "-n", namespace, "-p", json.dumps(hand))

        async def put_back() -> bool:
            spec = (await deployment())["spec"]
            return (
                spec["replicas"] == 0 and spec["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
            )

        await until(put_back, within=60, what="the Deployment's replicas and image as the chart renders them")
        assert (await deployment())["metadata"]["labels"]["by-hand"] == "yes"
        pinned = await client.get(RESOURCE, "d", namespace=namespace)
        assert pinned["status"]["deployedRelease"]["revision"] == 1

        def repaired() -> list[dict[str, Any]]:
            events = kubectl.json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
            return [e for e in events if e["reason"] == "DriftRepaired" and e["regarding"]["name"] == "d"]

        # Events are written in the background: the repair can be seen before its Event is.
        await until(lambda: bool(repaired()), within=30, what="a DriftRepaired Event")
        assert "Deployment/d" in repaired()[0]["note"]
