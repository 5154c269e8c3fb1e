"""Owner references and finalizers on plain-dict objects (controllerutil's helpers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeloop.errors import KubeloopError

__all__ = [
    "AlreadyOwnedError",
    "add_finalizer",
    "controller_of",
    "has_finalizer",
    "owner_reference",
    "remove_finalizer",
    "set_controller_reference",
]


class AlreadyOwnedError(KubeloopError):
    """The object already has another controller; an object can have only one."""


def owner_reference(
    owner: Mapping[str, Any], *, controller: bool = True, block_deletion: bool = True
) -> dict[str, Any]:
    """An ownerReference pointing at ``owner`` (which must have been read from the server: it needs a uid)."""
    meta = owner.get("metadata") or {}
    if not meta.get("uid"):
        raise KubeloopError(
            f"owner {owner.get('kind')} {meta.get('name')!r} has no uid; read it from the server first"
        )
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_deletion,
    }


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference marked ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def set_controller_reference(owner: Mapping[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """Make ``owner`` the controller of ``obj`` (in place; returns ``obj``).

    Raises AlreadyOwnedError when another object controls ``obj``. A namespaced owner must be in the
    child's namespace; a cluster-scoped child cannot have a namespaced owner (the API server's rules).
    """
    ref = owner_reference(owner)
    owner_ns = (owner.get("metadata") or {}).get("namespace")
    meta = obj.setdefault("metadata", {})
    if owner_ns:
        child_ns = meta.setdefault("namespace", owner_ns)
        if child_ns != owner_ns:
            raise KubeloopError(
                f"{obj.get('kind')} {meta.get('name')!r} in namespace {child_ns!r} cannot be owned by "
                f"{ref['kind']} {ref['name']!r} in namespace {owner_ns!r}"
            )
    current = controller_of(obj)
    if current is not None and current.get("uid") != ref["uid"]:
        raise AlreadyOwnedError(
            f"{obj.get('kind')} {meta.get('name')!r} is already controlled by "
            f"{current['kind']} {current['name']!r}"
        )
    refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != ref["uid"]]
    meta["ownerReferences"] = [*refs, ref]
    return obj


def has_finalizer(obj: Mapping[str, Any], finalizer: str) -> bool:
    """Whether ``metadata.finalizers`` holds ``finalizer``."""
    return finalizer in ((obj.get("metadata") or {}).get("finalizers") or ())


def add_finalizer(obj: dict[str, Any], finalizer: str) -> bool:
    """Add ``finalizer`` in place; returns whether it was missing."""
    meta = obj.setdefault("metadata", {})
    finalizers = list(meta.get("finalizers") or ())
    if finalizer in finalizers:
        return False
    meta["finalizers"] = [*finalizers, finalizer]
    return True


def remove_finalizer(obj: dict[str, Any], finalizer: str) -> bool:
    """Remove ``finalizer`` in place; returns whether it was there."""
    meta = obj.setdefault("metadata", {})
    finalizers = list(meta.get("finalizers") or ())
    if finalizer not in finalizers:
        return False
    meta["finalizers"] = [f for f in finalizers if f != finalizer]
    return True
