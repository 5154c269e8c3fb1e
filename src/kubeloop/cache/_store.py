"""The indexer (client-go's ``cache.Indexer``): cached objects by key, with indexes kept up to date on
every write.

One writer (the informer that owns it) and any number of readers. Reads and writes are plain
method calls with no ``await`` inside, so on one event loop every read sees a whole write.
Objects are the dicts the server sent (after the informer's transform); readers must not
mutate them: copy first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = ["INDEX_NAMESPACE", "INDEX_OWNER", "IndexFunc", "Indexer", "Obj", "ObjectKey", "key_of"]

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]


class ObjectKey(NamedTuple):
    """Namespace and name of an object; namespace is ``""`` for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    """The key of an object from its metadata."""
    meta = obj.get("metadata") or {}
    return ObjectKey(meta.get("namespace") or "", meta.get("name") or "")


INDEX_NAMESPACE = "namespace"
INDEX_OWNER = "owner-uid"


def _namespace_index(obj: Obj) -> Iterable[str]:
    return (key_of(obj).namespace,)


def _owner_index(obj: Obj) -> Iterable[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or () if "uid" in ref]


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {INDEX_NAMESPACE: _namespace_index, INDEX_OWNER: _owner_index}


class Indexer:
    """The store of one informer: objects by ``ObjectKey`` plus named indexes (namespace and owner UID
    unless ``defaults`` is False, and any added)."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None, *, defaults: bool = True) -> None:
        self._items: dict[ObjectKey, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {**(DEFAULT_INDEXERS if defaults else {}), **(indexers or {})}
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {name: {} for name in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def indexes(self) -> tuple[str, ...]:
        """The names of the indexes kept."""
        return tuple(self._indexers)

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._items.values()))

    def get(self, key: ObjectKey) -> Obj | None:
        """The cached object, or None."""
        return self._items.get(key)

    def keys(self) -> list[ObjectKey]:
        """Every key, in no particular order."""
        return list(self._items)

    def by_index(self, index: str, value: str) -> list[Obj]:
        """Objects whose index function returned ``value``; KeyError for an unknown index."""
        keys = self._indexes[index].get(value, ())
        return [self._items[k] for k in keys]

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index and build it over what is stored already."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} exists already")
        self._indexers[name] = func
        self._indexes[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    # -- writer side ----------------------------------------------------------------------------

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj``; returns the object it replaced, if any."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name in self._indexers:
            self._index(name, key, obj)
        return old

    def delete(self, key: ObjectKey) -> Obj | None:
        """Remove the object at ``key``; returns it, if it was there."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, name: str, key: ObjectKey, obj: Obj) -> None:
        index = self._indexes[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]
