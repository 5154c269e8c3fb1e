"""Object metadata rules shared by every kind: names, generateName, uid, timestamps, generation.

Role: pure functions used by ``rest`` when an object is created or updated; no storage, no HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause

__all__ = [
    "format_time",
    "generate_name",
    "now",
    "parse_time",
    "spec_changed",
    "validate_metadata",
    "validate_name",
]

Obj = dict[str, Any]

# Kinds whose names are DNS labels (1035 for Services) rather than subdomains.
_NAME_RULES = {
    "Namespace": validation.is_dns1123_label,
    "Service": validation.is_dns1035_label,
    **dict.fromkeys(
        ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"), validation.is_path_segment_name
    ),
}
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_ANNOTATIONS_LIMIT = 256 * 1024


def now() -> str:
    """The current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """Seconds since the epoch of a Kubernetes timestamp (``2026-01-02T03:04:05Z``)."""
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp())


def format_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``generateName`` plus five random characters, as the real server does."""
    return prefix[:58] + "".join(random.choices(_ALPHABET, k=5))


def validate_name(kind: str, name: str) -> list[Cause]:
    """Causes for an invalid ``metadata.name`` of ``kind`` (empty when valid)."""
    rule = _NAME_RULES.get(kind, validation.is_dns1123_subdomain)
    return [validation.invalid("metadata.name", name, message) for message in rule(name)]


def validate_metadata(obj: Obj) -> list[Cause]:
    """Causes for invalid label keys and values and annotation keys and size (as ValidateObjectMeta)."""
    md = obj.get("metadata") or {}
    causes = validation.label_causes(md.get("labels") or {}, "metadata.labels")
    annotations = md.get("annotations") or {}
    for key in annotations:
        causes += [
            validation.invalid("metadata.annotations", key, m)
            for m in validation.is_qualified_name(key.lower())
        ]
    if sum(len(k) + len(v or "") for k, v in annotations.items()) > _ANNOTATIONS_LIMIT:
        causes.append(validation.too_long("metadata.annotations", _ANNOTATIONS_LIMIT))
    return causes


def spec_changed(old: Obj, new: Obj) -> bool:
    """Whether anything but metadata and status differs (what bumps ``metadata.generation``)."""
    skip = {"metadata", "status", "apiVersion", "kind"}
    keys = (set(old) | set(new)) - skip
    return any(old.get(k) != new.get(k) for k in keys)


def strip_volatile(obj: Obj) -> Obj:
    """``obj`` without resourceVersion and the values of managedFields times (whether an entry has a time
    still counts): compared to detect no-op updates."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    fields = meta.get("managedFields")
    if fields:
        meta["managedFields"] = [{k: v if k != "time" else True for k, v in e.items()} for e in fields]
    return dict(obj, metadata=meta)
