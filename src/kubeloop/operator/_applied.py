"""``AppliedChildren``: what a controller last server-side-applied to each child it owns, so that
``ctx.apply`` sends no request when the apply would change nothing.

An apply of ``desired`` changes nothing when (1) ``desired`` is what this controller last applied to
that object (so no field it set before is missing from it now), (2) the fields the field manager owns
are still those that apply left it (nobody took one over, not even to put the same value back) and
(3) every value in ``desired`` is the live object's (lists of the same length, item by item; an
empty map or list the server dropped counts as there; a ``None`` never matches). The live object
is the cache's: for owned kinds their events reconcile the owner, so a change the cache has not
seen yet brings another pass that sees it. Nothing is remembered across restarts: the first pass
of a new process applies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from kubeloop.cache import Informer, InformerEvent, key_of

__all__ = ["AppliedChildren", "ChildKey"]

ChildKey = tuple[str, str, str, str]
"""(group, kind, namespace, name) of a child."""


class AppliedChildren:
    """Per child of a controller: the digest of the object last applied, the uid it was applied to
    and the digest of the field manager's own fields right after."""

    def __init__(self, field_manager: str, owned: Iterable[tuple[str, str]]) -> None:
        self.field_manager = field_manager
        self.owned = frozenset(owned)
        """(group, kind) of the kinds whose events reconcile the owner: only their applies are skipped."""
        self._last: dict[ChildKey, tuple[bytes, str, bytes | None]] = {}

    def forget_deleted(self, informer: Informer) -> None:
        """Drop what is known of ``informer``'s objects once they are deleted (no memory for the gone)."""
        group, kind = informer.resource.group, informer.resource.kind

        def on_event(event: InformerEvent) -> None:
            if event.type == "delete":
                self._last.pop((group, kind, *key_of(event.obj)), None)

        informer.add_handler(on_event)

    def digest(self, desired: Mapping[str, Any]) -> bytes:
        """The digest of an object as it will be sent."""
        return _digest(desired)

    def unchanged(self, key: ChildKey, digest: bytes, desired: Mapping[str, Any], live: Any) -> bool:
        """Whether applying ``desired`` (of ``digest``) over ``live`` would change nothing."""
        last = self._last.get(key)
        if last is None or last[0] != digest or not isinstance(live, dict):
            return False
        meta = live.get("metadata") or {}
        if meta.get("uid") != last[1] or meta.get("deletionTimestamp"):
            return False
        own = self._own_fields(live)
        return own is not None and own == last[2] and _within(desired, live)

    def record(self, key: ChildKey, digest: bytes, stored: Mapping[str, Any]) -> None:
        """Remember an apply of the object of ``digest`` that the server answered with ``stored``."""
        uid = (stored.get("metadata") or {}).get("uid")
        if isinstance(uid, str):
            self._last[key] = (digest, uid, self._own_fields(stored))

    def _own_fields(self, obj: Mapping[str, Any]) -> bytes | None:
        """The digest of the fields the field manager applied to ``obj`` (its main resource, not a
        subresource); None when ``obj`` does not say (no such entry, or its ``fieldsV1`` dropped)."""
        own = [
            entry.get("fieldsV1")
            for entry in (obj.get("metadata") or {}).get("managedFields") or ()
            if entry.get("manager") == self.field_manager
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ]
        if not own or any(fields is None for fields in own):
            return None
        return _digest(own)


def _digest(value: Any) -> bytes:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _within(want: Any, have: Any) -> bool:
    """Whether every value of ``want`` is ``have``'s (maps: ``have`` may hold more keys, and may lack
    one whose value is an empty map or list, which the server drops; lists: the same length, item by
    item; scalars: equal and of the same type; ``None`` matches nothing)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return all(
            _within(value, have[name]) if name in have else _empty(value) for name, value in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_within(w, h) for w, h in zip(want, have, strict=True))
        )
    return want is not None and type(want) is type(have) and want == have


def _empty(value: Any) -> bool:
    return (isinstance(value, dict | list)) and not value
