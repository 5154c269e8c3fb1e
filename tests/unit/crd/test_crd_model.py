"""Model behaviour: camelCase aliases both ways, unknown fields kept, apiVersion/kind filled in."""

from __future__ import annotations

import copy

import pydantic
import pytest

from kubeloop import crd


class Port(crd.Model):
    port: int
    target_port: int
    node_port: int | None = crd.Field(None, ge=30000, le=32767)


class AppServiceSpec(crd.Model):
    size: int = crd.Field(1, ge=0)
    image: str
    ports: list[Port] = crd.Field(default=[])


class AppServiceStatus(crd.Model):
    ready_replicas: int = 0


@crd.resource(group="app.example.com", version="v1", short_names=["as"])
class AppService(crd.CustomResource):
    spec: AppServiceSpec
    status: AppServiceStatus | None = None


SERVER_OBJECT = {
    "apiVersion": "app.example.com/v1",
    "kind": "AppService",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "0b3c",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app": "web"},
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {
        "size": 2,
        "image": "nginx:1.27",
        "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "appProtocol": "http"}],
        "futureField": {"added": "in v2"},
    },
    "status": {"readyReplicas": 2, "conditions": [{"type": "Ready", "status": "True"}]},
    "unknownTopLevel": True,
}


def test_round_trip_keeps_unknown_fields_in_spec_metadata_status_and_root():
    before = copy.deepcopy(SERVER_OBJECT)
    app = AppService.model_validate(SERVER_OBJECT)
    assert app.model_dump(mode="json", by_alias=True, exclude_unset=True) == before
    assert before == SERVER_OBJECT


def test_unknown_fields_survive_a_change_to_known_fields():
    app = AppService.model_validate(SERVER_OBJECT)
    app.spec.size = 5
    app.spec.ports[0].target_port = 9090
    out = app.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert out["spec"]["size"] == 5
    assert out["spec"]["ports"][0] == {
        "port": 80,
        "targetPort": 9090,
        "nodePort": 30080,
        "appProtocol": "http",
    }
    assert out["spec"]["futureField"] == {"added": "in v2"}
    assert out["metadata"]["managedFields"] == SERVER_OBJECT["metadata"]["managedFields"]  # type: ignore[index]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}]


def test_known_fields_are_typed_attributes_under_snake_case_names():
    app = AppService.model_validate(SERVER_OBJECT)
    assert app.spec.ports[0].target_port == 8080
    assert app.status is not None
    assert app.status.ready_replicas == 2
    assert app.metadata.resource_version == "42"
    assert app.metadata.name == "web"


def test_both_wire_and_python_names_validate():
    assert Port.model_validate({"port": 1, "targetPort": 2}) == Port(port=1, target_port=2)
    assert Port.model_validate({"port": 1, "target_port": 2}).target_port == 2


def test_exclude_unset_leaves_out_defaults_not_given():
    app = AppService.model_validate({"spec": {"image": "nginx"}, "metadata": {"name": "x"}})
    assert app.model_dump(by_alias=True, exclude_unset=True) == {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": "x"},
        "spec": {"image": "nginx"},
    }
    assert app.spec.size == 1


def test_api_version_and_kind_are_filled_in_and_count_as_set():
    app = AppService(spec=AppServiceSpec(image="nginx"), metadata=crd.ObjectMeta(name="x"))
    assert app.api_version == "app.example.com/v1"
    assert app.kind == "AppService"
    assert app.model_dump(by_alias=True, exclude_unset=True)["apiVersion"] == "app.example.com/v1"


def test_metadata_accepts_a_dict():
    app = AppService.model_validate(
        {"metadata": {"name": "x", "ownerReferences": []}, "spec": {"image": "i"}}
    )
    assert app.metadata.name == "x"
    assert app.metadata.owner_references == []


def test_an_object_of_another_version_or_kind_is_refused():
    with pytest.raises(pydantic.ValidationError, match=r"app\.example\.com/v1"):
        AppService.model_validate({**SERVER_OBJECT, "apiVersion": "app.example.com/v2"})
    with pytest.raises(pydantic.ValidationError, match="AppService"):
        AppService.model_validate({**SERVER_OBJECT, "kind": "Other"})


def test_field_constraints_validate_in_python_too():
    with pytest.raises(pydantic.ValidationError, match=r"nodePort|node_port"):
        Port.model_validate({"port": 1, "targetPort": 2, "nodePort": 99999})


def test_resource_info_requires_the_decorator():
    class Undeclared(crd.CustomResource):
        pass

    with pytest.raises(TypeError, match="not declared"):
        Undeclared.resource_info()


def test_subclass_of_a_declared_resource_is_not_declared_by_inheritance():
    class Sub(AppService):
        pass

    with pytest.raises(TypeError, match="not declared"):
        Sub.resource_info()


def test_fields_in_pydantics_model_namespace_are_allowed(recwarn):
    class Inference(crd.Model):
        model_name: str

    assert Inference.model_validate({"modelName": "llama"}).model_name == "llama"
    assert not [w for w in recwarn if "protected namespace" in str(w.message)]


def test_field_merges_json_schema_extra_with_kubernetes_options():
    class Spec(crd.Model):
        items: list[str] = crd.Field(
            default=[], json_schema_extra={"x-kubernetes-custom": 1}, x_kubernetes_list_type="atomic"
        )

    node = crd.openapi_schema(Spec)["properties"]["items"]
    assert node["x-kubernetes-custom"] == 1
    assert node["x-kubernetes-list-type"] == "atomic"
