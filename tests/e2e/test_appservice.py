"""The AppService operator end to end, with real kubectl and the operator running for real, on two
clusters: the locally built control plane (kube-controller-manager and kwok: pods are scheduled and
reach Running on a fake node; garbage collection by kube-controller-manager) and the embedded API
server (its own Deployment and ReplicaSet controllers, scheduler and simulated kubelet: pods reach Running
on a simulated node; its own garbage collector).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from appservice_checks import (
    INVALID_SPEC_IDS,
    INVALID_SPECS,
    RESOURCE,
    SAMPLE,
    app_yaml,
    get,
    ready_condition,
)
from appservice_operator.api.app_v1 import AppService
from appservice_operator.operator import operator

from kubeloop import crd
from kubeloop.testing import Kubectl, KubectlError, run_operator, temporary_namespace, until, wait_for_crds


@dataclass(frozen=True)
class Cluster:
    """One cluster the operator runs against, and what differs between the two."""

    name: str
    kubectl: Kubectl
    runs_pods: bool
    gc_within: float


@pytest.fixture(scope="module", params=["controlplane", "embedded"])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """The CRD installed and the AppService operator running against the cluster."""
    if request.param == "controlplane":
        kubeconfig: Path = request.getfixturevalue("control_plane").kubeconfig
        # kube-controller-manager's garbage collector learns about a new CRD on its 30 s discovery resync.
        found = Cluster("controlplane", Kubectl(kubeconfig), runs_pods=True, gc_within=90)
    else:
        kubeconfig = request.getfixturevalue("embedded_api_server").kubeconfig
        found = Cluster("embedded", Kubectl(kubeconfig), runs_pods=True, gc_within=30)
    found.kubectl("apply", "-f", "-", input=crd.to_yaml([AppService]))
    wait_for_crds(found.kubectl, RESOURCE)
    async with run_operator(operator, kubeconfig):
        yield found


@pytest.fixture
def ns(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in the cluster of this test."""
    with temporary_namespace(cluster.kubectl, request.node.originalname) as name:
        yield name


async def test_sample_becomes_deployment_and_nodeport_service_and_follows_changes(
    cluster: Cluster, ns: str
) -> None:
    kubectl = cluster.kubectl
    kubectl("apply", "-n", ns, "-f", str(SAMPLE))

    def deployment() -> dict | None:
        return get(kubectl, "get", "deployment", "nginx-app", "-n", ns)

    def service() -> dict | None:
        return get(kubectl, "get", "service", "nginx-app", "-n", ns)

    def app() -> dict | None:
        return get(kubectl, "get", RESOURCE, "nginx-app", "-n", ns)

    await until(lambda: (deployment() or {}).get("spec", {}).get("replicas") == 2, what="Deployment of 2")
    await until(lambda: service() is not None, what="Service created")
    svc, dep = service(), deployment()
    assert svc is not None
    assert dep is not None
    assert svc["spec"]["type"] == "NodePort"
    assert [p["nodePort"] for p in svc["spec"]["ports"]] == [30002]
    for child in (svc, dep):
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("AppService", "nginx-app", True)

    if cluster.runs_pods:

        def running_pods() -> int:
            pods = get(kubectl, "get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=nginx-app") or {}
            return sum(
                1
                for p in pods.get("items", [])
                if p["status"].get("phase") == "Running" and p["spec"].get("nodeName") in nodes
            )

        nodes = {n["metadata"]["name"] for n in (get(kubectl, "get", "nodes") or {}).get("items", [])}
        await until(lambda: running_pods() == 2, what="2 Running pods on a (kwok or simulated) node")
    await until(
        lambda: (app() or {}).get("status", {}).get("readyReplicas") == 2, what="status.readyReplicas 2"
    )
    await until(lambda: (ready_condition(app()) or {}).get("status") == "True", what="Ready=True")
    current = app()
    cond = ready_condition(current)
    assert cond is not None
    assert cond["observedGeneration"] == current["metadata"]["generation"]  # type: ignore[index]
    assert current["status"]["nodePorts"] == [30002]  # type: ignore[index]
    table = kubectl("get", "as", "nginx-app", "-n", ns).stdout.split()
    assert table[:4] == ["NAME", "SIZE", "READY", "AGE"]
    assert table[4:7] == ["nginx-app", "2", "2"]

    kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", '{"spec":{"size":3}}')
    await until(lambda: (deployment() or {}).get("spec", {}).get("replicas") == 3, what="scaled to 3")
    await until(lambda: (app() or {}).get("status", {}).get("readyReplicas") == 3, what="3 ready")

    old_uid = service()["metadata"]["uid"]  # type: ignore[index]
    kubectl("delete", "service", "nginx-app", "-n", ns)
    await until(
        lambda: (service() or {}).get("metadata", {}).get("uid") not in (None, old_uid),
        what="Service restored",
    )
    assert [p["nodePort"] for p in service()["spec"]["ports"]] == [30002]  # type: ignore[index]

    patch = {"spec": {"ports": [{"port": 8080, "targetPort": 80, "nodePort": 30012}]}}
    kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", json.dumps(patch))

    def service_ports() -> list[tuple[int, int]]:
        return [(p["port"], p.get("nodePort", 0)) for p in (service() or {}).get("spec", {}).get("ports", [])]

    await until(lambda: service_ports() == [(8080, 30012)], what="Service updated to 8080:30012")

    kubectl("delete", RESOURCE, "nginx-app", "-n", ns)
    await until(
        lambda: deployment() is None and service() is None,
        within=cluster.gc_within,
        what="children garbage-collected",
    )


async def test_second_app_on_a_taken_node_port_reports_the_api_servers_reason(
    cluster: Cluster, ns: str
) -> None:
    kubectl = cluster.kubectl
    kubectl("apply", "-n", ns, "-f", "-", input=app_yaml("first", 1, 30021))
    await until(
        lambda: (
            (ready_condition(get(kubectl, "get", RESOURCE, "first", "-n", ns)) or {}).get("status") == "True"
        ),
        what="first app Ready",
    )
    first_service = get(kubectl, "get", "service", "first", "-n", ns)
    kubectl("apply", "-n", ns, "-f", "-", input=app_yaml("second", 1, 30021))

    def second_condition() -> dict | None:
        return ready_condition(get(kubectl, "get", RESOURCE, "second", "-n", ns))

    await until(lambda: (second_condition() or {}).get("status") == "False", what="second app Ready=False")
    cond = second_condition()
    assert cond is not None
    assert cond["reason"] == "Invalid"
    assert "provided port is already allocated" in cond["message"]

    def warnings() -> list[dict]:
        events = get(kubectl, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=second")
        return [e for e in (events or {}).get("items", []) if e["type"] == "Warning"]

    await until(lambda: bool(warnings()), what="a Warning Event about the second app")
    assert "already allocated" in warnings()[0]["message"]
    assert get(kubectl, "get", "service", "second", "-n", ns) is None
    after = get(kubectl, "get", "service", "first", "-n", ns)
    assert after["metadata"]["resourceVersion"] == first_service["metadata"]["resourceVersion"]  # type: ignore[index]


@pytest.mark.parametrize(("spec", "field"), INVALID_SPECS, ids=INVALID_SPEC_IDS)
def test_invalid_spec_is_rejected_by_the_schema_naming_the_field(
    cluster: Cluster, ns: str, spec: dict, field: str
) -> None:
    obj = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    with pytest.raises(KubectlError) as info:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
    assert field in info.value.stderr
    assert "Invalid value" in info.value.stderr
    assert get(cluster.kubectl, "get", RESOURCE, "bad", "-n", ns) is None
