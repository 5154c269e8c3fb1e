"""CustomResourceDefinitions from declared classes: names, versions, columns, subresources, files."""

from __future__ import annotations

import datetime

import pytest
import yaml

from kubeloop import crd


class Spec(crd.Model):
    size: int = crd.Field(1, ge=0)
    image: str
    paused: bool = False
    ratio: float = 0.5
    started_at: datetime.datetime | None = None
    target: int | str = 80
    labels: dict[str, str] = crd.Field(default={})
    tags: list[str] = crd.Field(default=[])


class Status(crd.Model):
    ready_replicas: int = 0
    phase: str = ""


@crd.resource(
    group="crdtest.example.com",
    version="v1",
    short_names=["as"],
    categories=["all"],
    printer_columns={"Size": ".spec.size", "Ready": ".status.readyReplicas"},
)
class AppService(crd.CustomResource):
    """An application."""

    spec: Spec
    status: Status | None = None


def test_to_crd_builds_an_apiextensions_v1_crd():
    out = crd.to_crd(AppService)
    assert out["apiVersion"] == "apiextensions.k8s.io/v1"
    assert out["kind"] == "CustomResourceDefinition"
    assert out["metadata"] == {"name": "appservices.crdtest.example.com"}
    assert out["spec"]["group"] == "crdtest.example.com"
    assert out["spec"]["scope"] == "Namespaced"
    assert out["spec"]["names"] == {
        "kind": "AppService",
        "listKind": "AppServiceList",
        "plural": "appservices",
        "singular": "appservice",
        "shortNames": ["as"],
        "categories": ["all"],
    }
    (version,) = out["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}


def test_root_schema_has_plain_apiversion_kind_metadata_and_requires_spec():
    schema = crd.to_crd(AppService)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["type"] == "object"
    assert schema["description"] == "An application."
    assert list(schema["properties"])[:3] == ["apiVersion", "kind", "metadata"]
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["properties"]["kind"]["type"] == "string"
    assert schema["required"] == ["spec"]
    assert schema["properties"]["spec"]["properties"]["size"] == {
        "type": "integer",
        "minimum": 0,
        "default": 1,
    }


def test_printer_columns_from_a_dict_get_inferred_types_and_an_age_column():
    columns = crd.to_crd(AppService)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns == [
        {"jsonPath": ".spec.size", "name": "Size", "type": "integer"},
        {"jsonPath": ".status.readyReplicas", "name": "Ready", "type": "integer"},
        {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".spec.size", "integer"),
        (".spec.ratio", "number"),
        (".spec.paused", "boolean"),
        (".spec.image", "string"),
        (".spec.startedAt", "date"),
        (".spec.target", "string"),
        (".spec.labels.app", "string"),
        (".spec.tags[0]", "string"),
        (".status.phase", "string"),
        (".metadata.generation", "integer"),
        (".metadata.creationTimestamp", "date"),
        (".metadata.name", "string"),
    ],
)
def test_printer_column_type_is_inferred_from_the_model_field(path, expected):
    @crd.resource(group="crdtest.example.com", version="v1", printer_columns={"Col": path})
    class Inferred(crd.CustomResource):
        spec: Spec
        status: Status | None = None

    (column, *_) = crd.to_crd(Inferred)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert column["type"] == expected


