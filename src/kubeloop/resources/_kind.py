"""``Kind``: a built-in resource kind, usable as a reference for watches and as a builder of plain dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Kind"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind at one group/version; calling it builds an object dict of that kind.

    >>> from kubeloop.resources import core_v1
    >>> core_v1.ConfigMap(metadata={"name": "settings"}, data={"mode": "fast"})
    {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'settings'}, 'data': {'mode': 'fast'}}
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version``, or ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def ref(self) -> str:
        """The client's reference form, ``apiVersion/Kind``."""
        return f"{self.api_version}/{self.kind}"

    def __call__(self, **fields: Any) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, **fields}
