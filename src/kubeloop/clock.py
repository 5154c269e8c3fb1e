"""The injectable clocks: every timed component of kubeloop reads time and waits through one of these.

Role: the bottom layer, beside ``kubeloop.errors``; it imports only the standard library. The work
queue (delayed adds, rate limiting), the controller (``Result(requeue_after=)``) and the manager
(leader election) take a ``Clock`` so that tests swap in ``FakeClock`` and run backoff schedules at
zero wall time. The API client only reads time and sleeps, so it takes the smaller ``SleepClock``
(every ``Clock`` is one) and its tests use ``InstantClock``.

- ``SleepClock``: ``now`` and ``sleep``. ``Clock``: plus ``call_at``.
- ``RealClock``: the event loop's clock. ``FakeClock``: moved by the test, step by step.
  ``InstantClock``: ``sleep`` returns at once after moving time forward.
- ``WallClock``: epoch seconds derived from a ``SleepClock``, for server-given expiry timestamps.
- ``timeout(clock, seconds)``: ``asyncio.timeout`` on a ``Clock``.

Guarantees:

- ``now()`` is monotonic seconds; it never goes backwards. Only differences are meaningful.
- ``RealClock`` is the asyncio event loop's clock, so its deadlines and ``loop.call_at`` agree.
- ``FakeClock`` only moves when a test calls ``advance``; timers and sleepers whose deadline has
  passed then fire in deadline order (ties in the order they were scheduled), each seeing ``now()``
  equal to its own deadline, so a sleeper that sleeps again inside the advanced window wakes again
  within the same ``advance``.

Caveats: like asyncio itself, clocks are not thread-safe; use one from its event loop only.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol

__all__ = ["Clock", "FakeClock", "InstantClock", "RealClock", "SleepClock", "Timer", "WallClock", "timeout"]


class Timer(Protocol):
    """A scheduled callback that has not necessarily fired yet (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Stop the callback from running; a no-op if it already ran or was cancelled."""


class SleepClock(Protocol):
    """Monotonic time and a coroutine that waits for it: all that request/retry code needs."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings are meaningful."""

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock; ``seconds <= 0`` only yields."""


class Clock(SleepClock, Protocol):
    """A ``SleepClock`` plus a callback way of waiting.

    ``call_at`` exists beside ``sleep`` because a component that needs one wake-up at the earliest
    of many deadlines (the delayed queue) can then reschedule a timer instead of running a task.
    """

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` on the event loop once ``now() >= when``; the caller may cancel it."""


class RealClock:
    """The asyncio event loop's clock (``loop.time()``), or ``time.monotonic()`` outside a loop.

    The default event loop's ``time()`` is ``time.monotonic()``, so readings taken inside and
    outside a running loop are comparable.
    """

    __slots__ = ()

    def now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Caller duty: call from inside the running event loop."""
        return asyncio.get_running_loop().call_at(when, callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


# How many times ``FakeClock.advance`` yields to the event loop after firing the timers of one
# deadline: enough for a woken sleeper to run to its next await even through a few awaits of
# already-completed futures (queue hand-offs, locks), cheap enough to not matter.
_SETTLE_ROUNDS = 8


class FakeClock:
    """A clock that stands still until the test moves it with ``await clock.advance(seconds)``.

    Guarantees: timers (and ``sleep``) fire in deadline order, ties in scheduling order; while a
    timer fires ``now()`` equals its deadline; after each deadline's timers fire the event loop runs
    a few rounds so the woken tasks proceed (and may schedule more timers) before time moves on.

    Time is kept in whole nanoseconds (deadlines are rounded to the nearest one), so float drift
    does not strand a timer: after ``advance(9.999)`` and ``advance(0.001)`` a deadline of 10 is due.

    Caveats: a timer scheduled at or before ``now()`` fires on the next ``advance`` (``advance(0)``
    suffices), not by itself. A woken task that needs more than a few loop rounds to reach its next
    wait must be awaited by the test explicitly.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now_ns = _to_ns(start)
        self._seq = 0
        self._timers: list[tuple[int, int, _FakeTimer]] = []  # (deadline ns, sequence, timer)

    def now(self) -> float:
        return self._now_ns / _NS

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self.now() + seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        timer = _FakeTimer(when, callback)
        self._seq += 1
        when_ns = _to_ns(when)
        if when > self.now() and when_ns <= self._now_ns:
            # A deadline in the future, by less than the rounding: it is due one nanosecond on, so a
            # positive wait always moves time (else a retry loop against a float deadline never ends).
            when_ns = self._now_ns + 1
        heapq.heappush(self._timers, (when_ns, self._seq, timer))
        return timer

    @property
    def pending_timers(self) -> int:
        """Number of scheduled, not yet fired and not cancelled timers (sleepers included)."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline of a pending timer, or ``None`` when nothing is scheduled."""
        self._drop_cancelled()
        return self._timers[0][0] / _NS if self._timers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer due by the new time in order.

        Caller duty: await it from the event loop the timers belong to; ``seconds`` must be >= 0.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance({seconds}))")
        target = self._now_ns + _to_ns(seconds)
        while True:
            self._drop_cancelled()
            if not self._timers or self._timers[0][0] > target:
                break
            deadline = self._timers[0][0]
            self._now_ns = max(self._now_ns, deadline)
            while self._timers and self._timers[0][0] <= deadline:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    timer.cancelled = True
                    timer.callback()
            await _settle()
        self._now_ns = target
        await _settle()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)


