"""RFC 6902 JSON patches computed from two JSON documents (what a mutating webhook answers).

Only ``add``, ``remove`` and ``replace`` operations: object members are diffed key by key, lists
of equal length element by element, and a list whose length changed is replaced whole (simple and
always correct, where index-shifting ``add``/``remove`` sequences are easy to get wrong). Values are
compared strictly by JSON type, so ``1`` → ``1.0`` or ``1`` → ``true`` is a change.
"""

from __future__ import annotations

from typing import Any

from kubeloop.jsonvalue import json_equal

__all__ = ["json_patch", "pointer"]

Operation = dict[str, Any]


def pointer(*tokens: str | int) -> str:
    """A JSON pointer (RFC 6901) of ``tokens``: ``~`` and ``/`` escaped as ``~0`` and ``~1``."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def json_patch(old: Any, new: Any) -> list[Operation]:
    """The operations that turn ``old`` into ``new`` (empty when they are the same)."""
    ops: list[Operation] = []
    _diff(old, new, [], ops)
    return ops


def _diff(old: Any, new: Any, path: list[str | int], ops: list[Operation]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": pointer(*path, key)})
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": pointer(*path, key), "value": value})
            else:
                _diff(old[key], value, [*path, key], ops)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(a, b, [*path, index], ops)
        return
    if not json_equal(old, new):
        ops.append({"op": "replace", "path": pointer(*path), "value": new})
