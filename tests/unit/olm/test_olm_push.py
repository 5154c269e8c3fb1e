"""Catalogs in ConfigMaps: one per package, read back equal, the size limit, problems naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest
import semver
import yaml

from kubeloop.olm import Bundle, Catalog, OLMError, bundle_to_fbc, catalog_configmaps, render_catalog
from kubeloop.olm._push import CATALOG_LABEL, MAX_CONFIGMAP_BYTES, catalog_in_configmaps


def bundle(package: str, version: str, replaces: str | None = None, *, padding: int = 0) -> Bundle:
    """A minimal bundle; ``padding`` bytes of annotation make it big."""
    name = f"{package}.v{version}"
    csv: dict[str, Any] = {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name, "annotations": {"padding": "x" * padding}},
        "spec": {"version": version, "replaces": replaces},
    }
    prop = {"type": "olm.package", "value": {"packageName": package, "version": version}}
    return Bundle(
        name,
        package,
        semver.Version.parse(version),
        (prop,),
        (csv,),
        channels=("stable",),
        default_channel="stable",
    )


@pytest.fixture
def catalog() -> Catalog:
    return render_catalog(
        [bundle("apples", "1.0.0"), bundle("apples", "1.1.0", "apples.v1.0.0"), bundle("pears", "0.1.0")]
    )


def configmap(name: str, data: dict[str, str], namespace: str = "cat") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": data}


def test_a_catalog_becomes_a_labelled_configmap_per_package(catalog: Catalog) -> None:
    configmaps = catalog_configmaps(catalog, "fruit", "cat")

    assert [cm["metadata"]["name"] for cm in configmaps] == ["fruit-apples", "fruit-pears"]
    assert all(cm["metadata"]["namespace"] == "cat" for cm in configmaps)
    assert all(cm["metadata"]["labels"] == {CATALOG_LABEL: "fruit"} for cm in configmaps)
    assert [list(cm["data"]) for cm in configmaps] == [["apples.yaml"], ["pears.yaml"]]
    docs = list(yaml.safe_load_all(configmaps[0]["data"]["apples.yaml"]))
    assert [(d["schema"], d["name"]) for d in docs] == [
        ("olm.package", "apples"),
        ("olm.channel", "stable"),
        ("olm.bundle", "apples.v1.0.0"),
        ("olm.bundle", "apples.v1.1.0"),
    ]


def test_the_configmaps_load_back_as_the_same_catalog_with_a_stable_digest(catalog: Catalog) -> None:
    configmaps = catalog_configmaps(catalog, "fruit", "cat")
    loaded = catalog_in_configmaps(configmaps, "in test")

    assert loaded.catalog == catalog
    assert loaded.digest.startswith("sha256:")
    assert catalog_in_configmaps(reversed(configmaps), "in test").digest == loaded.digest
    changed = render_catalog([bundle("apples", "1.0.0"), bundle("pears", "0.1.0")])
    assert (
        catalog_in_configmaps(catalog_configmaps(changed, "fruit", "cat"), "in test").digest != loaded.digest
    )


def test_a_package_too_big_for_a_configmap_is_named() -> None:
    big = render_catalog([bundle("small", "1.0.0"), bundle("huge", "1.0.0", padding=MAX_CONFIGMAP_BYTES)])
    with pytest.raises(
        OLMError, match=r"^package huge is \d+ bytes as a catalog file, more than a ConfigMap"
    ):
        catalog_configmaps(big, "fruit", "cat")


def test_a_long_catalog_and_package_name_gives_a_valid_configmap_name() -> None:
    long = render_catalog([bundle("p" * 60, "1.0.0")])
    (cm,) = catalog_configmaps(long, "c" * 60, "cat")
    assert len(cm["metadata"]["name"]) <= 63


def test_json_keys_and_documents_split_across_configmaps_load() -> None:
    package = {"schema": "olm.package", "name": "plums", "defaultChannel": "stable"}
    entries = [{"name": "plums.v1.0.0"}]
    channel = {"schema": "olm.channel", "package": "plums", "name": "stable", "entries": entries}
    bundle_doc = bundle_to_fbc(bundle("plums", "1.0.0"))
    configmaps = [
        configmap("a", {"package.json": json.dumps(package) + json.dumps(channel)}),
        configmap("b", {"bundles.yaml": yaml.safe_dump(bundle_doc)}),
    ]
    loaded = catalog_in_configmaps(configmaps, "in test").catalog
    assert list(loaded.packages) == ["plums"]
    assert [b.name for b in loaded.bundles_of("plums")] == ["plums.v1.0.0"]


def test_no_configmap_with_data_is_an_error_saying_where() -> None:
    with pytest.raises(OLMError, match=r"^no catalog ConfigMap \(with data\) in namespace x$"):
        catalog_in_configmaps([configmap("empty", {})], "in namespace x")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"bad.yaml": "a: [unclosed"}, r"cat/broken/bad\.yaml:\d+: invalid YAML"),
        ({"bad.json": "{"}, r"cat/broken/bad\.json:1: invalid JSON"),
        ({"list.yaml": "- 1\n"}, r"cat/broken/list\.yaml: document 1 is not a mapping but list"),
        (
            {"orphan.yaml": "schema: olm.channel\nname: stable\npackage: nope\nentries: [{name: x}]\n"},
            r"cat/broken/orphan\.yaml: channel stable of unknown package nope",
        ),
    ],
    ids=["yaml", "json", "not-a-mapping", "invalid-catalog"],
)
def test_problems_name_the_configmap_and_key(data: dict[str, str], problem: str) -> None:
    with pytest.raises(OLMError, match=rf"^invalid catalog: .*{problem}"):
        catalog_in_configmaps([configmap("broken", data)], "in test")
