"""What a write job sees and stages: committed state plus the changes staged earlier in its batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import orjson

from kubeloop.apiserver.machinery.errors import too_large_for_storage
from kubeloop.apiserver.storage.events import Key, Obj

__all__ = ["MAX_OBJECT_BYTES", "View"]

MAX_OBJECT_BYTES = 1536 * 1024


class _Committed(Protocol):
    def get(self, key: Key) -> Obj | None: ...

    def items(self, resource: str, namespace: str | None = None) -> Iterator[tuple[Key, Obj]]: ...


class View:
    """One write job's window on the store (see ``Store.write``)."""

    def __init__(self, committed: _Committed, staged: dict[Key, Obj | None], next_rv: int) -> None:
        self._committed = committed
        self._batch = staged
        self._mine: dict[Key, Obj | None] = {}
        self._rvs: dict[Key, int] = {}
        self._next_rv = next_rv

    def get(self, key: Key) -> Obj | None:
        """The object at ``key`` as the job would see it now, or None."""
        if key in self._mine:
            return self._mine[key]
        if key in self._batch:
            return self._batch[key]
        return self._committed.get(key)

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Every object of ``resource`` (in ``namespace`` when given), staged changes included."""
        found = dict(self._committed.items(resource, namespace))
        for overlay in (self._batch, self._mine):
            for k, o in overlay.items():
                if k[0] == resource and (namespace is None or k[1] == namespace):
                    if o is None:
                        found.pop(k, None)
                    else:
                        found[k] = o
        return [found[k] for k in sorted(found)]

    def committed_any(self, resource: str) -> bool:
        """Whether any committed object of ``resource`` exists (changes staged in this batch are not
        looked at): a constant-time check before a ``list`` that is usually empty."""
        return next(iter(self._committed.items(resource)), None) is not None

    def put(self, key: Key, obj: Obj) -> Obj:
        """Stage ``obj`` at ``key``; sets and returns it with its new ``metadata.resourceVersion``.

        An object over ``MAX_OBJECT_BYTES`` (etcd's default request limit, 1.5 MiB; measured here on the
        JSON, etcd measures its protobuf) is refused as etcd refuses it: 500 "request is too large"."""
        if len(orjson.dumps(obj)) > MAX_OBJECT_BYTES:
            raise too_large_for_storage()
        self._next_rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._next_rv)
        self._mine[key] = obj
        self._rvs[key] = self._next_rv
        return obj

    def delete(self, key: Key) -> None:
        """Stage the removal of ``key``."""
        self._next_rv += 1
        self._mine[key] = None
        self._rvs[key] = self._next_rv

    # -- for the writer ----------------------------------------------------------------------------

    @property
    def last_rv(self) -> int:
        """The resourceVersion of the last change staged (the starting one when none was)."""
        return self._next_rv

    def staged(self) -> Iterator[tuple[Key, Obj | None, int]]:
        """This job's changes: (key, object or None for a removal, resourceVersion)."""
        for key, obj in self._mine.items():
            yield key, obj, self._rvs[key]
