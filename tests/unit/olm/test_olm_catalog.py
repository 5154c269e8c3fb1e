"""File-based catalogs: rendered from bundles, written and loaded back, upstream files, validation."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import semver
import yaml

from kubeloop.olm import Bundle, Catalog, ChannelEntry, OLMError, Package
from kubeloop.olm._bundle import bundle_to_fbc, load_bundle, write_bundle
from kubeloop.olm._catalog import add_bundle, load_catalog, render_catalog, write_catalog
from kubeloop.olm._generate import generate_bundle

EXAMPLE = Path(__file__).parents[3] / "examples" / "appservice"


def make_bundle(
    package: str,
    version: str,
    replaces: str | None = None,
    *,
    skips: tuple[str, ...] = (),
    skip_range: str | None = None,
    channels: tuple[str, ...] = ("alpha",),
) -> Bundle:
    """A minimal bundle whose CSV carries the upgrade edges."""
    name = f"{package}.v{version}"
    csv: dict[str, Any] = {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name, "annotations": {"olm.skipRange": skip_range} if skip_range else {}},
        "spec": {"version": version, "replaces": replaces, "skips": list(skips)},
    }
    prop = {"type": "olm.package", "value": {"packageName": package, "version": version}}
    return Bundle(
        name,
        package,
        semver.Version.parse(version),
        (prop,),
        (csv,),
        channels=channels,
        default_channel=channels[0],
    )


@pytest.fixture
def example_bundles(tmp_path: Path) -> list[Bundle]:
    """0.1.0 and 0.2.0 (replacing 0.1.0) of examples/appservice, through bundle directories."""
    first = generate_bundle(EXAMPLE, version="0.1.0", channels=["alpha"])
    second = generate_bundle(EXAMPLE, version="0.2.0", channels=["alpha"], replaces=first.name)
    return [load_bundle(write_bundle(b, tmp_path / b.name)) for b in (second, first)]


def test_render_catalog_makes_package_channel_and_bundles(example_bundles: list[Bundle]) -> None:
    catalog = render_catalog(example_bundles)
    assert catalog.packages == {"appservice-operator": Package("appservice-operator", "alpha")}
    (channel,) = catalog.channels_of("appservice-operator")
    assert channel.entries == (
        ChannelEntry("appservice-operator.v0.1.0"),
        ChannelEntry("appservice-operator.v0.2.0", replaces="appservice-operator.v0.1.0"),
    )
    assert [b.name for b in catalog.bundles_of("appservice-operator")] == [
        "appservice-operator.v0.1.0",
        "appservice-operator.v0.2.0",
    ]
    assert all(b.channels == () and b.default_channel is None for b in catalog.bundles.values())


def test_written_catalog_loads_back_equal(example_bundles: list[Bundle], tmp_path: Path) -> None:
    catalog = render_catalog(example_bundles)
    out = write_catalog(catalog, tmp_path / "catalog")
    assert load_catalog(out) == catalog
    docs = list(yaml.safe_load_all((out / "appservice-operator" / "catalog.yaml").read_text()))
    assert [(d["schema"], d["name"]) for d in docs] == [
        ("olm.package", "appservice-operator"),
        ("olm.channel", "alpha"),
        ("olm.bundle", "appservice-operator.v0.1.0"),
        ("olm.bundle", "appservice-operator.v0.2.0"),
    ]
    assert docs[1]["entries"][1] == {
        "name": "appservice-operator.v0.2.0",
        "replaces": "appservice-operator.v0.1.0",
    }


def test_render_catalog_takes_skips_and_skip_range_from_the_csv() -> None:
    bundles = [
        make_bundle("p", "1.0.0"),
        make_bundle("p", "1.1.0", skips=("p.v1.0.0",), skip_range="<1.1.0", channels=("alpha", "stable")),
    ]
    catalog = render_catalog(bundles)
    assert catalog.packages["p"].default_channel == "alpha"
    assert catalog.channels["p", "alpha"].entries[1] == ChannelEntry(
        "p.v1.1.0", None, ("p.v1.0.0",), "<1.1.0"
    )
    assert catalog.channels["p", "stable"].entries == (
        ChannelEntry("p.v1.1.0", None, ("p.v1.0.0",), "<1.1.0"),
    )


def test_render_catalog_default_channel_is_the_highest_versions() -> None:
    old = make_bundle("p", "1.0.0", channels=("alpha",))
    new = make_bundle("p", "2.0.0", "p.v1.0.0", channels=("stable", "alpha"))
    assert render_catalog([new, old]).packages["p"].default_channel == "stable"


def test_render_catalog_needs_a_default_channel_on_the_highest_version() -> None:
    bundle = Bundle("p.v1.0.0", "p", semver.Version(1, 0, 0), objects=make_bundle("p", "1.0.0").objects)
    with pytest.raises(
        OLMError, match=r"package p: its highest version, bundle p.v1.0.0, has no default channel"
    ):
        render_catalog([bundle])


def test_render_catalog_validates_what_it_renders() -> None:
    bundles = [make_bundle("p", "1.0.0", "p.v1.1.0"), make_bundle("p", "1.1.0", "p.v1.0.0")]
    with pytest.raises(OLMError, match=r"bundles of package p: channel alpha: replaces cycle"):
        render_catalog(bundles)


def obj_property(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "olm.bundle.object",
        "value": {"data": base64.b64encode(json.dumps(obj).encode()).decode()},
    }


UPSTREAM_CSV = {
    "apiVersion": "operators.coreos.com/v1alpha1",
    "kind": "ClusterServiceVersion",
    "metadata": {"name": "etcd.v0.9.4"},
    "spec": {"version": "0.9.4", "replaces": "etcd.v0.9.2"},
}
UPSTREAM_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "etcdclusters.etcd.database.coreos.com"},
}
UPSTREAM = """\
---
schema: olm.package
name: etcd
defaultChannel: singlenamespace-alpha
description: A message about etcd operator, a description of channels
---
schema: olm.channel
package: etcd
name: singlenamespace-alpha
entries:
  - name: etcd.v0.9.4
    replaces: etcd.v0.9.2