class InstantClock:
    """A clock whose ``sleep`` returns at once after moving time forward by the amount slept.

    Code that sleeps (backoff, rate limits, retries) thus runs at zero wall time while ``now()``
    reports the time it would have taken; ``slept`` records every sleep (negative ones as 0) for
    assertions. It suits code that a test cannot step by hand; ``FakeClock`` models concurrency.

    Caveats: ``advance`` moves time without sleeping and, unlike ``FakeClock.advance``, is a plain
    method. There is no ``call_at``: this is a ``SleepClock``, not a ``Clock``.
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
    """Epoch seconds derived from a clock: the system time when created plus the clock's elapsed time.

    Used to compare server-given expiry timestamps (exec credentials) with a clock tests can move.
    """

    def __init__(self, clock: SleepClock, epoch: float | None = None) -> None:
        self._clock = clock
        self._origin = clock.now()
        self._epoch = time.time() if epoch is None else epoch

    def time(self) -> float:
        """Seconds since the epoch, as the injected clock sees it."""
        return self._epoch + (self._clock.now() - self._origin)


def timeout(clock: Clock, seconds: float | None) -> AbstractAsyncContextManager[None]:
    """``asyncio.timeout`` on ``clock``: the block is cancelled once ``seconds`` pass on it, and
    ``TimeoutError`` raised in its place; ``None`` waits forever. A ``CancelledError`` that is not the
    timeout's own (the task cancelled from outside, or raised inside the block) goes on unchanged."""
    return _Timeout(clock, seconds)


class _Timeout(AbstractAsyncContextManager[None]):
    """One ``timeout`` block (a class, not a generator: it wraps every reconcile)."""

    __slots__ = ("_cancelling", "_clock", "_expired", "_seconds", "_task", "_timer")

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._task: asyncio.Task[Any] | None = None
        self._timer: Timer | None = None
        self._cancelling = 0
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._seconds is None or task is None:
            return
        self._task = task
        self._cancelling = task.cancelling()
        self._timer = self._clock.call_at(self._clock.now() + self._seconds, self._expire)

    def _expire(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        # The timeout's own cancellation request is withdrawn however the block ended (it may have
        # swallowed the CancelledError), so that ``cancelling()`` counts only the others.
        if (
            self._expired
            and self._task is not None
            and self._task.uncancel() <= self._cancelling
            and isinstance(exc, asyncio.CancelledError)
        ):
            raise TimeoutError(f"timed out after {self._seconds} s") from exc


_NS = 1_000_000_000


def _to_ns(seconds: float) -> int:
    return round(seconds * _NS)


async def _settle() -> None:
    for _ in range(_SETTLE_ROUNDS):
        await asyncio.sleep(0)
