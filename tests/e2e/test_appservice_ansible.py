"""The AppService operator as an Ansible role (examples/appservice-ansible), end to end with real
kubectl: the watches file run by ``AnsibleOperator`` against the locally built control plane and the
embedded API server. Same resource and children as examples/appservice: the sample becomes a
Deployment of 2 and a NodePort Service on 30002 owned by the AppService; a resize reaches the
Deployment; a Service deleted by hand comes back (a dependent watch re-runs the role); the status
carries operator-sdk's conditions with the run's counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from appservice_checks import RESOURCE, SAMPLE, assert_owned_by, condition, get, install_crd

from kubeloop.ansible import AnsibleOperator
from kubeloop.apiserver import EmbeddedServer
from kubeloop.testing import Kubectl, run_operator, temporary_namespace, until

EXAMPLE = Path(__file__).parents[2] / "examples/appservice-ansible"
CRD = EXAMPLE / "config/crd/bases/app.example.com_appservices.yaml"


async def ended(app: Callable[[], dict[str, Any] | None], within: float) -> dict[str, Any]:
    """The AppService as read once a run of its role has ended Successful (Running's reason
    Successful): a later run (a dependent's change: the Deployment controller annotating the
    Deployment) marks Running and takes Successful's True back as it starts, so the conditions are
    asserted on this read, not on one made after it."""
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.clear()
        seen.update(app() or {})
        running, successful = condition(seen, "Running"), condition(seen, "Successful")
        return successful.get("status") == "True" and running.get("reason") == "Successful"

    await until(done, within=within, what="a run of the role ended Successful")
    return seen


@dataclass(frozen=True)
class Cluster:
    name: str
    kubectl: Kubectl
    artifacts: Path


# The embedded server's run repeats the control plane's (about 30 s more): make test-long runs it; make
# test runs its first step (test_on_the_embedded_server_the_role_makes_the_sample_its_children).
@pytest.fixture(scope="module", params=["controlplane", pytest.param("embedded", marks=pytest.mark.long)])
async def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """The example's CRD installed and its operator running against the cluster."""
    if request.param == "controlplane":
        kubeconfig: Path = request.getfixturevalue("control_plane").kubeconfig
    else:
        kubeconfig = request.getfixturevalue("embedded_api_server").kubeconfig
    kubectl = Kubectl(kubeconfig)
    install_crd(kubectl, CRD)
    artifacts = tmp_path_factory.mktemp(f"ansible-{request.param}")
    operator = AnsibleOperator(EXAMPLE / "watches.yaml", name="appservice-operator", artifacts_dir=artifacts)
    async with run_operator(operator, kubeconfig):
        yield Cluster(request.param, kubectl, artifacts)


async def test_role_makes_the_sample_a_deployment_and_a_nodeport_service_and_follows_changes(
    cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    kubectl = cluster.kubectl
    with temporary_namespace(kubectl, "ansible-appservice") as ns:
        kubectl("apply", "-n", ns, "-f", str(SAMPLE))

        def deployment() -> dict | None:
            return get(kubectl, "get", "deployment", "nginx-app", "-n", ns)

        def service() -> dict | None:
            return get(kubectl, "get", "service", "nginx-app", "-n", ns)

        def app() -> dict | None:
            return get(kubectl, "get", RESOURCE, "nginx-app", "-n", ns)

        current = await ended(app, within=60)
        dep, svc = deployment(), service()
        assert dep is not None
        assert svc is not None
        assert dep["spec"]["replicas"] == 2
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.7.9"
        assert dep["spec"]["template"]["spec"]["containers"][0]["ports"] == [
            {"containerPort": 80, "protocol": "TCP"}
        ]
        assert svc["spec"]["type"] == "NodePort"
        assert [(p["name"], p["port"], p["nodePort"]) for p in svc["spec"]["ports"]] == [
            ("port-80", 80, 30002)
        ]
        assert_owned_by(current, dep, svc)  # type: ignore[arg-type]
        running, failure = condition(current, "Running"), condition(current, "Failure")
        assert (running["status"], running["reason"], running["message"]) == (
            "True",
            "Successful",
            "Awaiting next reconciliation",
        )
        assert running["ansibleResult"]["failures"] == 0
        assert running["ansibleResult"]["ok"] >= 4
        assert failure["status"] == "False"

        kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", '{"spec":{"size":3}}')
        await until(
            lambda: (deployment() or {}).get("spec", {}).get("replicas") == 3, within=60, what="scaled to 3"
        )

        old_uid = svc["metadata"]["uid"]
        kubectl("delete", "service", "nginx-app", "-n", ns)
        await until(
            lambda: (service() or {}).get("metadata", {}).get("uid") not in (None, old_uid),
            within=60,
            what="Service restored by the role",
        )
        assert [p["nodePort"] for p in service()["spec"]["ports"]] == [30002]  # type: ignore[index]

        patch = {"spec": {"ports": [{"port": 8080, "targetPort": 80, "nodePort": 30012}]}}
        kubectl("patch", RESOURCE, "nginx-app", "-n", ns, "--type=merge", "-p", json.dumps(patch))

        def service_ports() -> list[tuple[int, int]]:
            return [
                (p["port"], p.get("nodePort", 0)) for p in (service() or {}).get("spec", {}).get("ports", [])
            ]

        await until(
            lambda: service_ports() == [(8080, 30012)], within=60, what="Service updated to 8080:30012"
        )
        runs = list(
            (cluster.artifacts / "app.example.com/v1/AppService" / ns / "nginx-app/artifacts").iterdir()
        )
        assert any(r.name == "latest" for r in runs)
        assert len(runs) >= 4  # a run per change, each with its artifacts


async def test_on_the_embedded_server_the_role_makes_the_sample_its_children(
    embedded_api_server: EmbeddedServer, tmp_path: Path
) -> None:
    """The short form of the embedded server's run (make test): the sample's first run, its children
    owned and its conditions."""
    kubectl = Kubectl(embedded_api_server.kubeconfig)
    install_crd(kubectl, CRD)
    operator = AnsibleOperator(EXAMPLE / "watches.yaml", name="appservice-operator", artifacts_dir=tmp_path)
    async with run_operator(operator, embedded_api_server.kubeconfig):
        with temporary_namespace(kubectl, "ansible-appservice") as ns:
            kubectl("apply", "-n", ns, "-f", str(SAMPLE))

            def app() -> dict | None:
                return get(kubectl, "get", RESOURCE, "nginx-app", "-n", ns)

            current = await ended(app, within=120)
            children = [get(kubectl, "get", kind, "nginx-app", "-n", ns) for kind in ("deployment", "svc")]
            assert None not in children
            assert_owned_by(current, *children)  # type: ignore[arg-type]
            assert get(kubectl, "get", "deployment", "nginx-app", "-n", ns)["spec"]["replicas"] == 2  # type: ignore[index]
            assert condition(current, "Running")["ansibleResult"]["failures"] == 0