---
schema: olm.bundle
name: etcd.v0.9.4
package: etcd
image: quay.io/operatorhubio/etcd:v0.9.4
properties:
  - type: olm.package
    value:
      packageName: etcd
      version: 0.9.4
  - type: olm.gvk
    value:
      group: etcd.database.coreos.com
      kind: EtcdCluster
      version: v1beta2
  - {csv}
  - {crd}
relatedImages:
  - name: etcdv0.9.4
    image: quay.io/coreos/etcd-operator@sha256:66a37fd61a06a43969854ee6d3e21087a98b938
---
schema: olm.deprecations
package: etcd
entries: []
"""


def test_an_upstream_catalog_with_images_and_bundle_objects_loads(tmp_path: Path) -> None:
    path = tmp_path / "etcd" / "index.yaml"
    path.parent.mkdir()
    (tmp_path / "notes.yaml").mkdir()  # a directory, whatever its name, is walked, not read
    path.write_text(
        UPSTREAM.format(
            csv=json.dumps(obj_property(UPSTREAM_CSV)), crd=json.dumps(obj_property(UPSTREAM_CRD))
        )
    )
    catalog = load_catalog(tmp_path)
    assert catalog.packages["etcd"] == Package(
        "etcd", "singlenamespace-alpha", "A message about etcd operator, a description of channels"
    )
    # a replaces naming a bundle absent from the channel is allowed, as upstream
    assert catalog.channels["etcd", "singlenamespace-alpha"].entries == (
        ChannelEntry("etcd.v0.9.4", replaces="etcd.v0.9.2"),
    )
    bundle = catalog.bundles["etcd.v0.9.4"]
    assert (bundle.version, bundle.image) == (semver.Version(0, 9, 4), "quay.io/operatorhubio/etcd:v0.9.4")
    assert bundle.objects == (UPSTREAM_CSV, UPSTREAM_CRD)
    assert [str(g) for g in bundle.provided_gvks] == ["etcd.database.coreos.com/v1beta2, Kind=EtcdCluster"]
    assert load_catalog(path) == catalog  # one file


def test_json_files_with_concatenated_objects_load_and_unknown_schemas_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = make_bundle("p", "1.0.0")
    docs = [
        {"schema": "olm.package", "name": "p", "defaultChannel": "alpha"},
        {"schema": "olm.channel", "package": "p", "name": "alpha", "entries": [{"name": "p.v1.0.0"}]},
        bundle_to_fbc(bundle),
        {"schema": "example.com.custom", "what": "ever"},
    ]
    (tmp_path / "catalog.json").write_text("\n".join(json.dumps(d, indent=1) for d in docs))
    with caplog.at_level(logging.WARNING, logger="kubeloop.olm"):
        catalog = load_catalog(tmp_path)
    assert list(catalog.bundles) == ["p.v1.0.0"]
    assert "skipping a document of unknown schema 'example.com.custom'" in caplog.text


PKG = {"schema": "olm.package", "name": "p", "defaultChannel": "alpha"}


def channel(name: str = "alpha", package: str = "p", *entries: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "olm.channel", "package": package, "name": name, "entries": list(entries)}


def fbc(package: str, version: str, replaces: str | None = None) -> dict[str, Any]:
    return bundle_to_fbc(make_bundle(package, version, replaces))


V1 = {"name": "p.v1.0.0"}
V2 = {"name": "p.v2.0.0", "replaces": "p.v1.0.0"}


@pytest.mark.parametrize(
    ("docs", "problem"),
    [
        pytest.param(
            [channel("alpha", "q", V1), fbc("p", "1.0.0")], "channel alpha of unknown package q", id="ch-pkg"
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), fbc("p", "1.0.0"), fbc("q", "1.0.0")],
            "bundle q.v1.0.0 of unknown package q",
            id="b-pkg",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1)],
            "channel alpha: entry p.v1.0.0 is not a bundle of the catalog",
            id="entry-missing",
        ),
        pytest.param(
            [
                PKG,
                {**PKG, "name": "q"},
                channel("alpha", "p", {"name": "q.v1.0.0"}),
                channel("alpha", "q", {"name": "q.v1.0.0"}),
                fbc("q", "1.0.0"),
            ],
            "channel alpha: entry q.v1.0.0 is a bundle of package q",
            id="entry-other-package",
        ),
        pytest.param(
            [PKG | {"defaultChannel": "stable"}, channel("alpha", "p", V1), fbc("p", "1.0.0")],
            "default channel stable of package p is not among its channels (alpha)",
            id="default-missing",
        ),
        pytest.param(
            [PKG | {"defaultChannel": ""}, channel("alpha", "p", V1), fbc("p", "1.0.0")],
            "package p has no defaultChannel",
            id="default-unset",
        ),
        pytest.param([PKG], "package p has no channels", id="no-channels"),
        pytest.param(
            [PKG, PKG, channel("alpha", "p", V1), fbc("p", "1.0.0")], "duplicate package p", id="dup-package"
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), channel("alpha", "p", V1), fbc("p", "1.0.0")],
            "duplicate channel alpha of package p",
            id="dup-channel",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), fbc("p", "1.0.0"), fbc("p", "1.0.0")],
            "duplicate bundle p.v1.0.0",
            id="dup-bundle",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1, V1), fbc("p", "1.0.0")],
            "channel alpha: duplicate entry p.v1.0.0",
            id="dup-entry",
        ),
        pytest.param(
            [PKG, channel("alpha", "p"), fbc("p", "1.0.0")],
            "channel alpha: it has no entries",
            id="empty-channel",
        ),
        pytest.param(
            [
                PKG,
                channel("alpha", "p", {"name": "p.v1.0.0", "replaces": "p.v2.0.0"}, V2),
                fbc("p", "1.0.0"),
                fbc("p", "2.0.0"),
            ],
            "channel alpha: replaces cycle p.v1.0.0 -> p.v2.0.0 -> p.v1.0.0",
            id="cycle",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1, {"name": "p.v2.0.0"}), fbc("p", "1.0.0"), fbc("p", "2.0.0")],
            "channel alpha: 2 channel heads (p.v1.0.0, p.v2.0.0); an upgrade graph has one",
            id="two-heads",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), fbc("p", "1.0.0"), fbc("p", "2.0.0")],
            "bundle p.v2.0.0 is in no channel of package p",
            id="channel-less",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), fbc("p", "1.0.0") | {"properties": []}],
            "document 3: bundle p.v1.0.0: needs exactly one olm.package property",
            id="no-olm-package",
        ),
        pytest.param(
            [PKG, channel("alpha", "p", V1), {"name": "x"}], "document 3: no 'schema'", id="no-schema"
        ),
        pytest.param(
            [
                PKG,
                channel("alpha", "p", V1),
                fbc("p", "1.0.0")
                | {"properties": fbc("p", "1.0.0")["properties"][:1], "image": "quay.io/p:1"},
            ],
            "document 3: bundle p.v1.0.0 references image quay.io/p:1 only; "
            "pulling bundle images is not supported",
            id="image-only",
        ),
    ],
)
def test_invalid_catalogs_name_the_file_and_the_problem(
    tmp_path: Path, docs: list[dict[str, Any]], problem: str
) -> None:
    path = tmp_path / "index.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    with pytest.raises(OLMError) as raised:
        load_catalog(tmp_path)
    assert f"{path}: {problem}" in str(raised.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all([PKG | {"defaultChannel": "stable"}, channel("alpha", "p", V1)])
    )
    (tmp_path / "b.yaml").write_text("schema: olm.bundle\nname: [\n")
    with pytest.raises(OLMError) as raised:
        load_catalog(tmp_path)
    message = str(raised.value)
    assert message.startswith("invalid catalog: ")
    assert f"{tmp_path}/a.yaml: default channel stable of package p is not among its channels" in message
    assert f"{tmp_path}/a.yaml: channel alpha: entry p.v1.0.0 is not a bundle of the catalog" in message
    assert f"{tmp_path}/b.yaml:3: invalid YAML" in message
    assert "\n" not in message


def test_a_missing_catalog_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(OLMError, match="no such catalog file or directory"):
        load_catalog(tmp_path / "absent")


def test_an_empty_catalog_loads_empty(tmp_path: Path) -> None:
    assert load_catalog(tmp_path) == Catalog()


def test_a_skipped_entry_needs_no_replaces_chain(tmp_path: Path) -> None:
    docs = [
        PKG,
        channel("alpha", "p", V1, {"name": "p.v2.0.0", "skips": ["p.v1.0.0"]}),
        fbc("p", "1.0.0"),
        fbc("p", "2.0.0"),
    ]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump_all(docs))
    assert load_catalog(tmp_path).channels["p", "alpha"].entries[1].skips == ("p.v1.0.0",)


def test_deprecations_load_and_are_written_back(tmp_path: Path) -> None:
    catalog = render_catalog([make_bundle("p", "1.0.0"), make_bundle("p", "1.1.0", "p.v1.0.0")])
    deprecations = {
        ("p", "olm.package", ""): "p is replaced by q",
        ("p", "olm.channel", "alpha"): "use stable",
        ("p", "olm.bundle", "p.v1.0.0"): "has a known bug",
    }
    catalog = dataclasses.replace(catalog, deprecations=deprecations)
    loaded = load_catalog(write_catalog(catalog, tmp_path / "catalog"))
    assert loaded == catalog
    assert loaded.deprecated("p", "olm.channel", "alpha") == "use stable"
    assert loaded.deprecated("p", "olm.bundle", "p.v1.1.0") is None


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"reference": {"schema": "olm.channel", "name": "beta"}}, "deprecation of unknown channel beta"),
        (
            {"reference": {"schema": "olm.bundle", "name": "p.v9.0.0"}},
            "deprecation of unknown bundle p.v9.0.0",
        ),
        ({"reference": {"schema": "olm.channel"}}, "bad reference"),
        ({"reference": {"schema": "olm.gvk", "name": "x"}}, "bad reference"),
    ],
    ids=["unknown-channel", "unknown-bundle", "channel-without-name", "unknown-schema"],
)
def test_a_deprecation_of_what_the_catalog_lacks_is_a_problem_naming_it(
    tmp_path: Path, entry: dict[str, Any], problem: str
) -> None:
    out = write_catalog(render_catalog([make_bundle("p", "1.0.0")]), tmp_path / "catalog")
    doc = {"schema": "olm.deprecations", "package": "p", "entries": [entry]}
    (out / "p" / "deprecations.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(OLMError, match=problem):
        load_catalog(out)


def test_add_bundle_grows_a_catalog_as_rendering_all_at_once_does() -> None:
    first, second = (
        make_bundle("p", "1.0.0"),
        make_bundle("p", "1.1.0", "p.v1.0.0", channels=("beta", "alpha")),
    )
    grown = add_bundle(render_catalog([first]), second)
    assert grown == render_catalog([first, second])
    assert grown.packages["p"].default_channel == "beta"  # the highest version's
    other = add_bundle(grown, make_bundle("q", "0.1.0"))
    assert set(other.packages) == {"p", "q"}


@pytest.mark.parametrize(
    ("bundle", "problem"),
    [
        (make_bundle("p", "1.0.0"), "bundle p.v1.0.0 is already in the catalog"),
        (dataclasses.replace(make_bundle("p", "1.1.0"), channels=()), "bundle p.v1.1.0 names no channel"),
        (make_bundle("p", "1.1.0", "p.v0.9.0"), "invalid catalog"),
    ],
    ids=["twice", "no-channel", "two-heads"],
)
def test_add_bundle_refuses_what_would_not_be_a_valid_catalog(bundle: Bundle, problem: str) -> None:
    with pytest.raises(OLMError, match=problem):
        add_bundle(render_catalog([make_bundle("p", "1.0.0")]), bundle)
