"""Generated CRDs against the real kube-apiserver: accepted, structural, validating, defaulting,
enforcing CEL rules, printing columns, serving several versions (driven with the real kubectl).

Every test declares its models in a unique group (``crdtest-<random>.example.com``) and deletes its
CRDs afterwards, so no test sees another's CRD, even one still terminating.
"""

from __future__ import annotations

import datetime
import enum
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from kubeloop import crd
from kubeloop.testing import Kubectl, eventually, wait_for_crds


class Port(crd.Model):
    """A port the service exposes."""

    port: int
    target_port: int
    node_port: int | None = crd.Field(None, ge=30000, le=32767)


@crd.schema(x_kubernetes_validations=[crd.Rule("self.size <= 10", message="size must be at most 10")])
class AppServiceSpec(crd.Model):
    """The desired state of an AppService."""

    size: int = crd.Field(1, ge=0)
    """How many pods to run."""
    image: str = crd.Field(
        max_length=512,
        x_kubernetes_validations=[
            crd.Rule("!self.endsWith(':latest')", message="image must not use the latest tag")
        ],
    )
    ports: list[Port] = crd.Field(default=[])


class AppServiceStatus(crd.Model):
    ready_replicas: int = 0


class AppServiceSpecV2(AppServiceSpec):
    paused: bool = False


@dataclass
class Models:
    group: str
    v1: type[crd.CustomResource]
    v2: type[crd.CustomResource]


def declare(group: str, conversion: crd.Conversion | None = None) -> Models:
    """The AppService example (v1) and a second version (v2, served, not stored) in ``group``."""

    @crd.resource(
        group=group,
        version="v1",
        short_names=["as"],
        printer_columns={"Size": ".spec.size", "Ready": ".status.readyReplicas"},
    )
    class AppService(crd.CustomResource):
        """AppService runs an image as a Deployment behind a NodePort Service."""

        spec: AppServiceSpec
        status: AppServiceStatus | None = None

    @crd.resource(
        group=group,
        version="v2",
        kind="AppService",
        short_names=["as"],
        printer_columns={"Size": ".spec.size", "Ready": ".status.readyReplicas"},
        storage=False,
        conversion=conversion,
    )
    class AppServiceV2(crd.CustomResource):
        spec: AppServiceSpecV2
        status: AppServiceStatus | None = None

    return Models(group, AppService, AppServiceV2)


@pytest.fixture
def models(kubectl: Kubectl) -> Iterator[Models]:
    """Models in a fresh group; the group's CRD is deleted after the test."""
    declared = declare(f"crdtest-{uuid.uuid4().hex[:8]}.example.com")
    yield declared
    kubectl("delete", "crd", declared.v1.resource_info().crd_name, "--ignore-not-found", "--wait=false")


Install = Callable[..., dict[str, Any]]


@pytest.fixture
def install(kubectl: Kubectl, tmp_path: Path) -> Install:
    """Write the CRDs of the given models with ``write_crds``, apply them, wait until Established."""

    def run(*classes: type[crd.CustomResource]) -> dict[str, Any]:
        (path,) = crd.write_crds(classes, tmp_path)
        kubectl("apply", "-f", str(path))
        name = classes[0].resource_info().crd_name
        wait_for_crds(kubectl, name)
        return dict(kubectl.json("get", "crd", name))

    return run


