"""``CacheScope``: what an operator's cache holds of one kind, and how the operator's declarations
become the manager's ``CacheOptions`` (controller-runtime's ``cache.Options``: ``DefaultNamespaces``,
``ByObject``, ``DefaultTransform``, ``DisableFor``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubeloop.cache import (
    CacheOptions,
    IndexFunc,
    InformerOptions,
    Obj,
    Transform,
    slim_managed_fields_except,
)
from kubeloop.operator._kinds import KindSpec

__all__ = ["CacheScope", "cache_options", "scope_key"]

Selector = str | Mapping[str, str]
"""A selector as the API server takes it (``"app=web,tier!=db"``) or equalities as a mapping."""


@dataclass(frozen=True)
class CacheScope:
    """What the cache holds of one kind (every field optional).

    ``namespaces``: only these (default: the operator's). ``labels`` / ``fields``: only objects the
    selectors match (the server filters: the rest never reach the process). ``metadata_only``: only
    ``apiVersion``, ``kind`` and ``metadata`` (the server sends ``PartialObjectMetadata``), for kinds
    the operator only needs to know exist, or find by label or owner; not for a reconciled kind.
    ``transform``: applied to each object before it is stored (after the operator's own).
    ``indexes``: named index functions (object → values), queried with
    ``ctx.list(kind, index=name, value=v)``.
    """

    namespaces: Sequence[str] | None = None
    labels: Selector | None = None
    fields: Selector | None = None
    metadata_only: bool = False
    transform: Transform | None = None
    indexes: Mapping[str, IndexFunc] = field(default_factory=dict)


def scope_key(spec: KindSpec) -> str:
    """The key of a kind in ``CacheOptions``: ``"<Kind>.<group>"`` (``"<Kind>"`` for the core group)."""
    return f"{spec.kind}.{spec.group}" if spec.group else spec.kind


def cache_options(
    namespaces: Sequence[str],
    scopes: Mapping[KindSpec, CacheScope],
    uncached: Iterable[KindSpec],
    transform: Transform | None,
    sharded: tuple[Iterable[KindSpec], str] | None = None,
    *,
    field_manager: str,
) -> CacheOptions:
    """The manager's cache settings from an operator's: every kind in ``namespaces`` (all when
    empty), keeping who manages each object but not which fields, but for ``field_manager``'s own
    (``slim_managed_fields_except``: pruning needs the managers, ``ctx.apply`` its own fields; Pods
    take half the memory), then ``transform``; per kind as ``scopes`` say.
    ``sharded``: kinds of which only objects matching a label selector (a replica's share) are cached."""
    default_transform = _chain(slim_managed_fields_except(field_manager), transform)
    default = InformerOptions(namespaces=tuple(namespaces), transform=default_transform)
    by_key = {scope_key(kind): scope for kind, scope in scopes.items()}
    shard_keys, shard_selector = ({scope_key(k) for k in sharded[0]}, sharded[1]) if sharded else (set(), "")
    for key in shard_keys:
        by_key.setdefault(key, CacheScope())
    by_resource = {}
    for key, scope in by_key.items():
        labels = _selector(scope.labels)
        if key in shard_keys:
            labels = f"{labels},{shard_selector}" if labels else shard_selector
        by_resource[key] = InformerOptions(
            namespaces=tuple(scope.namespaces) if scope.namespaces is not None else default.namespaces,
            label_selector=labels,
            field_selector=_selector(scope.fields),
            metadata_only=scope.metadata_only,
            transform=_chain(default_transform, scope.transform),
            indexers=dict(scope.indexes),
        )
    return CacheOptions(
        default=default,
        by_resource=by_resource,
        uncached=frozenset(scope_key(kind) for kind in uncached),
    )


def _selector(selector: Selector | None) -> str | None:
    if selector is None or isinstance(selector, str):
        return selector or None
    return ",".join(f"{key}={value}" for key, value in selector.items()) or None


def _chain(first: Transform, then: Transform | None) -> Transform:
    if then is None:
        return first

    def both(obj: Obj) -> Obj:
        return then(first(obj))

    return both
