"""``EventRecorder`` keeps at most ``max_in_flight`` writes under way: a burst of Events waits its turn
instead of opening a connection each (on a fake client that answers after a while)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeloop.helpers import EventRecorder


class SlowClient:
    """Answers each create after 10 ms, counting how many are under way at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.created = 0

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.now -= 1
        self.created += 1
        return obj


async def test_a_burst_of_events_is_written_at_most_max_in_flight_at_a_time() -> None:
    client = SlowClient()
    recorder = EventRecorder(client, "burst", max_in_flight=4)  # type: ignore[arg-type]
    regarding = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}}
    for i in range(40):
        recorder.record(regarding, "Normal", f"Reason{i}", "a burst")
    await recorder.flush()
    assert (client.created, recorder.failed) == (40, 0)
    assert client.most == 4


class StuckClient:
    """Answers the first ``answered`` creates at once and never answers the next one."""

    def __init__(self, answered: int) -> None:
        self.answered = answered
        self.created = 0
        self.stuck = asyncio.Event()

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.created == self.answered:
            self.stuck.set()
            await asyncio.Event().wait()
        self.created += 1
        return obj


async def test_writes_waiting_for_their_turn_are_dropped_and_counted_at_close() -> None:
    client = StuckClient(answered=3)
    recorder = EventRecorder(client, "burst", max_in_flight=1)  # type: ignore[arg-type]
    regarding = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}}
    for i in range(20):
        recorder.record(regarding, "Normal", f"Reason{i}", "a burst")
    async with asyncio.timeout(10):
        await client.stuck.wait()
    await recorder.close(0.05)
    assert (client.created, recorder.failed) == (3, 17)
