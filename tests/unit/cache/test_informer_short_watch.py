"""A watch the server ends cleanly at once with no event (client-go's "very short watch": a proxy or
server that ends every watch) backs off like a failure instead of being followed by the next at once;
a watch that brought an event, or lasted a second, is followed at once. On a fake server and
``FakeClock``: the schedule is read off the clock, no wall time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kubeloop.cache import Informer, InformerOptions
from kubeloop.client import ApiResource, WatchEvent
from kubeloop.clock import FakeClock

CONFIGMAPS = ApiResource(group="", version="v1", kind="ConfigMap", plural="configmaps",
                         singular="configmap", namespaced=True)  # fmt: skip


class _Api:
    """Lists nothing at version 1; each watch sends what ``next_events`` holds then, and ends
    (after ``lasts`` seconds on ``clock``, or at once)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.watches: list[float] = []
        self.next_events: list[WatchEvent[Any]] = []
        self.lasts = 0.0

    async def list(self, ref: Any, **_: Any) -> dict[str, Any]:
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def watch(self, ref: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        self.watches.append(self.clock.now())
        await asyncio.sleep(0)  # a real watch is I/O: the old code's loop still let the test run
        if self.lasts:
            await self.clock.sleep(self.lasts)
        events, self.next_events = self.next_events, []
        for event in events:
            yield event


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_watches_ended_at_once_with_no_event_back_off_doubling_up_to_30_s() -> None:
    clock = FakeClock()
    api = _Api(clock)
    task = asyncio.create_task(Informer(api, CONFIGMAPS, InformerOptions(clock=clock)).run())  # type: ignore[arg-type]
    try:
        await settle()
        assert len(api.watches) == 1  # the old code: one watch per loop round, 49 here
        for _ in range(200):
            await clock.advance(0.5)
        gaps = [b - a for a, b in zip(api.watches, api.watches[1:], strict=False)]
        steps = [min(0.5 * 2**n, 30.0) for n in range(len(gaps))]
        assert all(0.8 * step <= gap <= 1.2 * step for gap, step in zip(gaps, steps, strict=True)), gaps
        assert 8 <= len(api.watches) <= 10, gaps  # in 100 s: 0.5, 1, 2, 4, 8, 16, 30, 30 s apart (jittered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_watch_with_an_event_or_lasting_a_second_is_followed_at_once_and_restarts_the_backoff() -> (
    None
):
    clock = FakeClock()
    api = _Api(clock)
    task = asyncio.create_task(Informer(api, CONFIGMAPS, InformerOptions(clock=clock)).run())  # type: ignore[arg-type]
    try:
        await settle()
        for _ in range(60):  # 30 s of very short watches: the backoff is at 8-16 s by now
            await clock.advance(0.5)
        assert 6 <= len(api.watches) <= 7, api.watches
        api.next_events = [WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "5"}})]
        while api.next_events:  # the next watch brings the bookmark, and is followed at once
            await clock.advance((clock.next_deadline or 0.0) - clock.now())
        brought = len(api.watches)
        assert api.watches[-1] == api.watches[-2], api.watches
        await clock.advance(0.39)  # and the backoff starts over: the next after 0.4-0.6 s
        assert len(api.watches) == brought
        await clock.advance(0.3)
        assert len(api.watches) == brought + 1

        api.lasts = 1.5  # watches lasting over a second with nothing: each followed at once
        await clock.advance(30.0)
        lasting = [b - a for a, b in zip(api.watches[brought:], api.watches[brought + 1 :], strict=False)]
        assert len(lasting) >= 10, lasting
        assert all(abs(gap - 1.5) < 1e-6 for gap in lasting[1:]), lasting
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
