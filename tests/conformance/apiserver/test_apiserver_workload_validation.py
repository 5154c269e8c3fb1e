"""Validation of Deployments, Pods, Services and Jobs compared with the real kube-apiserver in the same
test: the rules users hit first (selector required and matching the template, containers with a name
and an image, ports, restart policy, strategy and Service types) and the immutable fields (Deployment
selector, Service clusterIP, Job template), with the real field paths and messages; nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_twin import Twin, deployment


@pytest.mark.parametrize(
    "body",
    [
        deployment("no-selector", selector=None),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "empty"}, "spec": {}},
        deployment("other-labels", selector={"matchLabels": {"app": "b"}}),
        deployment(
            "expressions", selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["z"]}]}
        ),
        deployment(
            "nameless-container",
            template={
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "", "image": ""}]},
            },
        ),
        deployment(
            "bad-container-name",
            template={
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "C_1", "image": "x"}]},
            },
        ),
        deployment("negative", replicas=-1, strategy={"type": "Bogus"}),
        deployment(
            "never",
            template={
                "metadata": {"labels": {"app": "a"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]},
            },
        ),
    ],
    ids=lambda b: b["metadata"]["name"],
)
async def test_invalid_deployments_are_refused_with_the_real_causes(
    twin: Twin, tns: str, body: dict[str, Any]
) -> None:
    answer = await twin.same_refusal("POST", f"/apis/apps/v1/namespaces/{tns}/deployments", body)
    assert answer.status == 422


async def test_a_deployment_selector_never_changes(twin: Twin, tns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    await twin.call("POST", path, deployment("fixed"))
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "a", "x": "y"}},
            "template": {"metadata": {"labels": {"app": "a", "x": "y"}}},
        }
    }
    await twin.same_refusal("PATCH", f"{path}/fixed", patch, "application/merge-patch+json")


async def test_a_deployment_name_with_dots_is_accepted_with_the_real_warning(twin: Twin, tns: str) -> None:
    real, embedded = await twin.call("POST", f"/apis/apps/v1/namespaces/{tns}/deployments", deployment("a.b"))
    assert (embedded.status, embedded.warnings) == (real.status, real.warnings)
    assert real.warnings


@pytest.mark.parametrize(
    "spec",
    [
        {"containers": []},
        {
            "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 99999}]}],
            "restartPolicy": "Sometimes",
        },
        {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "protocol": "XXX"}]}]},
    ],
    ids=["no-containers", "port-and-policy", "protocol"],
)
async def test_invalid_pods_are_refused_with_the_real_causes(
    twin: Twin, tns: str, spec: dict[str, Any]
) -> None:
    body = {"metadata": {"name": "bad-pod"}, "spec": spec}
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/pods", body)
    assert answer.status == 422


@pytest.mark.parametrize(
    "spec",
    [{"ports": [{"port": 80, "protocol": "XXX"}], "type": "Bogus"}, {}],
    ids=["protocol-and-type", "no-ports"],
)
async def test_invalid_services_are_refused_with_the_real_causes(
    twin: Twin, tns: str, spec: dict[str, Any]
) -> None:
    body = {"metadata": {"name": "bad-svc"}, "spec": spec}
    answer = await twin.same_refusal("POST", f"/api/v1/namespaces/{tns}/services", body)
    assert answer.status == 422


async def test_a_service_cluster_ip_never_changes(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/services"
    real, embedded = await twin.call(
        "POST", path, {"metadata": {"name": "pinned"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert embedded.status == real.status == 201
    # Each server allocated its own address; ask both for the same new one.
    taken = {real.body["spec"]["clusterIP"], embedded.body["spec"]["clusterIP"]}
    new_ip = next(f"10.0.0.{n}" for n in range(250, 200, -1) if f"10.0.0.{n}" not in taken)
    patch = {"spec": {"clusterIP": new_ip, "clusterIPs": [new_ip]}}
    await twin.same_refusal("PATCH", f"{path}/pinned", patch, "application/merge-patch+json")


async def test_jobs_need_a_restart_policy_and_keep_their_template(twin: Twin, tns: str) -> None:
    path = f"/apis/batch/v1/namespaces/{tns}/jobs"
    template = {"spec": {"containers": [{"name": "c", "image": "x"}]}}
    await twin.same_refusal("POST", path, {"metadata": {"name": "no-policy"}, "spec": {"template": template}})
    template["spec"]["restartPolicy"] = "Never"
    real, embedded = await twin.call(
        "POST", path, {"metadata": {"name": "fixed"}, "spec": {"template": template}}
    )
    assert embedded.status == real.status == 201
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "y"}]}}}}
    real, embedded = await twin.call(
        "PATCH", f"{path}/fixed", patch, "application/strategic-merge-patch+json"
    )
    # The real message prints the whole Go PodTemplateSpec; the embedded one names it (docs/apiserver.md).
    for answer in (real, embedded):
        assert (answer.status, answer.body["reason"]) == (422, "Invalid")
        assert [(c["field"], c["message"].rsplit(": ", 1)[1]) for c in answer.body["details"]["causes"]] == [
            ("spec.template", "field is immutable")
        ]
