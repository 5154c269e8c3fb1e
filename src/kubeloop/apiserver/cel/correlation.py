"""An update's new and old values walked side by side, as apiserver's ``cel/common.CorrelatedObject``:
what validation ratcheting (GA and locked on in v1.33) asks of a node: is it unchanged?

A node correlates with its old value through object keys present in both (with a schema for the key)
and through the items of ``x-kubernetes-list-type: map`` lists matched by their keys; other list items
do not correlate. A node with no correlated old value is never "unchanged". Equality is Go's
``reflect.DeepEqual`` of decoded JSON (``1`` and ``1.0`` differ), except that map-list items are
compared by key, in any order.
"""

from __future__ import annotations

from typing import Any

from kubeloop.jsonvalue import json_equal

__all__ = ["Correlated", "map_list_old"]

Obj = dict[str, Any]


class Correlated:
    """One node of an update: ``value`` (new), ``old`` and the node's schema; children made on demand."""

    __slots__ = ("_children", "_equal", "old", "schema", "value")

    def __init__(self, value: Any, old: Any, schema: Obj) -> None:
        self.value = value
        self.old = old
        self.schema = schema
        self._children: dict[str | int, Correlated | None] = {}
        self._equal: bool | None = None

    def key(self, field: str) -> Correlated | None:
        """The child at ``field``, or None when it does not correlate (absent on a side, no schema)."""
        if field in self._children:
            return self._children[field]
        child: Correlated | None = None
        if (
            isinstance(self.value, dict)
            and isinstance(self.old, dict)
            and field in self.value
            and field in self.old
        ):
            sub = (self.schema.get("properties") or {}).get(field)
            if sub is None and isinstance(self.schema.get("additionalProperties"), dict):
                sub = self.schema["additionalProperties"]
            if isinstance(sub, dict):
                child = Correlated(self.value[field], self.old[field], sub)
        self._children[field] = child
        return child

    def index(self, i: int) -> Correlated | None:
        """The item at ``i``, correlated with the old item of the same keys in a map-list, else None."""
        if i in self._children:
            return self._children[i]
        child: Correlated | None = None
        items = self.schema.get("items")
        if isinstance(self.value, list) and i < len(self.value) and isinstance(items, dict):
            old = map_list_old(self.schema, self.old, self.value[i])
            if old is not None:
                child = Correlated(self.value[i], old, items)
        self._children[i] = child
        return child

    def equal(self) -> bool:
        """The node is unchanged (cached, as ``CachedDeepEqual``)."""
        if self._equal is None:
            self._equal = self._compare()
        return self._equal

    def _compare(self) -> bool:
        new, old = self.value, self.old
        if new is None or old is None:
            return new is None and old is None
        if isinstance(new, list) and isinstance(old, list):
            if len(new) != len(old):
                return False
            keyed = self.schema.get("x-kubernetes-list-type") == "map"
            for i in range(len(new)):
                child = self.index(i)
                if child is None:
                    return False if keyed else json_equal(new, old)
                if not child.equal():
                    return False
            return True
        if isinstance(new, dict) and isinstance(old, dict):
            if len(new) != len(old):
                return False
            for k in new:
                child = self.key(k)
                if child is None or not child.equal():
                    return False
            return True
        return json_equal(new, old)


def map_list_old(schema: Obj, old: Any, item: Any) -> Any:
    """The first item of ``old`` with ``item``'s keys when ``schema`` is a map-list, else None."""
    if (
        schema.get("x-kubernetes-list-type") != "map"
        or not isinstance(old, list)
        or not isinstance(item, dict)
    ):
        return None
    keys = schema.get("x-kubernetes-list-map-keys") or ()
    wanted = _composite(item, keys)
    if wanted is None:
        return None
    for candidate in old:
        if isinstance(candidate, dict) and _composite(candidate, keys) == wanted:
            return candidate
    return None


def _composite(item: Obj, keys: Any) -> tuple[tuple[type, Any], ...] | None:
    """The item's key values with their types (Go keys ``1`` and ``1.0`` apart), or None if one is
    missing or not a scalar."""
    out = []
    for k in keys:
        v = item.get(k, _MISSING)
        if not isinstance(v, bool | int | float | str):
            return None
        out.append((type(v), v))
    return tuple(out)


_MISSING = object()
