"""Old public names kept for one release: a module ``__getattr__`` that warns and hands out the new one."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deprecated_aliases"]


def deprecated_aliases(module: str, aliases: Mapping[str, tuple[object, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``aliases`` (old name → (object, new name to use)) with a
    ``DeprecationWarning`` naming the replacement; other names raise ``AttributeError`` as usual."""

    def __getattr__(name: str) -> Any:
        if name not in aliases:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value, replacement = aliases[name]
        warnings.warn(
            f"{module}.{name} is deprecated; use {replacement} (see CHANGELOG.md)",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
