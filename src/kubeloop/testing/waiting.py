"""Waiting for the world to converge: poll a check until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "until"]


def eventually(
    check: Callable[[], bool], timeout: float = 60.0, what: str = "condition", interval: float = 0.2
) -> None:
    """Poll ``check`` until it returns true; raise AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


async def until(
    check: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = 30.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Async ``eventually``: await ``check`` (sync or async) until true; AssertionError after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {within:.0f} s")
        await asyncio.sleep(interval)