def test_printer_columns_as_specs_keep_type_description_priority():
    @crd.resource(
        group="crdtest.example.com",
        version="v1",
        printer_columns=[
            crd.PrinterColumn("Image", ".spec.image", description="the image", priority=1),
            {"name": "Size", "jsonPath": ".spec.size", "type": "string"},
            crd.PrinterColumn("Age", ".metadata.creationTimestamp"),
        ],
    )
    class Columns(crd.CustomResource):
        spec: Spec

    columns = crd.to_crd(Columns)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns == [
        {
            "jsonPath": ".spec.image",
            "name": "Image",
            "type": "string",
            "description": "the image",
            "priority": 1,
        },
        {"jsonPath": ".spec.size", "name": "Size", "type": "string"},
        {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
    ]


def test_printer_column_on_a_missing_field_fails_naming_the_column():
    @crd.resource(group="crdtest.example.com", version="v1", printer_columns={"Oops": ".spec.sise"})
    class Typo(crd.CustomResource):
        spec: Spec

    with pytest.raises(crd.CRDSchemaError, match="no field 'sise'") as caught:
        crd.to_crd(Typo)
    assert "Oops" in caught.value.path


def test_no_columns_declared_means_no_columns_at_all():
    @crd.resource(group="crdtest.example.com", version="v1")
    class Bare(crd.CustomResource):
        spec: Spec

    assert "additionalPrinterColumns" not in crd.to_crd(Bare)["spec"]["versions"][0]


def test_scale_and_status_subresources():
    @crd.resource(
        group="crdtest.example.com", version="v1", scale=crd.Scale(".spec.size", ".status.readyReplicas")
    )
    class Scaled(crd.CustomResource):
        spec: Spec
        status: Status | None = None

    @crd.resource(group="crdtest.example.com", version="v1", status=False)
    class NoStatus(crd.CustomResource):
        spec: Spec

    assert crd.to_crd(Scaled)["spec"]["versions"][0]["subresources"] == {
        "status": {},
        "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.readyReplicas"},
    }
    assert "subresources" not in crd.to_crd(NoStatus)["spec"]["versions"][0]


def test_cluster_scope():
    @crd.resource(group="crdtest.example.com", version="v1", scope="Cluster")
    class Global(crd.CustomResource):
        spec: Spec

    assert crd.to_crd(Global)["spec"]["scope"] == "Cluster"


# Several versions of one kind.


def _versions(storage_v1: bool = True, storage_v2: bool = False, **v2_options):
    @crd.resource(group="crdtest.example.com", version="v1", kind="Multi", storage=storage_v1)
    class MultiV1(crd.CustomResource):
        spec: Spec

    @crd.resource(group="crdtest.example.com", version="v2", kind="Multi", storage=storage_v2, **v2_options)
    class MultiV2(crd.CustomResource):
        spec: Status

    return MultiV1, MultiV2


def test_several_versions_make_one_crd_ordered_by_kubernetes_version_priority():
    @crd.resource(group="crdtest.example.com", version="v2beta1", kind="Multi", storage=False)
    class MultiV2beta1(crd.CustomResource):
        spec: Spec

    v1, v2 = _versions()
    out = crd.to_crd([MultiV2beta1, v1, v2])
    assert [v["name"] for v in out["spec"]["versions"]] == ["v2", "v1", "v2beta1"]
    assert [v["storage"] for v in out["spec"]["versions"]] == [False, True, False]
    v2_schema = out["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "readyReplicas" in v2_schema["properties"]["spec"]["properties"]


@pytest.mark.parametrize(
    ("storage_v1", "storage_v2", "found"),
    [pytest.param(True, True, "found 2", id="two"), pytest.param(False, False, "found 0", id="none")],
)
def test_exactly_one_storage_version_is_checked(storage_v1, storage_v2, found):
    with pytest.raises(crd.CRDError, match=f"exactly one version must be the storage version, {found}"):
        crd.to_crd(_versions(storage_v1, storage_v2))


def test_versions_must_agree_on_names():
    with pytest.raises(crd.CRDError, match="short_names"):
        crd.to_crd(_versions(short_names=["mu"]))


def test_one_crd_holds_one_kind_and_to_crds_groups_by_kind():
    v1, v2 = _versions()
    with pytest.raises(crd.CRDError, match="one CRD holds one kind"):
        crd.to_crd([AppService, v1])
    out = crd.to_crds([v2, AppService, v1])
    assert [c["metadata"]["name"] for c in out] == [
        "appservices.crdtest.example.com",
        "multis.crdtest.example.com",
    ]
    assert len(out[1]["spec"]["versions"]) == 2


def test_conversion_webhook_placeholder():
    v1, v2 = _versions(conversion="Webhook")
    assert crd.to_crd([v1, v2])["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {"name": "webhook-service", "namespace": "system", "path": "/convert"}
            },
            "conversionReviewVersions": ["v1"],
        },
    }


