"""Plural and singular names derived from the kind."""

from __future__ import annotations

import pytest

from kubeloop import crd


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("AppService", "appservices"),
        ("CronTab", "crontabs"),
        ("Policy", "policies"),
        ("NetworkPolicy", "networkpolicies"),
        ("Gateway", "gateways"),
        ("Status", "statuses"),
        ("Ingress", "ingresses"),
        ("Box", "boxes"),
        ("Match", "matches"),
        ("Mesh", "meshes"),
        ("Quiz", "quizes"),
        ("EtcdCluster", "etcdclusters"),
    ],
)
def test_plural_follows_the_usual_english_rules(kind, plural):
    assert crd.plural_of(kind) == plural


def test_resource_derives_plural_singular_and_kind_from_the_class_name():
    @crd.resource(group="crdtest.example.com", version="v1")
    class NetworkPolicy(crd.CustomResource):
        pass

    info = NetworkPolicy.resource_info()
    assert (info.kind, info.plural, info.singular) == ("NetworkPolicy", "networkpolicies", "networkpolicy")
    assert info.crd_name == "networkpolicies.crdtest.example.com"
    assert info.api_version == "crdtest.example.com/v1"


def test_explicit_names_win():
    @crd.resource(group="crdtest.example.com", version="v1", kind="Person", plural="people", singular="human")
    class PersonResource(crd.CustomResource):
        pass

    info = PersonResource.resource_info()
    assert (info.kind, info.plural, info.singular) == ("Person", "people", "human")


@pytest.mark.parametrize(
    ("group", "version"),
    [
        pytest.param("nodot", "v1", id="group-without-dot"),
        pytest.param("Upper.Example.com", "v1", id="group-upper-case"),
        pytest.param("crdtest.example.com", "V1", id="version-upper-case"),
        pytest.param("crdtest.example.com", "1", id="version-starts-with-digit"),
    ],
)
def test_invalid_group_or_version_is_refused(group, version):
    with pytest.raises(crd.CRDError):

        @crd.resource(group=group, version=version)
        class Thing(crd.CustomResource):
            pass
