"""Transforms an informer applies to each object before storing it, to cut what the cache holds.

``strip_managed_fields`` drops ``metadata.managedFields``; ``slim_managed_fields`` keeps who manages an
object and drops which fields, and ``slim_managed_fields_except`` (a ``kl.Operator``'s default) does so
but for one manager's entries. They change the object in place.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeloop.cache._store import Obj

__all__ = ["Transform", "slim_managed_fields", "slim_managed_fields_except", "strip_managed_fields"]

Transform = Callable[[Obj], Obj]


def strip_managed_fields(obj: Obj) -> Obj:
    """A transform that drops ``metadata.managedFields`` (often half of an object's size)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


_MANAGED_FIELDS_KEPT = ("manager", "operation", "subresource")
_SHARED_MAX = 4096

_shared: dict[tuple[tuple[tuple[str, object], ...], ...], list[Obj]] = {}
"""Slim managedFields lists by content: the few (manager, operation) combinations of a cluster, each
held once by all the objects that have it."""


def slim_managed_fields(obj: Obj) -> Obj:
    """A transform that keeps who manages an object (``manager``, ``operation``, ``subresource`` of each
    ``managedFields`` entry) and drops which fields (``fieldsV1``, two thirds of a Pod's size in memory).

    Objects with equal slim entries share one list of them (never change it in place: assign a new
    list to ``metadata.managedFields``)."""
    return _slim(obj, None)


def slim_managed_fields_except(manager: str) -> Transform:
    """``slim_managed_fields``, but the entries of ``manager`` kept whole: an operator's cache knows
    which fields it owns itself (so that an apply that would change nothing need not be sent)."""

    def transform(obj: Obj) -> Obj:
        return _slim(obj, manager)

    return transform


def _slim(obj: Obj, keep: str | None) -> Obj:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("managedFields"), list):
        entries = [entry for entry in meta["managedFields"] if isinstance(entry, dict)]
        if keep is not None and any(entry.get("manager") == keep for entry in entries):
            meta["managedFields"] = [e if e.get("manager") == keep else _slim_entry(e) for e in entries]
        else:
            meta["managedFields"] = _shared_slim(entries)
    return obj


def _slim_entry(entry: Obj) -> Obj:
    return {k: entry[k] for k in _MANAGED_FIELDS_KEPT if k in entry}


def _shared_slim(entries: list[Obj]) -> list[Obj]:
    """The slim form of ``entries``: the list every object with these entries holds."""
    key = tuple(tuple((k, entry[k]) for k in _MANAGED_FIELDS_KEPT if k in entry) for entry in entries)
    try:
        shared = _shared.get(key)
    except TypeError:  # a value that is no string: kept, not shared
        return [_slim_entry(entry) for entry in entries]
    if shared is None:
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()  # a bound for clusters with very many managers; a handful is usual
        shared = _shared[key] = [dict(entry) for entry in key]
    return shared
