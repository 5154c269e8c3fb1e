"""registry+v1 bundle directories and olm.bundle documents: loading, writing, FBC both ways, errors."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import semver
import yaml

from kubeloop.olm import OLMError
from kubeloop.olm._bundle import (
    bundle_from_fbc,
    bundle_to_fbc,
    load_bundle,
    load_documents,
    manifest_file_name,
    write_bundle,
)

ANNOTATIONS = {
    "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
    "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
    "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
    "operators.operatorframework.io.bundle.package.v1": "memcached",
    "operators.operatorframework.io.bundle.channels.v1": "alpha, stable",
    "operators.operatorframework.io.bundle.channel.default.v1": "stable",
}
CSV: dict[str, Any] = {
    "apiVersion": "operators.coreos.com/v1alpha1",
    "kind": "ClusterServiceVersion",
    "metadata": {"name": "memcached.v1.2.3"},
    "spec": {
        "version": "1.2.3",
        "customresourcedefinitions": {
            "required": [{"name": "caches.infra.example.com", "version": "v1beta1", "kind": "Cache"}]
        },
    },
}
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "memcacheds.cache.example.com"},
    "spec": {
        "group": "cache.example.com",
        "names": {"kind": "Memcached", "plural": "memcacheds"},
        "versions": [{"name": "v1alpha1"}, {"name": "v1"}],
    },
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metrics"}, "spec": {"ports": []}}
ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "viewer"},
    "rules": [],
}
PACKAGE_REQUIRED = {
    "type": "olm.package.required",
    "value": {"packageName": "etcd", "versionRange": ">=3.0.0"},
}


def write_dir(root: Path, files: dict[str, str], annotations: dict[str, str] | None = None) -> Path:
    """A bundle directory: metadata/annotations.yaml plus ``files`` (paths relative to root)."""
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    doc = {"annotations": ANNOTATIONS if annotations is None else annotations}
    (root / "metadata" / "annotations.yaml").write_text(yaml.safe_dump(doc))
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def dumps(*docs: Any) -> str:
    return yaml.safe_dump_all(docs)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return write_dir(
        tmp_path / "bundle",
        {
            "manifests/a.yaml": dumps(CSV, SERVICE),  # multi-document
            "manifests/b.json": json.dumps(CRD) + "\n" + json.dumps(ROLE),  # concatenated JSON
            "manifests/notes.txt": "not a manifest",
            "metadata/properties.yaml": yaml.safe_dump({"properties": [PACKAGE_REQUIRED]}),
        },
    )


def test_load_bundle_reads_name_version_package_and_channels(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    assert bundle.name == "memcached.v1.2.3"
    assert bundle.version == semver.Version(1, 2, 3)
    assert bundle.package == "memcached"
    assert bundle.channels == ("alpha", "stable")
    assert bundle.default_channel == "stable"
    assert bundle.image is None


def test_load_bundle_keeps_every_manifest_in_file_order(bundle_dir: Path) -> None:
    assert load_bundle(bundle_dir).objects == (CSV, SERVICE, CRD, ROLE)


def test_load_bundle_derives_properties_then_adds_properties_yaml(bundle_dir: Path) -> None:
    assert load_bundle(bundle_dir).properties == (
        {"type": "olm.package", "value": {"packageName": "memcached", "version": "1.2.3"}},
        {
            "type": "olm.gvk",
            "value": {"group": "cache.example.com", "kind": "Memcached", "version": "v1alpha1"},
        },
        {"type": "olm.gvk", "value": {"group": "cache.example.com", "kind": "Memcached", "version": "v1"}},
        {
            "type": "olm.gvk.required",
            "value": {"group": "infra.example.com", "kind": "Cache", "version": "v1beta1"},
        },
        PACKAGE_REQUIRED,
    )


def test_bundle_properties_feed_the_models_views(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    assert {str(g) for g in bundle.required_gvks} == {"infra.example.com/v1beta1, Kind=Cache"}
    assert len(bundle.provided_gvks) == 2
    assert [r.package for r in bundle.required_packages] == ["etcd"]


def test_write_bundle_then_load_bundle_gives_the_bundle_back(bundle_dir: Path, tmp_path: Path) -> None:
    bundle = load_bundle(bundle_dir)
    written = write_bundle(bundle, tmp_path / "out")
    again = load_bundle(written)
    assert again.properties == bundle.properties
    assert sorted(again.objects, key=manifest_file_name) == sorted(bundle.objects, key=manifest_file_name)
    assert (again.name, again.version, again.channels, again.default_channel) == (
        bundle.name,
        bundle.version,
        bundle.channels,
        bundle.default_channel,
    )


def test_write_bundle_names_files_like_operator_sdk(bundle_dir: Path, tmp_path: Path) -> None:
    out = write_bundle(load_bundle(bundle_dir), tmp_path / "out")
    assert sorted(p.name for p in (out / "manifests").iterdir()) == [
        "cache.example.com_memcacheds.yaml",
        "memcached.v1.2.3.clusterserviceversion.yaml",
        "metrics_v1_service.yaml",
        "viewer_rbac.authorization.k8s.io_v1_role.yaml",
    ]
    annotations = yaml.safe_load((out / "metadata" / "annotations.yaml").read_text())["annotations"]
    assert annotations == {**ANNOTATIONS, "operators.operatorframework.io.bundle.channels.v1": "alpha,stable"}


def test_write_bundle_writes_properties_yaml_with_only_what_manifests_do_not_give(
    bundle_dir: Path, tmp_path: Path
) -> None:
    bundle = load_bundle(bundle_dir)
    out = write_bundle(bundle, tmp_path / "with")
    assert yaml.safe_load((out / "metadata" / "properties.yaml").read_text()) == {
        "properties": [PACKAGE_REQUIRED]
    }
    plain = dataclasses.replace(bundle, properties=bundle.properties[:-1])
    assert not (write_bundle(plain, tmp_path / "without") / "metadata" / "properties.yaml").exists()


def test_write_bundle_refuses_a_bundle_without_channels(bundle_dir: Path, tmp_path: Path) -> None:
    bundle = dataclasses.replace(load_bundle(bundle_dir), channels=())
    with pytest.raises(OLMError, match=r"bundle memcached.v1.2.3 has no channels"):
        write_bundle(bundle, tmp_path / "out")


def test_write_bundle_refuses_two_objects_for_one_file(bundle_dir: Path, tmp_path: Path) -> None:
    bundle = load_bundle(bundle_dir)
    bundle = dataclasses.replace(bundle, objects=(*bundle.objects, SERVICE))
    with pytest.raises(OLMError, match=r"two objects would be written to manifests/metrics_v1_service.yaml"):
        write_bundle(bundle, tmp_path / "out")


def test_bundle_to_fbc_carries_properties_and_base64_objects(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    doc = bundle_to_fbc(bundle)
    assert {k: doc[k] for k in ("schema", "name", "package", "image")} == {
        "schema": "olm.bundle",
        "name": "memcached.v1.2.3",
        "package": "memcached",
        "image": "",
    }
    assert doc["properties"][: len(bundle.properties)] == list(bundle.properties)
    objects = [p["value"]["data"] for p in doc["properties"] if p["type"] == "olm.bundle.object"]
    assert [json.loads(base64.b64decode(data)) for data in objects] == list(bundle.objects)


def test_bundle_from_fbc_reverses_bundle_to_fbc(bundle_dir: Path) -> None:
    bundle = dataclasses.replace(load_bundle(bundle_dir), image="quay.io/x/memcached-bundle:v1.2.3")
    back = bundle_from_fbc(bundle_to_fbc(bundle))
    assert back == dataclasses.replace(bundle, channels=(), default_channel=None)
    # and through YAML, as a catalog file carries it
    assert bundle_from_fbc(yaml.safe_load(yaml.safe_dump(bundle_to_fbc(bundle)))) == back


def fbc(properties: list[dict[str, Any]], image: str = "quay.io/x/b:1") -> dict[str, Any]:
    return {
        "schema": "olm.bundle",
        "name": "b.v1.0.0",
        "package": "b",
        "image": image,
        "properties": properties,
    }


PKG_PROP = {"type": "olm.package", "value": {"packageName": "b", "version": "1.0.0"}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            fbc([PKG_PROP]),
            "bundle b.v1.0.0 references image quay.io/x/b:1 only; pulling bundle images is not supported: "
            "render the catalog from bundle directories",
            id="image-only",
        ),
        pytest.param(
            fbc([]), "bundle b.v1.0.0: needs exactly one olm.package property, found 0", id="no-package"
        ),
        pytest.param(
            fbc([{"type": "olm.package", "value": {"packageName": "other", "version": "1.0.0"}}]),
            "bundle b.v1.0.0: package 'b' does not match its olm.package property 'other'",
            id="other-package",
        ),
        pytest.param(
            fbc([{"type": "olm.package", "value": {"packageName": "b", "version": "v1.0.0"}}]),
            "bundle b.v1.0.0: version 'v1.0.0' is not semver: drop the leading 'v'",
            id="v-version",
        ),
        pytest.param(
            fbc([PKG_PROP, {"type": "olm.bundle.object", "value": {"data": "not base64!"}}]),
            "bundle b.v1.0.0: an olm.bundle.object is not base64 of a JSON object",
            id="bad-object",
        ),
    ],
)
def test_bundle_from_fbc_errors_name_the_bundle(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(OLMError) as raised:
        bundle_from_fbc(doc)
    assert str(raised.value).startswith(message)


def csv_with(spec: dict[str, Any]) -> dict[str, Any]:
    return {**CSV, "spec": spec}


@pytest.mark.parametrize(
    ("files", "annotations", "message"),
    [
        pytest.param(
            {"manifests/c.yaml": dumps(csv_with({"version": "1.2.3"}))},
            {**ANNOTATIONS, "operators.operatorframework.io.bundle.mediatype.v1": "helm"},
            "metadata/annotations.yaml: operators.operatorframework.io.bundle.mediatype.v1 is 'helm'; "
            "only 'registry+v1' is supported",
            id="wrong-mediatype",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(csv_with({"version": "1.2.3"}))},
            {k: v for k, v in ANNOTATIONS.items() if "channels" not in k},
            "metadata/annotations.yaml: annotation "
            "operators.operatorframework.io.bundle.channels.v1 is missing",
            id="no-channels",
        ),
        pytest.param(
            {"manifests/c.yaml": "kind: ClusterServiceVersion\nspec: [unclosed\n"},
            None,
            "manifests/c.yaml:3: invalid YAML",
            id="bad-yaml",
        ),
        pytest.param(
            {"manifests/c.json": '{"kind": "Service",\n "x": }'},
            None,
            "manifests/c.json:2: invalid JSON",
            id="bad-json",
        ),
        pytest.param(
            {"manifests/c.yaml": "- a list\n"},
            None,
            "manifests/c.yaml: document 1 is not a mapping but list",
            id="not-a-mapping",
        ),
        pytest.param(
            {"manifests/s.yaml": dumps(SERVICE)},
            None,
            "manifests: a bundle has exactly one ClusterServiceVersion (none found)",
            id="no-csv",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(CSV), "manifests/d.yaml": dumps(CSV)},
            None,
            "manifests: a bundle has exactly one ClusterServiceVersion (c.yaml, d.yaml)",
            id="two-csvs",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(csv_with({}))},
            None,
            "manifests/c.yaml: ClusterServiceVersion memcached.v1.2.3 has no spec.version",
            id="no-version",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(csv_with({"version": "v1.2.3"}))},
            None,
            "manifests/c.yaml: version 'v1.2.3' is not semver: drop the leading 'v'",
            id="v-version",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(csv_with({"version": "1.2"}))},
            None,
            "manifests/c.yaml: version '1.2' is not semver",
            id="short-version",
        ),
        pytest.param(
            {"manifests/c.yaml": dumps(CSV), "metadata/properties.yaml": "properties: {a: 1}\n"},
            None,
            "metadata/properties.yaml: 'properties:' must be a list",
            id="bad-properties",
        ),
    ],
)
def test_load_bundle_errors_name_the_file_and_the_problem(
    tmp_path: Path, files: dict[str, str], annotations: dict[str, str] | None, message: str
) -> None:
    root = write_dir(tmp_path / "bundle", files, annotations)
    with pytest.raises(OLMError) as raised:
        load_bundle(root)
    assert str(raised.value).startswith(f"{root}/{message}")
    assert "\n" not in str(raised.value)


def test_load_bundle_without_annotations_yaml_says_so(tmp_path: Path) -> None:
    with pytest.raises(OLMError) as raised:
        load_bundle(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}/metadata/annotations.yaml: no such file; "
        "a registry+v1 bundle needs metadata/annotations.yaml"
    )


def test_load_documents_skips_empty_yaml_documents(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("---\n---\na: 1\n---\n")
    assert load_documents(path) == [{"a": 1}]
