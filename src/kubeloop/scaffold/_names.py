"""Names in a scaffolded project: the rules a domain, group, version, kind and project name follow,
and the Python names derived from them. Every check raises ``ScaffoldError`` naming the rule broken.
"""

from __future__ import annotations

import keyword
import re

from kubeloop.crd import plural_of
from kubeloop.errors import KubeloopError

__all__ = [
    "ScaffoldError",
    "module_name",
    "package_name",
    "validate_domain",
    "validate_group",
    "validate_kind",
    "validate_project_name",
    "validate_version",
]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$")
_KIND = re.compile(r"^[A-Z][a-zA-Z0-9]*$")


class ScaffoldError(KubeloopError):
    """A scaffolding command cannot run as asked; nothing was written."""


def validate_domain(domain: str) -> str:
    """A domain is a DNS-1123 subdomain (``cloud.io``): lower-case alphanumerics, '-' and '.'."""
    if not domain or len(domain) > 253 or not _DNS1123_SUBDOMAIN.match(domain):
        raise ScaffoldError(
            f"invalid domain {domain!r}: must be a DNS-1123 subdomain (lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit, at most 253 characters)"
        )
    return domain


def validate_group(group: str, domain: str) -> str:
    """A group is a DNS-1123 subdomain; with the domain it makes the API group (``etcd.cloud.io``)."""
    if not group or not _DNS1123_SUBDOMAIN.match(group):
        raise ScaffoldError(
            f"invalid group {group!r}: must be a DNS-1123 subdomain (lower-case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit)"
        )
    full = f"{group}.{domain}"
    if len(full) > 253:
        raise ScaffoldError(f"invalid group {group!r}: the API group {full!r} is longer than 253 characters")
    return full


def validate_version(version: str) -> str:
    """A version is ``v1``, ``v2beta1``, ``v1alpha2``: 'v', a number, optionally alpha/beta and a number."""
    if not _VERSION.match(version):
        raise ScaffoldError(
            f"invalid version {version!r}: must look like v1, v1beta1 or v1alpha1 "
            "('v', a number from 1, optionally 'alpha' or 'beta' and a number from 1)"
        )
    return version


def validate_kind(kind: str) -> str:
    """A kind is UpperCamelCase (``EtcdCluster``), at most 63 characters, its plural a DNS-1123 label."""
    if not _KIND.match(kind):
        raise ScaffoldError(
            f"invalid kind {kind!r}: must be UpperCamelCase (an upper-case letter, then letters and digits)"
        )
    if len(kind) > 63 or len(plural_of(kind)) > 63:
        raise ScaffoldError(f"invalid kind {kind!r}: it and its plural must be at most 63 characters")
    if keyword.iskeyword(kind) or keyword.iskeyword(kind.lower()):
        raise ScaffoldError(f"invalid kind {kind!r}: it (lower-cased) is a Python keyword")
    return kind


def validate_project_name(name: str) -> str:
    """A project name is a DNS-1123 label (``etcd-operator``): it names the operator and its objects."""
    if not name or len(name) > 63 or not _DNS1123_LABEL.match(name):
        raise ScaffoldError(
            f"invalid project name {name!r}: must be a DNS-1123 label (lower-case letters, digits and "
            "'-', starting and ending with a letter or digit, at most 63 characters); "
            "pass --project-name"
        )
    if name[0].isdigit():
        raise ScaffoldError(f"invalid project name {name!r}: must start with a letter (it names a package)")
    package_name(name)
    return name


def package_name(project_name: str) -> str:
    """The Python package of a project: its name with '-' as '_' (``etcd-operator`` → ``etcd_operator``)."""
    package = project_name.replace("-", "_")
    if not package.isidentifier() or keyword.iskeyword(package):
        raise ScaffoldError(f"project name {project_name!r} does not make a Python package name")
    return package


def module_name(*parts: str) -> str:
    """A module name from name parts (``etcd``, ``v1`` → ``etcd_v1``; '-' and '.' become '_')."""
    return "_".join(re.sub(r"[-.]", "_", part) for part in parts)
