"""Waiting for the world to converge: poll a check until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["eventually"]


def eventually(
    check: Callable[[], bool], timeout: float = 60.0, what: str = "condition", interval: float = 0.2
) -> None:
    """Poll ``check`` until it returns true; raise AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)