def app(models: Models, name: str, spec: dict[str, Any], version: str = "v1") -> str:
    return json.dumps(
        {
            "apiVersion": f"{models.group}/{version}",
            "kind": "AppService",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def test_generated_crd_is_accepted_established_and_structural(models, install):
    server_crd = install(models.v1)
    conditions = {c["type"]: c for c in server_crd["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert "NonStructuralSchema" not in conditions
    assert server_crd["spec"]["names"]["shortNames"] == ["as"]
    stored = server_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert stored["properties"]["spec"]["properties"]["size"] == {
        "default": 1,
        "description": "How many pods to run.",
        "minimum": 0,
        "type": "integer",
    }


def test_kustomization_written_beside_the_crd_applies_with_kubectl_k(models, kubectl, tmp_path):
    crd.write_crds([models.v1], tmp_path)
    kubectl("apply", "-k", str(tmp_path / "config" / "crd"))
    name = models.v1.resource_info().crd_name
    wait_for_crds(kubectl, name)


@pytest.mark.parametrize(
    ("spec", "field_path", "why"),
    [
        pytest.param(
            {"size": -1, "image": "nginx:1"}, "spec.size", "greater than or equal to 0", id="size-below-0"
        ),
        pytest.param(
            {"image": "nginx:1", "ports": [{"port": 80, "targetPort": 80, "nodePort": 99999}]},
            "spec.ports[0].nodePort",
            "less than or equal to 32767",
            id="node-port-above-range",
        ),
        pytest.param({"image": 5}, "spec.image", "must be of type string", id="wrong-type"),
        pytest.param({"size": 1}, "spec.image", "Required value", id="missing-required"),
    ],
)
def test_invalid_objects_are_rejected_naming_the_field(
    models, install, kubectl, namespace, spec, field_path, why
):
    install(models.v1)
    result = kubectl("apply", "-n", namespace, "-f", "-", input=app(models, "bad", spec), check=False)
    assert result.returncode != 0
    assert field_path in result.stderr
    assert why in result.stderr


def test_defaults_are_applied_by_the_server(models, install, kubectl, namespace):
    install(models.v1)
    kubectl("apply", "-n", namespace, "-f", "-", input=app(models, "web", {"image": "nginx:1"}))
    obj = kubectl.json("get", f"appservices.{models.group}", "web", "-n", namespace)
    assert obj["spec"]["size"] == 1
    assert obj["spec"]["ports"] == []
    parsed = models.v1.model_validate(obj)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == obj


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"size": 11, "image": "nginx:1"}, "size must be at most 10", id="model-rule"),
        pytest.param({"image": "nginx:latest"}, "image must not use the latest tag", id="field-rule"),
    ],
)
def test_cel_rules_are_enforced_with_their_message(models, install, kubectl, namespace, spec, message):
    install(models.v1)
    result = kubectl("apply", "-n", namespace, "-f", "-", input=app(models, "cel", spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    ok = kubectl(
        "apply", "-n", namespace, "-f", "-", input=app(models, "cel", {"size": 10, "image": "nginx:1"})
    )
    assert ok.returncode == 0


def test_kubectl_get_by_short_name_shows_the_printer_columns(models, install, kubectl, namespace):
    install(models.v1)
    kubectl("apply", "-n", namespace, "-f", "-", input=app(models, "web", {"size": 3, "image": "nginx:1"}))
    kubectl(
        "patch",
        f"appservices.{models.group}",
        "web",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"readyReplicas": 2}}',
    )

    def shows_columns() -> bool:
        lines = kubectl("get", "as", "-n", namespace).stdout.splitlines()
        return (
            len(lines) == 2
            and lines[0].split() == ["NAME", "SIZE", "READY", "AGE"]
            and lines[1].split()[:3]
            == [
                "web",
                "3",
                "2",
            ]
        )

    eventually(shows_columns, timeout=30, what="kubectl get as showing NAME SIZE READY AGE for web")


def test_multi_version_crd_with_v1_storage_and_v2_served_is_accepted(models, install, kubectl, namespace):
    server_crd = install(models.v1, models.v2)
    versions = {v["name"]: (v["served"], v["storage"]) for v in server_crd["spec"]["versions"]}
    assert versions == {"v1": (True, True), "v2": (True, False)}
    assert server_crd["status"]["storedVersions"] == ["v1"]
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=app(models, "web", {"image": "nginx:1", "paused": True}, version="v2"),
    )
    as_v2 = kubectl.json("get", f"appservices.v2.{models.group}", "web", "-n", namespace)
    assert as_v2["apiVersion"] == f"{models.group}/v2"
    # Stored as v1 with strategy None: the v2-only field is pruned by the v1 schema (what a
    # conversion webhook would exist to prevent), the shared fields are served at both versions.
    assert "paused" not in as_v2["spec"]
    assert as_v2["spec"]["image"] == "nginx:1"
    as_v1 = kubectl.json("get", f"appservices.v1.{models.group}", "web", "-n", namespace)
    assert as_v1["apiVersion"] == f"{models.group}/v1"
    assert as_v1["spec"]["size"] == 1


