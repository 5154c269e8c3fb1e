"""Reconciles of a release that has not changed write nothing, as helm-operator's: the Deployed
condition keeps its reason (``InstallSuccessful`` for revision 1, whatever the reconcile did), the
release's objects are compared with what Helm deployed (its ``managed-by`` label included, which the
chart's own value does not undo) and patched only where they differ, the patch computed by
helm-server. What is changed by hand is still put back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeloop.client import Client
from kubeloop.helm import RECONCILE_PERIOD, HelmOperator
from kubeloop.manager import Manager
from kubeloop.testing import Kubectl, run_operator, until
from kubeloop.testing.fixtures import Cluster

HERE = Path(__file__).parent
RESOURCE = "pins.helm.kubeloop.test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def total(manager: Manager, name: str, label: str, values: tuple[str, ...] | None = None) -> float:
    """The sum of a counter's samples whose ``label`` is one of ``values`` (None: all)."""
    return sum(
        s.value
        for metric in manager.metrics.registry.collect()
        for s in metric.samples
        if s.name == name and (values is None or s.labels.get(label) in values)
    )


@pytest.mark.usefixtures("pins_crd")
async def test_reconciles_of_an_unchanged_release_write_nothing(
    helm_server: Path, cluster: Cluster, kubectl: Kubectl, namespace: str, client: Client, tmp_path: Path
) -> None:
    operator = HelmOperator(
        HERE / "watches.yaml",
        helm_server=helm_server,
        name="unchanged-operator",
        namespace=namespace,
        work_dir=tmp_path,
    )
    pin = {
        "apiVersion": "helm.kubeloop.test/v1",
        "kind": "Pin",
        "metadata": {"name": "u", "annotations": {RECONCILE_PERIOD: "1s"}},  # reconciled every second
        "spec": {},
    }
    async with run_operator(operator, cluster.kubeconfig) as manager:

        def reconciles() -> float:
            return total(manager, "controller_runtime_reconcile_total", "controller")

        def writes() -> float:
            return total(manager, "rest_client_requests_total", "method", WRITES)

        async def deployed() -> dict | None:
            status = (await client.get(RESOURCE, "u", namespace=namespace)).get("status") or {}
            conditions = {c["type"]: c for c in status.get("conditions") or ()}
            return conditions.get("Deployed")

        def installed_event() -> bool:
            events = kubectl.json("get", "events.v1.events.k8s.io", "-n", namespace)["items"]
            return any(e["reason"] == "InstallSuccessful" and e["regarding"]["name"] == "u" for e in events)

        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pin))

        async def is_deployed() -> bool:
            condition = await deployed()
            return condition is not None and condition["status"] == "True"

        await until(is_deployed, within=90, what="Deployed")
        await until(installed_event, within=30, what="the InstallSuccessful Event")
        after_install = reconciles()
        await until(lambda: reconciles() >= after_install + 2, within=30, what="reconciles after the install")

        before = (writes(), reconciles(), await client.get(RESOURCE, "u", namespace=namespace))
        deployment = await client.get("apps/v1/Deployment", "u", namespace=namespace)
        await until(lambda: reconciles() >= before[1] + 3, within=30, what="3 more reconciles")
        assert writes() == before[0], "a reconcile of the unchanged release wrote to the API server"
        now = await client.get(RESOURCE, "u", namespace=namespace)
        assert now["metadata"]["resourceVersion"] == before[2]["metadata"]["resourceVersion"]
        condition = await deployed()
        assert condition is not None
        assert condition["reason"] == "InstallSuccessful"
        unchanged = await client.get("apps/v1/Deployment", "u", namespace=namespace)
        assert unchanged["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
        assert unchanged["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"

        hand = {"metadata": {"labels": {"by-hand": "yes"}}, "spec": {"replicas": 3}}
        kubectl("patch", "deployment", "u", "-n", namespace, "-p", json.dumps(hand))

        async def put_back() -> bool:
            return (await client.get("apps/v1/Deployment", "u", namespace=namespace))["spec"]["replicas"] == 0

        await until(put_back, within=30, what="the Deployment's replicas as the chart renders them")
        repaired = await client.get("apps/v1/Deployment", "u", namespace=namespace)
        assert repaired["metadata"]["labels"]["by-hand"] == "yes"
        assert (await client.get(RESOURCE, "u", namespace=namespace))["status"]["deployedRelease"][
            "revision"
        ] == 1
