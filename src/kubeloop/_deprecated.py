"""Old public names and keywords kept for one release, each with a ``DeprecationWarning`` naming its
replacement (see docs/changelog.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deprecated_aliases", "warn_deprecated"]


def warn_deprecated(old: str, replacement: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``replacement`` (``stacklevel``: the caller's caller)."""
    warnings.warn(
        f"{old} is deprecated; use {replacement} (see docs/changelog.md)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def deprecated_aliases(module: str, aliases: Mapping[str, tuple[object, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``aliases`` (old name → (object, name to use instead)) with a
    ``DeprecationWarning``; other names raise ``AttributeError`` as usual."""

    def __getattr__(name: str) -> Any:
        if name not in aliases:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value, replacement = aliases[name]
        warn_deprecated(f"{module}.{name}", replacement)
        return value

    return __getattr__