def test_multi_version_crd_with_a_conversion_webhook_placeholder_is_accepted(kubectl, install):
    declared = declare(f"crdtest-{uuid.uuid4().hex[:8]}.example.com", conversion=crd.Conversion())
    try:
        server_crd = install(declared.v1, declared.v2)
        conversion = server_crd["spec"]["conversion"]
        assert conversion["strategy"] == "Webhook"
        assert conversion["webhook"]["clientConfig"]["service"]["name"] == "webhook-service"
        assert conversion["webhook"]["conversionReviewVersions"] == ["v1"]
    finally:
        kubectl("delete", "crd", declared.v1.resource_info().crd_name, "--ignore-not-found", "--wait=false")


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Endpoint(crd.Model):
    name: str
    port: int = 80


class Everything(crd.Model):
    """One field per construct the rewriter handles."""

    target: int | str = 8080
    ratio: float = crd.Field(0.5, gt=0, lt=1)
    mode: Literal["fixed"] = "fixed"
    color: Color = Color.RED
    tags: set[str] = crd.Field(default=set())
    labels: dict[str, str] = crd.Field(default={}, max_length=8)
    endpoints: list[Endpoint] = crd.Field(
        default=[], x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["name"]
    )
    config: dict[str, Any] = crd.Field(default={})
    template: dict[str, Any] | None = crd.Field(None, x_kubernetes_embedded_resource=True)
    started_at: datetime.datetime | None = None
    uid: uuid.UUID | None = None
    name: str = crd.Field("x", pattern=r"^[a-z]+$", min_length=1, max_length=20)
    extra: Endpoint | None = None


def test_every_rewritten_construct_is_accepted_as_structural_and_enforced(kubectl, install, namespace):
    group = f"crdtest-{uuid.uuid4().hex[:8]}.example.com"

    @crd.resource(group=group, version="v1")
    class Rich(crd.CustomResource):
        spec: Everything

    try:
        server_crd = install(Rich)
        conditions = {c["type"] for c in server_crd["status"]["conditions"]}
        assert "NonStructuralSchema" not in conditions

        def rich(name: str, spec: dict[str, Any]) -> str:
            return json.dumps(
                {"apiVersion": f"{group}/v1", "kind": "Rich", "metadata": {"name": name}, "spec": spec}
            )

        kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=rich("as-int", {"target": 80, "config": {"a": {"b": 1}}}),
        )
        kubectl("apply", "-n", namespace, "-f", "-", input=rich("as-str", {"target": "http"}))
        stored = kubectl.json("get", f"rich.{group}", "as-int", "-n", namespace)
        assert stored["spec"]["config"] == {"a": {"b": 1}}  # preserved, not pruned
        assert stored["spec"]["ratio"] == 0.5  # defaults applied
        assert stored["spec"]["color"] == "red"
        for spec, message in [
            ({"ratio": 0}, "spec.ratio"),
            ({"color": "green"}, "spec.color"),
            ({"mode": "other"}, "spec.mode"),
            ({"tags": ["a", "a"]}, "spec.tags[1]"),
            ({"endpoints": [{"name": "a"}, {"name": "a"}]}, "spec.endpoints[1]"),
            ({"name": "UPPER"}, "spec.name"),
            ({"template": {"kind": "Pod"}}, "spec.template"),
        ]:
            result = kubectl("apply", "-n", namespace, "-f", "-", input=rich("bad", spec), check=False)
            assert result.returncode != 0, spec
            assert message in result.stderr, (spec, result.stderr)
    finally:
        kubectl("delete", "crd", Rich.resource_info().crd_name, "--ignore-not-found", "--wait=false")
