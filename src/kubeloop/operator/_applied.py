"""``AppliedChildren``: whether a server-side apply of a child would change nothing, read from the
child as cached, so that ``ctx.apply`` sends no request for it.

An apply of ``desired`` by a field manager changes nothing when (1) the fields of that manager's own
``Apply`` entry in the live object's ``managedFields`` are exactly the fields of ``desired``: none
missing (a field someone else took over, even putting our value back, is in their entry, not ours)
and none more (a field applied before and no longer would be removed); (2) every value in
``desired`` is the live object's (maps may hold more keys: defaults, other managers' fields; lists
of the same length, item by item; an empty map or list the server dropped counts as there; a
``None`` never matches); and (3) no other manager applies to the object's main resource (the
fields it shares with ours are not ours to judge). The live object is the cache's, whose transform
keeps the operator's own entries whole (``slim_managed_fields_except``); for owned kinds their
events reconcile the owner, so a change the cache has not seen yet brings another pass that sees it.
Nothing is remembered between passes: a new process, whose children were applied by the one before,
sends no apply for a child that is as it wants it.

Fields are compared as the server records them (``fieldsV1``): ``f:<name>`` for a map's field,
``k:<key JSON>`` for an item of an associative list (matched to the live item holding those key
values, defaults included), ``v:<JSON>`` for a member of a set, a leaf ``{}`` for a scalar or an
atomic map or list (compared as values), ``.`` for the node itself. ``apiVersion``, ``kind`` and the
metadata the server sets (name, namespace, uid...) are not tracked. Anything else in an entry means
"apply": a wrong "unchanged" would leave a child unrepaired; a wrong "changed" costs one request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from kubeloop.objectmeta import SERVER_SET_METADATA

__all__ = ["AppliedChildren"]

_MISSING: Any = object()


class AppliedChildren:
    """Whether ``field_manager``'s apply of a child of one of the ``owned`` kinds would change nothing."""

    def __init__(self, field_manager: str, owned: Iterable[tuple[str, str]]) -> None:
        self.field_manager = field_manager
        self.owned = frozenset(owned)
        """(group, kind) of the kinds whose events reconcile the owner: only their applies are skipped."""

    def unchanged(self, desired: Mapping[str, Any], live: Any) -> bool:
        """Whether applying ``desired`` over ``live`` (the cached object, or None) would change nothing."""
        if not isinstance(live, dict):
            return False
        meta = live.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return False
        own: Any = None
        for entry in meta.get("managedFields") or ():
            if entry.get("operation") != "Apply" or entry.get("subresource"):
                continue
            if entry.get("manager") != self.field_manager or own is not None:
                return False  # another applier, or two entries of ours: not ours to judge
            own = entry.get("fieldsV1")
        return isinstance(own, dict) and _owned_exactly(_tracked(desired), live, own)


def _tracked(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` without what the server does not record in ``managedFields``."""
    out = {key: value for key, value in desired.items() if key not in ("apiVersion", "kind")}
    meta = out.pop("metadata", None)
    if isinstance(meta, Mapping):
        kept = {key: value for key, value in meta.items() if key not in SERVER_SET_METADATA}
        if kept:
            out["metadata"] = kept
    return out


def _owned_exactly(want: Any, have: Any, fields: Any) -> bool:
    """Whether ``fields`` (a ``fieldsV1`` node) are exactly the fields of ``want``, and every value of
    ``want`` is ``have``'s."""
    if not isinstance(fields, dict):
        return False
    children = {key: sub for key, sub in fields.items() if key != "."}
    if not children:  # a leaf: a scalar, an atomic map or list, an empty map
        return _within(want, have)
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        for name, value in want.items():
            sub = children.pop(f"f:{name}", _MISSING)
            found = have.get(name, _MISSING)
            if _empty(value) and (found is _MISSING or _empty(found)):
                if sub is not _MISSING and any(key != "." for key in sub):
                    return False
                continue  # an empty map or list: recorded or not, dropped or not, nothing to change
            if sub is _MISSING or found is _MISSING or not _owned_exactly(value, found, sub):
                return False
        return not children  # a field of ours no longer applied: the apply would remove it
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return False
        if all(key.startswith("v:") for key in children):
            wanted = sorted("v:" + orjson.dumps(item).decode() for item in want)
            return sorted(children) == wanted and _within(want, have)
        if not all(key.startswith("k:") for key in children) or len(children) != len(want):
            return False
        keys = [(_identity(key), sub) for key, sub in children.items()]
        for item, live_item in zip(want, have, strict=True):
            if not isinstance(live_item, dict):
                return False
            matching = [i for i, (identity, _) in enumerate(keys) if _identifies(identity, live_item)]
            if len(matching) != 1:
                return False
            _, sub = keys.pop(matching[0])
            if not _owned_exactly(item, live_item, sub):
                return False
        return True
    return False  # a scalar where the entry has fields below it


def _identity(key: str) -> dict[str, Any] | None:
    """The key values of a ``k:{...}`` node (None when they do not parse as a JSON object)."""
    try:
        identity = orjson.loads(key[2:])
    except orjson.JSONDecodeError:
        return None
    return identity if isinstance(identity, dict) else None


def _identifies(identity: dict[str, Any] | None, item: Mapping[str, Any]) -> bool:
    return identity is not None and all(
        name in item and _within(value, item[name]) for name, value in identity.items()
    )


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
