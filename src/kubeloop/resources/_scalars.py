"""The API's scalar types that are not plain JSON types: what the generated ``TypedDict``s use for
int-or-string, quantities, times and embedded raw objects.

They are aliases, not wrappers: an object keeps the JSON value the server sent (a time stays an
RFC 3339 string), so reading a typed object costs nothing.
"""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["IntOrString", "MicroTime", "Quantity", "RawExtension", "Time"]

IntOrString: TypeAlias = int | str
"""A port number or name, a count or a percentage (``8080``, ``"http"``, ``"25%"``)."""

Quantity: TypeAlias = str | int | float
"""A resource quantity: ``"500m"``, ``"1Gi"`` as the server returns it; numbers are accepted on input."""

Time: TypeAlias = str
"""An RFC 3339 date-time in UTC with second precision, ``"2024-05-01T12:00:00Z"``."""

MicroTime: TypeAlias = str
"""An RFC 3339 date-time in UTC with microsecond precision, ``"2024-05-01T12:00:00.123456Z"``."""

RawExtension: TypeAlias = dict[str, Any]
"""An embedded object of any kind (with its own ``apiVersion`` and ``kind``)."""
