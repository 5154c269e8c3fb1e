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
    "PACKAGE_LABEL",
    "RELEASE_LABEL",
    "generated_name",
]

FIELD_MANAGER = "kubeloop-olm"
PACKAGE_LABEL = "olm.kubeloop.dev/package"
BUNDLE_ANNOTATION = "olm.kubeloop.dev/bundle"
RELEASE_LABEL = "olm.kubeloop.dev/release"
CRD_REF = "apiextensions.k8s.io/v1/CustomResourceDefinition"
MAX_NAME = 63
MAX_SUBDOMAIN = 253


def generated_name(*parts: str, limit: int = MAX_NAME) -> str:
    """``parts`` joined by ``-``; over ``limit`` characters, cut and suffixed with a hash of the name."""
    name = "-".join(parts).lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"
