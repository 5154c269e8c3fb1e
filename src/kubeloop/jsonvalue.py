"""Equality of decoded JSON values as Go's ``reflect.DeepEqual`` sees them after ``json.Unmarshal``:
``1``, ``1.0`` and ``true`` differ (Python's ``==`` says they are equal), which is what a patch or a
ratcheting rule must tell apart."""

from __future__ import annotations

from typing import Any

__all__ = ["json_equal"]


def json_equal(a: Any, b: Any) -> bool:
    """Whether two decoded JSON values are equal with their types: numbers of different types differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
