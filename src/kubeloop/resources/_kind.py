"""``Kind``: a kind at one group/version, as a reference for watches and as a builder of plain dicts.

Every built-in kind of ``kubeloop.resources`` is a ``TypedDict`` class bound to its ``Kind`` by
``bind``: the type checker sees a ``TypedDict`` (so ``apps_v1.Deployment(spec={...})`` is checked key by
key and ``ctx.get(apps_v1.Deployment, ...)`` returns an ``apps_v1.Deployment``), and at run time
calling it returns a plain dict with ``apiVersion`` and ``kind`` filled in, as ``Kind`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typing_extensions import TypedDict

from kubeloop.gvk import GroupVersionKind, GroupVersionResource

__all__ = ["Kind", "bind", "kind_of"]


@dataclass(frozen=True, slots=True)
class Kind(GroupVersionKind):
    """A ``GroupVersionKind`` with its plural and scope; calling it builds an object dict of that kind.

    >>> from kubeloop.resources import Kind
    >>> Kind("example.com", "v1", "Widget", "widgets")(metadata={"name": "w"})
    {'apiVersion': 'example.com/v1', 'kind': 'Widget', 'metadata': {'name': 'w'}}
    """

    plural: str
    namespaced: bool = True

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    def __call__(self, **fields: Any) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, **fields}


class _Probe(TypedDict):
    pass


class _KindMeta(type(_Probe)):  # type: ignore[misc]
    """The metaclass of bound ``TypedDict``s: calling one fills ``apiVersion`` and ``kind``."""

    __kubeloop_kind__: Kind
    _api_version: str

    def __call__(cls, /, **fields: Any) -> Any:
        return {"apiVersion": cls._api_version, "kind": cls.__name__, **fields}


def bind(typed: type[Any], group: str, version: str, plural: str, *, namespaced: bool) -> None:
    """Make the ``TypedDict`` class ``typed`` the kind ``group/version/<its name>`` (``plural`` is empty
    for kinds that are not REST resources, such as ``Scale`` or the ``…List`` kinds)."""
    typed.__class__ = _KindMeta
    typed.__kubeloop_kind__ = kind = Kind(group, version, typed.__name__, plural, namespaced)
    typed._api_version = kind.api_version


def kind_of(kind: object) -> Kind | None:
    """The ``Kind`` of a bound ``TypedDict`` class or a ``Kind`` itself; None for anything else."""
    if isinstance(kind, Kind):
        return kind
    found = getattr(kind, "__kubeloop_kind__", None) if isinstance(kind, type) else None
    return found if isinstance(found, Kind) else None
