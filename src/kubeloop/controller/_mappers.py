"""Event → requests: how an event on a watched object becomes keys of primary objects.

``For`` maps an object to its own key, ``Owns`` to its controlling owner of the primary kind,
``Watches`` through any user function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeloop.cache import key_of
from kubeloop.controller._types import Request
from kubeloop.gvk import split_api_version

__all__ = ["Mapper", "map_to_owner", "map_to_self"]

Mapper = Callable[[dict[str, Any]], Iterable[Request]]


def map_to_self(obj: dict[str, Any]) -> Iterable[Request]:
    """The object's own key (the primary kind of a controller)."""
    return (key_of(obj),)


def map_to_owner(group: str, kind: str, *, namespaced: bool = True, controller_only: bool = True) -> Mapper:
    """The key of the owner of kind ``kind`` in API group ``group`` (the controlling owner only, by default).

    A namespaced owner lives in its child's namespace (the API server allows no other owner
    references); a cluster-scoped owner (``namespaced=False``) has an empty namespace.
    """

    def mapper(obj: dict[str, Any]) -> Iterable[Request]:
        meta = obj.get("metadata") or {}
        namespace = (meta.get("namespace") or "") if namespaced else ""
        for ref in meta.get("ownerReferences") or ():
            if controller_only and not ref.get("controller"):
                continue
            ref_group, _ = split_api_version(str(ref.get("apiVersion", "")))
            if ref.get("kind") == kind and ref_group == group:
                yield Request(namespace, ref["name"])

    return mapper
