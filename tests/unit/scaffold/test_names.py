"""Name rules of the scaffolding commands: each bad name is refused with the rule it breaks."""

from __future__ import annotations

import pytest

from kubeloop.scaffold import ScaffoldError
from kubeloop.scaffold._names import (
    module_name,
    package_name,
    validate_domain,
    validate_group,
    validate_kind,
    validate_project_name,
    validate_version,
)


@pytest.mark.parametrize("version", ["v1", "v2", "v1beta1", "v1alpha2", "v10beta3"])
def test_kubernetes_versions_are_accepted(version: str) -> None:
    assert validate_version(version) == version


@pytest.mark.parametrize("version", ["1", "V1", "v0", "v1beta", "v1gamma1", "v1-beta1", "v1beta0", ""])
def test_other_versions_are_refused_naming_the_rule(version: str) -> None:
    with pytest.raises(ScaffoldError, match="must look like v1, v1beta1 or v1alpha1"):
        validate_version(version)


@pytest.mark.parametrize("kind", ["EtcdCluster", "A", "Policy2", "HTTPRoute"])
def test_upper_camel_case_kinds_are_accepted(kind: str) -> None:
    assert validate_kind(kind) == kind


@pytest.mark.parametrize("kind", ["etcdCluster", "Etcd_Cluster", "Etcd-Cluster", "1Kind", "", "Etcd Cluster"])
def test_other_kinds_are_refused_naming_the_rule(kind: str) -> None:
    with pytest.raises(ScaffoldError, match="must be UpperCamelCase"):
        validate_kind(kind)


def test_a_kind_that_is_a_python_keyword_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="Python keyword"):
        validate_kind("Class")


def test_a_kind_longer_than_a_dns_label_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="at most 63"):
        validate_kind("K" + "a" * 63)


def test_the_full_group_joins_group_and_domain() -> None:
    assert validate_group("etcd", "cloud.io") == "etcd.cloud.io"
    assert validate_group("my-group.sub", "cloud.io") == "my-group.sub.cloud.io"


@pytest.mark.parametrize("group", ["Etcd", "etcd_x", "-etcd", "etcd-", "etcd..x", ""])
def test_groups_that_are_not_dns_subdomains_are_refused(group: str) -> None:
    with pytest.raises(ScaffoldError, match="DNS-1123 subdomain"):
        validate_group(group, "cloud.io")


@pytest.mark.parametrize("domain", ["Cloud.io", "cloud_io", "cloud.io.", ""])
def test_domains_that_are_not_dns_subdomains_are_refused(domain: str) -> None:
    with pytest.raises(ScaffoldError, match="DNS-1123 subdomain"):
        validate_domain(domain)


@pytest.mark.parametrize("name", ["Etcd", "etcd_operator", "etcd.operator", "-x", ""])
def test_project_names_that_are_not_dns_labels_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="DNS-1123 label"):
        validate_project_name(name)


def test_a_project_name_starting_with_a_digit_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="must start with a letter"):
        validate_project_name("1operator")


def test_python_names_derive_from_project_group_and_version() -> None:
    assert package_name("etcd-operator") == "etcd_operator"
    assert module_name("etcd", "v1") == "etcd_v1"
    assert module_name("my-group.sub", "v1beta1") == "my_group_sub_v1beta1"
