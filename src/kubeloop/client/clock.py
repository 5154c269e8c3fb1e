"""Time for the client: an injectable ``Clock`` so rate limits, backoff and credential expiry run at zero
wall time in tests.

``Clock`` is the ``now()``/``sleep()`` part of ``kubeloop.clock.Clock``, so the framework-wide clocks
fit here unchanged (the client may not import them: it sits below every other layer). ``FakeClock``
here advances by itself on ``sleep``, which suits request/retry code that a test cannot step by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "WallClock"]


class Clock(Protocol):
    """Monotonic seconds and a way to wait for them."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock whose ``sleep`` returns at once after moving time forward by the amount slept.

    Code that sleeps (backoff, rate limits) thus runs at zero wall time while ``now()`` reports the
    time it would have taken; ``slept`` records every sleep for assertions, ``advance`` moves time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self._now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping."""
        self._now += seconds


class WallClock:
    """Epoch seconds derived from a ``Clock``: the system time when created plus the clock's elapsed time.

    Used to compare server-given expiry timestamps (exec credentials) with a clock tests can move.
    """

    def __init__(self, clock: Clock, epoch: float | None = None) -> None:
        self._clock = clock
        self._origin = clock.now()
        self._epoch = time.time() if epoch is None else epoch

    def time(self) -> float:
        """Seconds since the epoch, as the injected clock sees it."""
        return self._epoch + (self._clock.now() - self._origin)
