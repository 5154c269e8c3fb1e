"""``Kind``: a built-in resource kind, usable as a reference for watches and as a builder of plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.gvk import GroupVersionKind, GroupVersionResource

__all__ = ["Kind"]


@dataclass(frozen=True, slots=True)
class Kind(GroupVersionKind):
    """A ``GroupVersionKind`` with its plural and scope; calling it builds an object dict of that kind.

    >>> from kubeloop.resources import core_v1
    >>> core_v1.ConfigMap(metadata={"name": "settings"}, data={"mode": "fast"})
    {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'settings'}, 'data': {'mode': 'fast'}}
    """

    plural: str
    namespaced: bool = True

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    def __call__(self, **fields: Any) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, **fields}