def test_conversion_absent_unless_declared():
    assert "conversion" not in crd.to_crd(_versions())["spec"]


# Files.


def test_write_crds_writes_kustomize_ready_bases_and_kustomization(tmp_path):
    v1, v2 = _versions()
    written = crd.write_crds([AppService, v1, v2], tmp_path)
    bases = tmp_path / "config" / "crd" / "bases"
    assert written == [
        bases / "crdtest.example.com_appservices.yaml",
        bases / "crdtest.example.com_multis.yaml",
    ]
    assert yaml.safe_load(written[0].read_text()) == crd.to_crd(AppService)
    kustomization = yaml.safe_load((tmp_path / "config" / "crd" / "kustomization.yaml").read_text())
    assert kustomization == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["bases/crdtest.example.com_appservices.yaml", "bases/crdtest.example.com_multis.yaml"],
    }


def test_write_crds_keeps_what_an_existing_kustomization_holds(tmp_path):
    crd_dir = tmp_path / "config" / "crd"
    crd_dir.mkdir(parents=True)
    (crd_dir / "kustomization.yaml").write_text(
        "resources:\n- bases/other.example.com_things.yaml\npatches:\n- path: patches/webhook.yaml\n"
    )
    crd.write_crds(AppService, tmp_path)
    crd.write_crds(AppService, tmp_path)  # idempotent
    kustomization = yaml.safe_load((crd_dir / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "bases/other.example.com_things.yaml",
        "bases/crdtest.example.com_appservices.yaml",
    ]
    assert kustomization["patches"] == [{"path": "patches/webhook.yaml"}]


def test_to_yaml_is_multi_document_yaml_of_to_crds():
    v1, v2 = _versions()
    assert list(yaml.safe_load_all(crd.to_yaml([AppService, v1, v2]))) == crd.to_crds([AppService, v1, v2])


class Cat(crd.Model):
    meow: bool = True


class Dog(crd.Model):
    bark: bool = True


class PetSpec(crd.Model):
    pet: Cat | Dog


@crd.resource(group="crdtest.example.com", version="v1")
class PetShop(crd.CustomResource):
    spec: PetSpec


def test_write_crds_writes_nothing_when_any_model_fails(tmp_path):
    with pytest.raises(crd.CRDSchemaError) as caught:
        crd.write_crds([AppService, PetShop], tmp_path)
    assert caught.value.path == "PetShop.spec.pet"
    assert caught.value.model == "PetSpec"
    assert not (tmp_path / "config").exists()


def test_write_crds_leaves_existing_files_as_they_were_when_a_model_fails(tmp_path):
    (first,) = crd.write_crds([AppService], tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "config").rglob("*") if p.is_file()}
    with pytest.raises(crd.CRDSchemaError):
        crd.write_crds([AppService, PetShop], tmp_path)
    after = {p: p.read_bytes() for p in (tmp_path / "config").rglob("*") if p.is_file()}
    assert after == before
    assert first in after


def test_an_interrupted_write_keeps_the_old_file_whole_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "config" / "crd" / "bases" / "x.yaml"
    crd.write_file_atomically(path, "old: content\n")
    path.chmod(0o640)

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("kubeloop.crd._generate.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        crd.write_file_atomically(path, "new: content\n" * 1000)
    assert path.read_text() == "old: content\n"
    assert [p.name for p in path.parent.iterdir()] == ["x.yaml"]
    monkeypatch.undo()
    crd.write_file_atomically(path, "new: content\n")
    assert path.read_text() == "new: content\n"
    assert path.stat().st_mode & 0o777 == 0o640  # the file keeps its mode
    assert [p.name for p in path.parent.iterdir()] == ["x.yaml"]
