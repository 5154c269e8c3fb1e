"""Store: one global resourceVersion in commit order, atomic jobs, dry-run, watch history and 410, restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubeloop.apiserver import StatusError, Store
from kubeloop.apiserver.storage import View


def put(key: tuple[str, str, str], **data: Any):
    def job(view: View) -> dict[str, Any]:
        return view.put(key, {"metadata": {"name": key[2]}, "data": data})

    return job


@pytest.fixture
async def store(tmp_path: Path):
    s = Store(tmp_path / "state.db", history=5)
    await s.open()
    yield s
    await s.close()


async def test_resource_versions_increase_by_one_per_change_in_commit_order(store: Store) -> None:
    start = store.resource_version
    results = await asyncio.gather(*(store.write(put(("/cm", "ns", f"o{n}"), n=n)) for n in range(20)))
    versions = [int(r["metadata"]["resourceVersion"]) for r in results]
    assert versions == list(range(start + 1, start + 21))
    assert store.resource_version == start + 20


async def test_failed_job_stores_nothing_and_raises_to_its_caller(store: Store) -> None:
    def bad(view: View) -> None:
        view.put(("/cm", "ns", "half"), {"metadata": {"name": "half"}})
        raise StatusError(409, "Conflict", "no")

    before = store.resource_version
    with pytest.raises(StatusError):
        await store.write(bad)
    ok = await store.write(put(("/cm", "ns", "after")))
    assert store.get(("/cm", "ns", "half")) is None
    assert int(ok["metadata"]["resourceVersion"]) == before + 1


async def test_dry_run_job_leaves_state_and_version_alone(store: Store) -> None:
    before = store.resource_version
    await store.write(put(("/cm", "ns", "dry")), dry_run=True)
    assert store.get(("/cm", "ns", "dry")) is None
    assert store.resource_version == before


async def test_jobs_in_one_batch_see_earlier_jobs(store: Store) -> None:
    def bump(view: View) -> int:
        current = view.get(("/cm", "ns", "counter"))
        n = (current or {"data": {"n": 0}})["data"]["n"] + 1
        view.put(("/cm", "ns", "counter"), {"metadata": {"name": "counter"}, "data": {"n": n}})
        return int(n)

    results = await asyncio.gather(*(store.write(bump) for _ in range(10)))
    assert sorted(results) == list(range(1, 11))
    assert store.get(("/cm", "ns", "counter"))["data"]["n"] == 10  # type: ignore[index]


async def test_watch_replays_history_after_version(store: Store) -> None:
    first = await store.write(put(("/cm", "ns", "w"), v=1))
    await store.write(put(("/cm", "ns", "w"), v=2))
    await store.write(lambda view: view.delete(("/cm", "ns", "w")))
    watcher = store.watch("/cm", "ns", since=int(first["metadata"]["resourceVersion"]))
    events = [await asyncio.wait_for(watcher.queue.get(), 1) for _ in range(2)]
    watcher.close()
    assert [(e.type, e.obj["data"]["v"]) for e in events if e] == [("MODIFIED", 2), ("DELETED", 2)]
    deleted = events[1]
    assert deleted is not None
    assert deleted.prev is not None
    assert deleted.prev["data"]["v"] == 2


async def test_watch_from_before_the_kept_history_is_gone(store: Store) -> None:
    first = await store.write(put(("/cm", "ns", "old")))
    for n in range(6):
        await store.write(put(("/cm", "ns", f"new{n}")))
    with pytest.raises(StatusError) as err:
        store.watch("/cm", None, since=int(first["metadata"]["resourceVersion"]))
    assert (err.value.code, err.value.reason) == (410, "Expired")


async def test_watch_filters_by_resource_and_namespace(store: Store) -> None:
    watcher = store.watch("/cm", "a")
    await store.write(put(("/cm", "b", "x")))
    await store.write(put(("/secrets", "a", "x")))
    await store.write(put(("/cm", "a", "x")))
    event = await asyncio.wait_for(watcher.queue.get(), 1)
    watcher.close()
    assert event is not None
    assert event.key == ("/cm", "a", "x")


async def test_restart_keeps_objects_and_version(tmp_path: Path) -> None:
    first = Store(tmp_path / "db")
    await first.open()
    await first.write(put(("/cm", "ns", "keep"), v=1))
    await first.write(
        lambda view: view.delete(("/cm", "ns", "keep")) or view.put(("/cm", "ns", "other"), {"metadata": {}})
    )
    version = first.resource_version
    await first.close()
    second = Store(tmp_path / "db")
    await second.open()
    try:
        assert second.resource_version == version
        assert second.get(("/cm", "ns", "keep")) is None
        assert second.get(("/cm", "ns", "other")) is not None
        after = await second.write(put(("/cm", "ns", "next")))
        assert int(after["metadata"]["resourceVersion"]) == version + 1
        with pytest.raises(StatusError):
            second.watch("/cm", None, since=version - 1)
    finally:
        await second.close()


def owned(key: tuple[str, str, str], uid: str, *owners: str):
    def job(view: View) -> dict[str, Any]:
        refs = [{"uid": o, "kind": "ConfigMap", "name": o, "apiVersion": "v1"} for o in owners]
        return view.put(key, {"metadata": {"name": key[2], "uid": uid, "ownerReferences": refs}})

    return job


async def test_owner_index_follows_owner_references_across_updates_deletes_and_restart(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state.db")
    await store.open()
    await store.write(owned(("/cm", "ns", "owner"), "u-owner"))
    await store.write(owned(("/cm", "ns", "a"), "u-a", "u-owner"))
    await store.write(owned(("/pods", "ns", "b"), "u-b", "u-owner", "u-other"))
    assert [k for k, _ in store.dependents("u-owner")] == [("/cm", "ns", "a"), ("/pods", "ns", "b")]
    assert store.by_uid("u-b") is store.get(("/pods", "ns", "b"))

    await store.write(owned(("/cm", "ns", "a"), "u-a"))  # owner reference dropped
    await store.write(lambda view: view.delete(("/pods", "ns", "b")))
    assert store.dependents("u-owner") == []
    assert store.by_uid("u-b") is None
    await store.write(owned(("/cm", "ns", "c"), "u-c", "u-owner"))
    await store.close()

    reopened = Store(tmp_path / "state.db")
    await reopened.open()
    assert [k for k, _ in reopened.dependents("u-owner")] == [("/cm", "ns", "c")]
    assert reopened.by_uid("u-a") == reopened.get(("/cm", "ns", "a"))
    assert reopened.resources() == ["/cm"]
    await reopened.close()
