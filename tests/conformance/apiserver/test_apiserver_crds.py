"""Custom resources: establishing a CRD, structural-schema validation, defaulting, pruning, status and
scale subresources, generation, and ``kubectl get`` printer columns: real and embedded alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeloop.client import Client, InvalidError
from kubeloop.testing import Kubectl, wait_for_crds

GROUP = "conformance.kubeloop.dev"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.ready"},
                },
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                    {"name": "Ready", "type": "integer", "jsonPath": ".status.ready"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["image"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.maxSize) || self.size <= self.maxSize",
                                        "message": "size must not exceed maxSize",
                                    }
                                ],
                                "properties": {
                                    "maxSize": {"type": "integer"},
                                    "track": {
                                        "type": "string",
                                        "x-kubernetes-validations": [
                                            {"rule": "self == oldSelf", "message": "track is immutable"}
                                        ],
                                    },
                                    "size": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                                    "image": {"type": "string", "pattern": "^[a-z0-9./:-]+$"},
                                    "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                                    "ports": {
                                        "type": "array",
                                        "maxItems": 2,
                                        "items": {
                                            "type": "object",
                                            "properties": {"port": {"type": "integer"}},
                                        },
                                    },
                                },
                            },
                            "status": {"type": "object", "properties": {"ready": {"type": "integer"}}},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="session")
def widgets(api: Path) -> str:
    kubectl = Kubectl(api)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    wait_for_crds(kubectl, f"widgets.{GROUP}")
    return f"widgets.{GROUP}"


def widget(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


async def test_crd_is_established_and_discovered(kube: Client, widgets: str) -> None:
    res = await kube.resource(f"widgets.{GROUP}")  # named with its group: other suites have widgets
    assert (res.group, res.version, res.kind, res.namespaced) == (GROUP, "v1", "Widget", True)
    assert "wdg" in res.short_names
    assert {"status", "scale"} <= set(res.subresources)
    crd = await kube.get("customresourcedefinitions", f"widgets.{GROUP}")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"


async def test_defaults_are_applied_and_unknown_fields_pruned(kube: Client, ns: str, widgets: str) -> None:
    created = await kube.create(widget("w", ns, image="nginx", unknown="x"))
    assert created["spec"] == {"image": "nginx", "size": 1, "mode": "safe"}
    assert created["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"size": 1}, "spec.image", "FieldValueRequired"),
        ({"image": "nginx", "size": 11}, "spec.size", "FieldValueInvalid"),
        ({"image": "nginx", "mode": "reckless"}, "spec.mode", "FieldValueNotSupported"),
        ({"image": "NGINX!"}, "spec.image", "FieldValueInvalid"),
        (
            {"image": "nginx", "ports": [{"port": 1}, {"port": 2}, {"port": 3}]},
            "spec.ports",
            "FieldValueTooMany",
        ),
    ],
    ids=["required", "maximum", "enum", "pattern", "max-items"],
)
async def test_schema_violations_are_invalid_with_field_causes(
    kube: Client, ns: str, widgets: str, spec: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.create(widget("bad", ns, **spec))
    assert err.value.code == 422
    assert err.value.details["kind"] == "Widget"
    blocked = [("<nil>", "FieldValueInvalid")] if reason != "FieldValueInvalid" else []
    # Failures other than plain invalid values keep CEL rules from running; the server says so.
    assert [(c.field, c.reason) for c in err.value.causes] == [(field, reason), *blocked]


async def test_bad_replicas_also_fail_the_scale_path_check(kube: Client, ns: str, widgets: str) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.create(widget("neg", ns, image="nginx", size=-1))
    assert [(c.field, c.message) for c in err.value.causes] == [
        ("spec.size", "Invalid value: -1: spec.size in body should be greater than or equal to 0"),
        (".spec.size", "Invalid value: -1: should be a non-negative integer"),
    ]
    with pytest.raises(InvalidError) as err:
        await kube.create(widget("str", ns, image="nginx", size="big"))
    assert [(c.field, c.reason, c.message) for c in err.value.causes] == [
        (
            "spec.size",
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.size in body must be of type integer: "string"',
        ),
        (
            ".spec.size",
            "FieldValueInvalid",
            "Invalid value: 0: .spec.size accessor error: big is of the type string, expected int64",
        ),
        (
            "<nil>",
            "FieldValueInvalid",
            'Invalid value: "null": some validation rules were not checked because the object was invalid; '
            "correct the existing errors to complete validation",
        ),
    ]


async def test_cel_rule_rejects_with_its_message(kube: Client, ns: str, widgets: str) -> None:
    with pytest.raises(InvalidError) as err:
        await kube.create(widget("cel", ns, image="nginx", size=4, maxSize=3))
    assert [(c.field, c.reason, c.message) for c in err.value.causes] == [
        ("spec", "FieldValueInvalid", 'Invalid value: "object": size must not exceed maxSize')
    ]
    assert (await kube.create(widget("cel", ns, image="nginx", size=3, maxSize=3)))["spec"]["maxSize"] == 3


async def test_cel_transition_rule_checks_updates_only(kube: Client, ns: str, widgets: str) -> None:
    await kube.create(widget("imm", ns, image="nginx", track="stable"))
    with pytest.raises(InvalidError) as err:
        await kube.patch(widgets, "imm", {"spec": {"track": "beta"}}, namespace=ns)
    assert [(c.field, c.message) for c in err.value.causes] == [
        ("spec.track", 'Invalid value: "string": track is immutable')
    ]


async def test_status_subresource_and_generation(kube: Client, ns: str, widgets: str) -> None:
    created = await kube.create(widget("st", ns, image="nginx", size=2))
    with_status = dict(created, status={"ready": 2})
    updated = await kube.replace(with_status, subresource="status")
    assert updated["status"] == {"ready": 2}
    assert updated["metadata"]["generation"] == 1
    resized = await kube.patch(widgets, "st", {"spec": {"size": 3}, "status": {"ready": 0}}, namespace=ns)
    assert resized["metadata"]["generation"] == 2
    assert resized["status"] == {"ready": 2}


async def test_custom_resource_scale_subresource(kube: Client, ns: str, widgets: str) -> None:
    await kube.create(widget("sc", ns, image="nginx", size=2))
    scale = await kube.get(widgets, "sc", namespace=ns, subresource="scale")
    assert scale["spec"]["replicas"] == 2
    await kube.patch(widgets, "sc", {"spec": {"replicas": 5}}, namespace=ns, subresource="scale")
    assert (await kube.get(widgets, "sc", namespace=ns))["spec"]["size"] == 5


def test_kubectl_get_shows_printer_columns(kctl: Kubectl, ns: str, widgets: str) -> None:
    kctl("apply", "-f", "-", input=yaml.safe_dump(widget("shown", ns, image="busybox", size=4)))
    lines = kctl("get", "wdg", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "IMAGE", "READY"]  # no Age once columns are declared
    assert lines[1].split()[:3] == ["shown", "4", "busybox"]
    wide = kctl("get", widgets, "shown", "-n", ns, "-o", "custom-columns=N:.metadata.name,S:.spec.size")
    assert wide.stdout.split() == ["N", "S", "shown", "4"]


def test_kubectl_explain_describes_custom_resource(kctl: Kubectl, widgets: str) -> None:
    out = kctl("explain", "widgets.spec.size", f"--api-version={GROUP}/v1").stdout
    assert "KIND:       Widget" in out
    assert "<integer>" in out


async def test_a_spec_that_is_not_an_object_fails_the_scale_path_check_too(
    kube: Client, ns: str, widgets: str
) -> None:
    body = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "flat", "namespace": ns}}
    with pytest.raises(InvalidError) as err:
        await kube.create({**body, "spec": "nope"})
    assert [(c.field, c.message) for c in err.value.causes][:2] == [
        ("spec", 'Invalid value: "string": spec in body must be of type object: "string"'),
        (
            ".spec.size",
            "Invalid value: 0: .spec.size accessor error: nope is of the type string, "
            "expected map[string]interface{}",
        ),
    ]


async def test_a_field_left_out_and_defaulted_back_is_no_change_of_generation(
    kube: Client, ns: str, widgets: str
) -> None:
    created = await kube.create(widget("same", ns, image="nginx"))
    assert created["spec"]["size"] == 1
    replaced = await kube.replace({**created, "spec": {"image": "nginx"}})
    assert (replaced["spec"]["size"], replaced["metadata"]["generation"]) == (1, 1)
