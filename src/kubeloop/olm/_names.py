"""The names, labels and annotations the lifecycle manager gives what it creates, and how it makes
names that fit Kubernetes' limits."""

from __future__ import annotations

import hashlib

__all__ = [
    "BUNDLE_ANNOTATION",
    "CRD_REF",
    "FIELD_MANAGER",
    "MAX_NAME",
    "MAX_SUBDOMAIN",
    "NAMESPACE_LABEL",
    "PACKAGE_LABEL",
    "RELEASE_LABEL",
    "generated_name",
    "release_labels",
    "release_selector",
]

FIELD_MANAGER = "kubeloop-olm"
PACKAGE_LABEL = "olm.kubeloop.dev/package"
NAMESPACE_LABEL = "olm.kubeloop.dev/namespace"
"""With ``PACKAGE_LABEL``, the release an object belongs to: the package and where it is installed."""
BUNDLE_ANNOTATION = "olm.kubeloop.dev/bundle"
RELEASE_LABEL = "olm.kubeloop.dev/release"
CRD_REF = "apiextensions.k8s.io/v1/CustomResourceDefinition"
MAX_NAME = 63
MAX_SUBDOMAIN = 253


def release_labels(namespace: str, package: str) -> dict[str, str]:
    """The labels naming the release of ``package`` in ``namespace`` (on everything it installs)."""
    return {PACKAGE_LABEL: package, NAMESPACE_LABEL: namespace}


def release_selector(namespace: str, package: str) -> str:
    """A label selector for what the release of ``package`` in ``namespace`` installed."""
    return ",".join(f"{k}={v}" for k, v in release_labels(namespace, package).items())


def generated_name(*parts: str, limit: int = MAX_NAME) -> str:
    """``parts`` joined by ``-``; over ``limit`` characters, cut and suffixed with a hash of the name."""
    name = "-".join(parts).lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"
