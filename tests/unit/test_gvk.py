"""GroupVersionKind / GroupVersionResource: the one name of a kind, and the types built on it."""

from __future__ import annotations

import pytest

from kubeloop import crd
from kubeloop.client import ApiResource
from kubeloop.gvk import GroupVersionKind, GroupVersionResource, join_api_version, split_api_version
from kubeloop.operator import kind_spec
from kubeloop.resources import apps_v1, core_v1, kind_of
from kubeloop.webhook import Target

DEPLOYMENT = GroupVersionKind("apps", "v1", "Deployment")


@crd.resource(group="zoo.example.com", version="v2", plural="octopodes", scope="Cluster")
class Octopus(crd.CustomResource):
    pass


@pytest.mark.parametrize(
    ("api_version", "parts"),
    [
        ("apps/v1", ("apps", "v1")),
        ("v1", ("", "v1")),
        ("app.example.com/v1beta1", ("app.example.com", "v1beta1")),
    ],
    ids=["group", "core", "dotted-group"],
)
def test_api_version_splits_and_joins_back(api_version: str, parts: tuple[str, str]) -> None:
    assert split_api_version(api_version) == parts
    assert join_api_version(*parts) == api_version


def test_a_kind_is_named_from_an_object_a_reference_or_an_api_version() -> None:
    assert GroupVersionKind.from_object({"apiVersion": "apps/v1", "kind": "Deployment"}) == DEPLOYMENT
    assert GroupVersionKind.from_ref("apps/v1/Deployment") == DEPLOYMENT
    assert GroupVersionKind.from_api_version("v1", "Pod") == GroupVersionKind("", "v1", "Pod")
    assert DEPLOYMENT.ref == "apps/v1/Deployment"
    assert str(DEPLOYMENT) == "apps/v1, Kind=Deployment"
    assert str(GroupVersionKind("", "v1", "Pod")) == "v1, Kind=Pod"


@pytest.mark.parametrize("ref", ["Deployment", "apps/v1/", ""], ids=["bare-kind", "no-kind", "empty"])
def test_a_reference_without_api_version_and_kind_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="must be apiVersion/Kind"):
        GroupVersionKind.from_ref(ref)


def test_the_resource_is_the_declared_plural_or_the_guessed_one() -> None:
    assert DEPLOYMENT.resource() == GroupVersionResource("apps", "v1", "deployments")
    assert GroupVersionKind("", "v1", "Endpoints").resource("endpoints").resource == "endpoints"
    assert Octopus.resource_info().resource() == GroupVersionResource("zoo.example.com", "v2", "octopodes")
    assert GroupVersionResource("apps", "v1", "deployments").group_resource == "deployments.apps"
    assert GroupVersionResource("", "v1", "pods").group_resource == "pods"


def test_kinds_are_ordered_and_hashable_as_values() -> None:
    kinds = [
        GroupVersionKind("b", "v1", "X"),
        GroupVersionKind("", "v1", "Pod"),
        GroupVersionKind("a", "v1", "Y"),
    ]
    assert [k.group for k in sorted(kinds)] == ["", "a", "b"]
    assert len({DEPLOYMENT, GroupVersionKind("apps", "v1", "Deployment")}) == 1
    with pytest.raises(AttributeError):
        DEPLOYMENT.kind = "StatefulSet"  # type: ignore[misc]


def test_every_description_of_a_kind_is_a_group_version_kind() -> None:
    described = [
        kind_of(apps_v1.Deployment),  # the Kind a typed kind carries
        ApiResource("apps", "v1", "Deployment", "deployments", "deployment", True),
        kind_spec(apps_v1.Deployment),
        kind_spec("apps/v1/Deployment"),
        Target("apps", "v1", "Deployment"),
    ]
    for each in described:
        assert isinstance(each, GroupVersionKind)
        assert each.gvk == DEPLOYMENT
        assert each.ref == "apps/v1/Deployment"
    assert Octopus.resource_info().gvk == GroupVersionKind("zoo.example.com", "v2", "Octopus")


@pytest.mark.parametrize(
    ("kind", "version", "namespaced", "plural"),
    [
        pytest.param(core_v1.ConfigMap, "v1", True, "configmaps", id="built-in"),
        pytest.param(Octopus, "v2", False, "octopodes", id="custom-resource"),
        pytest.param("batch/v1/Job", "v1", None, None, id="reference"),
    ],
)
def test_a_kind_spec_carries_the_version_scope_and_plural_it_was_given(
    kind: object, version: str, namespaced: bool | None, plural: str | None
) -> None:
    spec = kind_spec(kind)  # type: ignore[arg-type]
    assert (spec.version, spec.namespaced, spec.plural) == (version, namespaced, plural)


def test_the_old_olm_name_still_works_with_a_deprecation_warning() -> None:
    from kubeloop import olm

    with pytest.deprecated_call(match="kubeloop.GroupVersionKind"):
        alias = olm.GVK
    assert alias is GroupVersionKind
