"""``validate``: check an object against its kind's types at run time, when the caller asks.

Reads never pay for it: the client and the cache hand out the dicts they hold, typed but unchecked.
Validation is strict (no coercion: ``"3"`` is not an int) and looks only at the fields the types
know, so an object from a newer server passes, and it returns the very object it was given, unknown
fields included.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import pydantic

__all__ = ["validate"]

T = TypeVar("T", bound=Mapping[str, Any])


@functools.cache
def _adapter(kind: type[Any]) -> pydantic.TypeAdapter[Any]:
    import pydantic  # only when asked: importing the types must not cost pydantic's import

    return pydantic.TypeAdapter(kind)


def validate(kind: type[T], obj: Mapping[str, Any]) -> T:
    """``obj`` itself, typed as ``kind``, once it matches the kind's types; else
    ``pydantic.ValidationError`` naming each wrong field by its path (``spec.replicas``)."""
    _adapter(kind).validate_python(obj, strict=True)
    return cast(T, obj)
