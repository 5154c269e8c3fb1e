"""``EventRecorder``'s series (on a fake client): one that started more than ``series_window`` ago
is forgotten, not kept until ``max_tracked`` newer ones push it out (the same Event afterwards is a
new Event, as it was before); and the Event of a series whose first create was lost is written again
with the body of that first create and the count so far."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.client import NotFoundError
from kubeloop.helpers import EventRecorder


class Client:
    """Records creates; a patch (a series' count) answers 404 while ``gone``."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched = 0
        self.gone = False

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.created.append(obj)
        return obj

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.gone:
            raise NotFoundError({"code": 404, "reason": "NotFound", "message": "gone"})
        self.patched += 1
        return {}


def about(name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "7"}
    return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


async def test_a_series_older_than_the_window_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("kubeloop.helpers._events.time.monotonic", lambda: now[0])
    client = Client()
    recorder = EventRecorder(client, "ctl", series_window=60.0)  # type: ignore[arg-type]
    for i in range(50):
        recorder.record(about(f"a{i}"), "Normal", "Reconciled", "in sync")
    now[0] += 30.0
    recorder.record(about("late"), "Normal", "Reconciled", "in sync")
    recorder.record(about("a0"), "Normal", "Reconciled", "in sync")  # within the window: counted
    await recorder.flush()
    assert (len(client.created), client.patched, recorder.tracked) == (51, 1, 51)
    now[0] += 31.0  # the first 50 started 61 s ago, "late" 31 s ago
    recorder.record(about("new"), "Normal", "Reconciled", "in sync")
    assert recorder.tracked == 2
    recorder.record(about("a1"), "Normal", "Reconciled", "in sync")  # after its window: a new Event
    await recorder.flush()
    assert (len(client.created), client.patched, recorder.tracked) == (53, 1, 3)
    assert client.created[-1]["metadata"]["name"] != client.created[1]["metadata"]["name"]


async def test_a_series_whose_event_is_gone_is_written_again_as_first_created() -> None:
    client = Client()
    recorder = EventRecorder(client, "ctl")  # type: ignore[arg-type]
    recorder.record(about("a"), "Warning", "Failed", "no quota", action="Apply")
    await recorder.flush()
    client.gone = True
    recorder.record(about("a"), "Warning", "Failed", "no quota", action="Apply")
    await recorder.flush()
    first, again = client.created
    assert again == {**first, "series": again["series"]}
    assert again["series"]["count"] == 2
    assert first["regarding"] == {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "name": "a",
        "namespace": "ns",
        "uid": "uid-a",
        "resourceVersion": "7",
    }
    assert (first["type"], first["reason"], first["note"], first["action"]) == (
        "Warning",
        "Failed",
        "no quota",
        "Apply",
    )
