"""The AppService operator end to end: real kubectl, a real control plane with kube-controller-manager
and kwok, the operator running for real."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

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
from kubeloop.testing import ControlPlane, Kubectl, KubectlError, run_operator, until


@pytest.fixture(scope="module")
async def running_operator(control_plane: ControlPlane, kubectl: Kubectl) -> AsyncIterator[None]:
    """The CRD installed and the AppService operator running against the session control plane."""
    kubectl("apply", "-f", "-", input=crd.to_yaml([AppService]))
    kubectl("wait", "--for=condition=Established", f"crd/{RESOURCE}", "--timeout=30s")
    async with run_operator(operator, control_plane.kubeconfig):
        yield


@pytest.mark.usefixtures("running_operator")
async def test_sample_becomes_deployment_and_nodeport_service_and_follows_changes(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(SAMPLE))

    def deployment() -> dict | None:
        return get(kubectl, "get", "deployment", "nginx-app", "-n", namespace)

    def service() -> dict | None:
        return get(kubectl, "get", "service", "nginx-app", "-n", namespace)

    def app() -> dict | None:
        return get(kubectl, "get", RESOURCE, "nginx-app", "-n", namespace)

    await until(lambda: (deployment() or {}).get("spec", {}).get("replicas") == 2, what="Deployment of 2")
    await until(lambda: service() is not None, what="Service created")
    svc = service()
    assert svc is not None
    assert svc["spec"]["type"] == "NodePort"
    assert [p["nodePort"] for p in svc["spec"]["ports"]] == [30002]
    owner = svc["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("AppService", "nginx-app", True)

    def running_pods() -> int:
        pods = get(kubectl, "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name=nginx-app") or {}
        return sum(
            1
            for p in pods.get("items", [])
            if p["status"].get("phase") == "Running" and p["spec"].get("nodeName", "").startswith("kwok-")
        )

    await until(lambda: running_pods() == 2, what="2 Running pods on the kwok node")
    await until(
        lambda: (app() or {}).get("status", {}).get("readyReplicas") == 2, what="status.readyReplicas 2"
    )
    current = app()
    cond = ready_condition(current)
    assert cond is not None
    assert (cond["status"], cond["observedGeneration"]) == ("True", current["metadata"]["generation"])  # type: ignore[index]
    assert current["status"]["nodePorts"] == [30002]  # type: ignore[index]
    table = kubectl("get", "as", "nginx-app", "-n", namespace).stdout.split()
    assert table[:4] == ["NAME", "SIZE", "READY", "AGE"]
    assert table[4:7] == ["nginx-app", "2", "2"]

    kubectl("patch", RESOURCE, "nginx-app", "-n", namespace, "--type=merge", "-p", '{"spec":{"size":3}}')
    await until(lambda: (deployment() or {}).get("spec", {}).get("replicas") == 3, what="scaled to 3")
    await until(lambda: (app() or {}).get("status", {}).get("readyReplicas") == 3, what="3 ready")

    old_uid = service()["metadata"]["uid"]  # type: ignore[index]
    kubectl("delete", "service", "nginx-app", "-n", namespace)
    await until(
        lambda: (service() or {}).get("metadata", {}).get("uid") not in (None, old_uid),
        what="Service restored",
    )

    patch = {"spec": {"ports": [{"port": 8080, "targetPort": 80, "nodePort": 30012}]}}
    kubectl("patch", RESOURCE, "nginx-app", "-n", namespace, "--type=merge", "-p", json.dumps(patch))

    def service_ports() -> list[tuple[int, int]]:
        return [(p["port"], p.get("nodePort", 0)) for p in (service() or {}).get("spec", {}).get("ports", [])]

    await until(lambda: service_ports() == [(8080, 30012)], what="Service updated to 8080:30012")

    kubectl("delete", RESOURCE, "nginx-app", "-n", namespace)
    # kube-controller-manager's garbage collector learns about a new CRD on its 30 s discovery resync.
    await until(
        lambda: deployment() is None and service() is None, within=90, what="children garbage-collected"
    )


@pytest.mark.usefixtures("running_operator")
async def test_second_app_on_a_taken_node_port_reports_the_api_servers_reason(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=app_yaml("first", 1, 30021))
    await until(
        lambda: (
            (ready_condition(get(kubectl, "get", RESOURCE, "first", "-n", namespace)) or {}).get("status")
            == "True"
        ),
        what="first app Ready",
    )
    first_service = get(kubectl, "get", "service", "first", "-n", namespace)
    kubectl("apply", "-n", namespace, "-f", "-", input=app_yaml("second", 1, 30021))

    def second_condition() -> dict | None:
        return ready_condition(get(kubectl, "get", RESOURCE, "second", "-n", namespace))

    await until(lambda: (second_condition() or {}).get("status") == "False", what="second app Ready=False")
    cond = second_condition()
    assert cond is not None
    assert cond["reason"] == "Invalid"
    assert "provided port is already allocated" in cond["message"]

    def warnings() -> list[dict]:
        events = get(
            kubectl, "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=second"
        )
        return [e for e in (events or {}).get("items", []) if e["type"] == "Warning"]

    await until(lambda: bool(warnings()), what="a Warning Event about the second app")
    assert "already allocated" in warnings()[0]["message"]
    assert get(kubectl, "get", "service", "second", "-n", namespace) is None
    after = get(kubectl, "get", "service", "first", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == first_service["metadata"]["resourceVersion"]  # type: ignore[index]


@pytest.mark.parametrize(("spec", "field"), INVALID_SPECS, ids=INVALID_SPEC_IDS)
@pytest.mark.usefixtures("running_operator")
def test_invalid_spec_is_rejected_by_the_schema_naming_the_field(
    kubectl: Kubectl, namespace: str, spec: dict, field: str
) -> None:
    obj = {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    with pytest.raises(KubectlError) as info:
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
    assert field in info.value.stderr
    assert "Invalid value" in info.value.stderr
