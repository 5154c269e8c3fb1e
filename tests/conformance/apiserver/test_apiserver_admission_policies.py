"""ValidatingAdmissionPolicies with CEL on both servers, compared answer by answer: parameters from a
ConfigMap (paramRef, parameterNotFoundAction), messageExpression, message and the expression itself
as the denial's text, a validation's reason as the status code, Warn bindings as warnings, and the
Kubernetes CEL libraries in validations and matchConditions (a library call's error as the denial)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from apiserver_twin import Twin

from kubeloop.testing import until

Obj = dict[str, Any]
GROUP_PATH = "/apis/admissionregistration.k8s.io/v1"


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27", **labels: str) -> Obj:
    pod = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod},
            "template": {
                "metadata": {"labels": pod},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def policy(name: str, namespace: str, validations: list[Obj], **spec: Any) -> Obj:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "resources": ["deployments"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            },
            "validations": validations,
            **spec,
        },
    }


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> Obj:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": actions, **spec},
    }


@pytest.fixture
async def policies(twin: Twin, tns: str) -> AsyncIterator[str]:
    """A limits policy (parameters from the ConfigMap ``limits``, Deny) and a no-latest policy (Warn)."""
    limits, latest = f"{tns}-limits"[:63], f"{tns}-latest"[:63]
    objects = [
        (
            "validatingadmissionpolicies",
            policy(
                limits,
                tns,
                [
                    {
                        "expression": "object.spec.replicas <= int(params.data.maxReplicas)",
                        "messageExpression": "'replicas ' + string(object.spec.replicas)"
                        " + ' over ' + params.data.maxReplicas",
                        "reason": "Forbidden",
                    },
                    {
                        "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels",
                        "message": "a team label is required",
                    },
                    {"expression": "object.metadata.name != 'forbidden-name'"},
                ],
                paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
            ),
        ),
        (
            "validatingadmissionpolicybindings",
            binding(limits, limits, ["Deny"], paramRef={"name": "limits", "parameterNotFoundAction": "Deny"}),
        ),
        (
            "validatingadmissionpolicies",
            policy(
                latest,
                tns,
                [
                    {
                        "expression": "!object.spec.template.spec.containers"
                        ".exists(c, c.image.endsWith(':latest'))",
                        "message": "pin the image",
                    }
                ],
            ),
        ),
        ("validatingadmissionpolicybindings", binding(latest, latest, ["Warn", "Audit"])),
    ]
    for plural, body in objects:
        real, embedded = await twin.call("POST", f"{GROUP_PATH}/{plural}", body)
        assert real.status == embedded.status == 201, (real.body, embedded.body)
    limits_map = {"metadata": {"name": "limits"}, "data": {"maxReplicas": "3"}}
    await twin.call("POST", f"/api/v1/namespaces/{tns}/configmaps", limits_map)

    async def in_effect() -> bool:
        """Both bindings act on both servers (the real one loads each policy on its own schedule)."""
        path = f"/apis/apps/v1/namespaces/{tns}/deployments?dryRun=All"
        denied = await twin.call("POST", path, deployment("probe", 9, team="a"))
        warned = await twin.call("POST", path, deployment("probe", image="nginx:latest", team="a"))
        return all(a.status == 403 for a in denied) and all(a.status == 201 and a.warnings for a in warned)

    try:
        await until(in_effect, within=30, what="policies in effect", interval=0.2)
        yield latest
    finally:
        for plural, body in reversed(objects):
            await twin.call("DELETE", f"{GROUP_PATH}/{plural}/{body['metadata']['name']}")


async def test_policies_deny_with_their_messages_and_warn(twin: Twin, tns: str, policies: str) -> None:
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    refused = await twin.same_refusal("POST", path, deployment("big", 5, team="a"))
    assert refused.status == 403
    assert "replicas 5 over 3" in refused.body["message"]
    refused = await twin.same_refusal("POST", path, deployment("anonymous"))
    assert refused.status == 422
    assert "a team label is required" in refused.body["message"]
    await twin.same_refusal("POST", path, deployment("forbidden-name", team="a"))
    real, embedded = await twin.call("POST", path, deployment("web", 2, image="nginx:latest", team="a"))
    assert real.status == embedded.status == 201, embedded.body
    warning = f"Validation failed for ValidatingAdmissionPolicy '{policies}' with binding '{policies}': "
    warning += "pin the image"
    assert real.warnings == embedded.warnings == [f'299 - "{warning}"']
    await twin.same_refusal("PATCH", f"{path}/web", {"spec": {"replicas": 4}}, "application/merge-patch+json")
    # without its parameters the binding denies everything it matches (parameterNotFoundAction: Deny)
    await twin.call("DELETE", f"/api/v1/namespaces/{tns}/configmaps/limits")
    await until(
        lambda: _refused_on_both(twin, path, deployment("later", team="a")), within=30, what="params gone"
    )
    refused = await twin.same_refusal("POST", path, deployment("later", team="a"))
    assert "no params found for policy binding with `Deny` parameterNotFoundAction" in refused.body["message"]


def sized(name: str, memory: str, team: str, *containers: str) -> Obj:
    """A Deployment with ``memory`` and ``team`` annotations and containers named ``containers``."""
    body = deployment(name)
    body["metadata"]["annotations"] = {"memory": memory, "team": team}
    body["spec"]["template"]["spec"]["containers"] = [{"name": c, "image": "nginx:1.27"} for c in containers]
    return body


LIBRARY_VALIDATIONS = [
    {
        "expression": "quantity(object.metadata.annotations.memory).compareTo(quantity('1Gi')) <= 0",
        "message": "memory at most 1Gi",
    },
    {
        "expression": "object.metadata.annotations.team == object.metadata.annotations.team.lowerAscii()",
        "message": "team in lower case",
    },
    {"expression": "object.spec.template.spec.containers.map(c, c.name).isSorted()", "message": "sorted"},
]


async def test_policies_call_the_kubernetes_cel_libraries(twin: Twin, tns: str) -> None:
    """quantity(), lowerAscii(), isSorted() in validations and indexOf() in a matchCondition admit and
    refuse the same Deployments on both servers; quantity() of what is not one is the denial, in the
    real server's words."""
    name = f"{tns}-library"[:63]
    conditions = [{"name": "not-skipped", "expression": "object.metadata.name.indexOf('skip') < 0"}]
    body = policy(name, tns, LIBRARY_VALIDATIONS, matchConditions=conditions)
    objects = [
        ("validatingadmissionpolicies", body),
        ("validatingadmissionpolicybindings", binding(name, name, ["Deny"])),
    ]
    path = f"/apis/apps/v1/namespaces/{tns}/deployments"
    try:
        for plural, created in objects:
            real, embedded = await twin.call("POST", f"{GROUP_PATH}/{plural}", created)
            assert real.status == embedded.status == 201, (real.body, embedded.body)
        probe = sized("probe", "1Mi", "web", "b", "a")
        await until(lambda: _refused_on_both(twin, path, probe), within=30, what="policy in effect")
        for admitted in (sized("small", "512Mi", "web", "a", "b"), sized("skip", "2Gi", "Web", "b", "a")):
            real, embedded = await twin.call("POST", path, admitted)
            assert real.status == embedded.status == 201, (real.body, embedded.body)
        denied = f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: "
        for refused, why in [
            (sized("large", "2Gi", "web", "a", "b"), "memory at most 1Gi"),
            (sized("upper", "1Gi", "Web", "a"), "team in lower case"),
            (sized("unsorted", "1", "web", "b", "a"), "sorted"),
            (
                sized("unparsed", "lots", "web", "a"),
                f"expression '{LIBRARY_VALIDATIONS[0]['expression']}' resulted in error: quantities must "
                "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
        ]:
            answer = await twin.same_refusal("POST", path, refused)
            assert answer.status == 422
            assert answer.body["message"].endswith(denied + why), answer.body["message"]
    finally:
        for plural, created in reversed(objects):
            await twin.call("DELETE", f"{GROUP_PATH}/{plural}/{created['metadata']['name']}")


async def _refused_on_both(twin: Twin, path: str, body: Obj) -> bool:
    answers = await twin.call("POST", f"{path}?dryRun=All", body)
    return all(answer.status >= 400 for answer in answers)
