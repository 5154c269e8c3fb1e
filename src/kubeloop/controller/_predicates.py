"""Predicates: which informer events are worth a reconcile.

A predicate takes an ``InformerEvent`` and returns whether to enqueue. Adds and deletes pass the
change predicates below (there is nothing to compare); updates pass when the named part changed.
Initial adds and periodic resyncs pass unless a predicate says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeloop.cache import InformerEvent

__all__ = [
    "Predicate",
    "all_of",
    "annotations_changed",
    "any_of",
    "generation_changed",
    "labels_changed",
    "negate",
    "not_status_only",
    "resource_version_changed",
]

Predicate = Callable[[InformerEvent], bool]


def _meta(obj: dict[str, Any] | None, field: str) -> Any:
    return ((obj or {}).get("metadata") or {}).get(field)


def _changed(field: str) -> Predicate:
    def predicate(event: InformerEvent) -> bool:
        if event.type != "update":
            return True
        return bool(_meta(event.old, field) != _meta(event.obj, field))

    predicate.__name__ = f"{field}_changed"
    return predicate


generation_changed: Predicate = _changed("generation")
"""Updates where ``metadata.generation`` moved: spec changes, not status or metadata changes."""

labels_changed: Predicate = _changed("labels")
"""Updates where ``metadata.labels`` differ."""

annotations_changed: Predicate = _changed("annotations")
"""Updates where ``metadata.annotations`` differ."""

resource_version_changed: Predicate = _changed("resourceVersion")
"""Updates that are real changes, not periodic resyncs."""


def any_of(*predicates: Predicate) -> Predicate:
    """Passes when at least one predicate passes."""
    return lambda event: any(p(event) for p in predicates)


def all_of(*predicates: Predicate) -> Predicate:
    """Passes when every predicate passes."""
    return lambda event: all(p(event) for p in predicates)


def negate(predicate: Predicate) -> Predicate:
    """Passes when ``predicate`` does not."""
    return lambda event: not predicate(event)


_VOLATILE_META = frozenset({"resourceVersion", "managedFields"})
_NOT_COMPARED = frozenset({"status", "metadata"})


def _differ(a: dict[str, Any], b: dict[str, Any], skip: frozenset[str]) -> bool:
    """Whether ``a`` and ``b`` differ in a key not in ``skip`` (without building either's copy: this
    runs for every event of every primary object)."""
    for key, value in a.items():
        if key not in skip and (key not in b or b[key] != value):
            return True
    return any(key not in skip and key not in a for key in b)


def not_status_only(event: InformerEvent) -> bool:
    """Passes every event except updates that changed nothing but ``status`` (and resourceVersion,
    managedFields): a controller's own status writes then do not reconcile its object again."""
    if event.type != "update":
        return True
    old, new = event.old or {}, event.obj or {}
    return _differ(old, new, _NOT_COMPARED) or _differ(
        old.get("metadata") or {}, new.get("metadata") or {}, _VOLATILE_META
    )
