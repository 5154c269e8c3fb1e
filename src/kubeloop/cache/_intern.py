"""``Interner``: cached objects share their equal short strings and integers, each kept once.

Role: the informer runs every object it stores through its ``Interner`` (after the transform). What
repeats across objects of a kind — the namespace, label and annotation values, owner references,
images, ports, enum values such as ``"TCP"`` or ``"IfNotPresent"``, managers' names, timestamps of
objects made in the same second — was decoded as a new Python object per occurrence (orjson shares
the keys of objects, not the values); it then takes the first equal object's place. A cached Pod
keeps 30 % fewer bytes. Only values change identity, to equal immutable ones: the object's content,
its dicts and lists stay as they were.

Strings longer than ``Interner.max_length`` characters (a ConfigMap's files, certificates) are left alone:
they rarely repeat, and hashing them costs. ``metadata.name``, ``uid`` and ``resourceVersion`` are
skipped (unique per object), and of ``metadata.managedFields`` only each entry's own values are
shared (manager, operation, time), not its ``fieldsV1``: field paths the decoder shares already, as
keys, and many more nodes to walk.

The table holds each value once; values no cached object uses any more are dropped from it when it
has doubled since the last sweep (CPython's reference counts tell which), so a long-running cache
whose values churn (timestamps, pod IPs) keeps a table the size of what it holds. Not thread-safe:
one interner per informer, used on its event loop.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

__all__ = ["Interner"]

_SKIP_METADATA = frozenset(("name", "uid", "resourceVersion"))
_MIN_SWEEP = 1024


def _refcounts(table: dict[Any, Any]) -> list[tuple[Any, int]]:
    """Each value of ``table`` with its reference count as seen from here."""
    return [(value, sys.getrefcount(value)) for value in table]


def _table_only_refs() -> int:
    """The count ``_refcounts`` gives a value nothing but the table holds (measured, not assumed:
    interpreters differ in the references a call and a loop add)."""
    value = "".join(("kubeloop-", "probe"))  # a new object, not a shared constant
    table = {value: value}
    del value
    return _refcounts(table)[0][1]


_TABLE_ONLY = _table_only_refs()


class Interner:
    """Replaces, in place, every string of at most ``max_length`` characters and every integer in an
    object with the first equal one it has seen."""

    max_length: ClassVar[int] = 128
    """The longest string shared (characters)."""

    def __init__(self) -> None:
        self._table: dict[Any, Any] = {}
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        return len(self._table)

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Share ``obj``'s values with the objects interned before; returns ``obj``."""
        for key, value in obj.items():
            if key == "metadata" and type(value) is dict:
                for mkey, mvalue in value.items():
                    if mkey == "managedFields" and type(mvalue) is list:
                        for entry in mvalue:
                            if type(entry) is dict:
                                for ekey, evalue in entry.items():
                                    if type(evalue) is str:
                                        self._one(entry, ekey, evalue)
                    elif mkey not in _SKIP_METADATA:
                        self._one(value, mkey, mvalue)
            else:
                self._one(obj, key, value)
        if len(self._table) > self._sweep_at:
            self._sweep()
        return obj

    def _one(self, holder: Any, key: Any, value: Any) -> None:
        kind = type(value)
        if kind is dict:
            self._dict(value)
        elif kind is list:
            self._list(value)
        elif kind is str or kind is int:
            shared = self._table.get(value)
            if shared is None:
                if kind is int or len(value) <= self.max_length:
                    self._table[value] = value
            elif shared is not value:
                holder[key] = shared

    # _dict and _list are _one unrolled over a container: this runs for every value of every cached
    # object, where a call per value costs a third more.
    def _dict(self, d: dict[str, Any]) -> None:
        table, limit = self._table, self.max_length
        for key, value in d.items():
            kind = type(value)
            if kind is str or kind is int:
                shared = table.get(value)
                if shared is None:
                    if kind is int or len(value) <= limit:
                        table[value] = value
                elif shared is not value:
                    d[key] = shared  # replacing a value while iterating: the dict does not resize
            elif kind is dict:
                self._dict(value)
            elif kind is list:
                self._list(value)

    def _list(self, items: list[Any]) -> None:
        table, limit = self._table, self.max_length
        for i, value in enumerate(items):
            kind = type(value)
            if kind is str or kind is int:
                shared = table.get(value)
                if shared is None:
                    if kind is int or len(value) <= limit:
                        table[value] = value
                elif shared is not value:
                    items[i] = shared
            elif kind is dict:
                self._dict(value)
            elif kind is list:
                self._list(value)

    def _sweep(self) -> None:
        """Forget the values only the table still holds."""
        table = self._table
        for value in [v for v, count in _refcounts(table) if count <= _TABLE_ONLY]:
            del table[value]
        self._sweep_at = max(_MIN_SWEEP, 2 * len(table))
