"""``Watch``: a kind a reconcile watches beside its primary, with the mapper from its objects to the
``Request``s to reconcile; typed so that the mapper's argument is checked against the kind.

Given a typed kind (``core_v1.ConfigMap``), the mapper takes that kind (or a plain dict); given a
custom resource class, a ``Kind`` or a reference string, a plain dict: the cache's object, as the
mapper gets it at run time. mypy --strict flags ``Watch(core_v1.ConfigMap, by_secret)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from kubeloop.controller import Request
from kubeloop.operator._kinds import KindLike

__all__ = ["Watch"]

K = TypeVar("K", bound=Mapping[str, Any])
W = TypeVar("W")


@dataclass(frozen=True, init=False, slots=True)
class Watch(Generic[W]):
    """Watch ``kind`` and reconcile what ``mapper(obj)`` returns for each of its objects' events."""

    kind: KindLike
    mapper: Callable[[W], Iterable[Request]]

    @overload
    def __init__(self: Watch[K], kind: type[K], mapper: Callable[[K], Iterable[Request]]) -> None: ...
    @overload
    def __init__(
        self: Watch[dict[str, Any]], kind: KindLike, mapper: Callable[[dict[str, Any]], Iterable[Request]]
    ) -> None: ...
    def __init__(self, kind: KindLike, mapper: Callable[[Any], Iterable[Request]]) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "mapper", mapper)
