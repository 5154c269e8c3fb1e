"""Indexes of committed objects the control loops look up by: UID, and owner UID.

Kept by the store as it applies each change, so finding an object's dependents (garbage collection,
foreground deletion, orphaning) costs the number of dependents, not a scan of every object.
"""

from __future__ import annotations

import collections

from kubeloop.apiserver.storage.events import Key, Obj

__all__ = ["UidIndex"]


class UidIndex:
    """``uid → key`` of every object, and ``owner uid → keys`` of the objects naming it as owner."""

    def __init__(self) -> None:
        self._keys: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = collections.defaultdict(set)

    def update(self, key: Key, old: Obj | None, new: Obj | None) -> None:
        """Record that the object at ``key`` changed from ``old`` to ``new`` (None: absent)."""
        if old is not None:
            uid = old["metadata"].get("uid")
            if uid and self._keys.get(uid) == key:
                del self._keys[uid]
            for owner in _owners(old):
                keys = self._dependents.get(owner)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._dependents[owner]
        if new is not None:
            uid = new["metadata"].get("uid")
            if uid:
                self._keys[uid] = key
            for owner in _owners(new):
                self._dependents[owner].add(key)

    def key(self, uid: str) -> Key | None:
        """The key of the object with ``uid``, or None."""
        return self._keys.get(uid)

    def dependents(self, owner_uid: str) -> list[Key]:
        """Keys of the objects with an owner reference to ``owner_uid``, sorted."""
        return sorted(self._dependents.get(owner_uid, ()))


def _owners(obj: Obj) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if ref.get("uid")}
