"""The sharder hands the objects of a stopped shard to a live one (the adopter) only once it has
fenced that shard's Lease to it: a write with the resourceVersion it listed, which fails if the shard
renewed since (it is alive). Their labels then follow the adopter, or go through the drain. What it
costs the replica that runs it: of every object it keeps only what it reads, its writes are made by
a few writers however many there are, and a write that leaves an object's assignment alone calls
for no pass over all of them."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from kubeloop.cache import Informer, InformerOptions, ObjectKey
from kubeloop.client import ApiResource, ConflictError, NotFoundError, WatchEvent
from kubeloop.clock import FakeClock
from kubeloop.manager import (
    LeaderElectionOptions,
    Membership,
    Sharder,
    ShardGate,
    ShardingOptions,
    ShardLabels,
)
from kubeloop.manager._adoption import Adoptions
from kubeloop.testing import until

APPS = ApiResource(group="app.example.com", version="v1", kind="AppService", plural="appservices",
                   singular="appservice", namespaced=True)  # fmt: skip
SHARD = "shard.kubeloop.io/op"


class _Server:
    """Answers the sharder's writes: Lease replaces refused with 409 while ``renewed``, else taken;
    patches of objects recorded."""

    def __init__(self) -> None:
        self.renewed = True
        self.leases: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.most_tasks = 0
        self.objects: list[dict[str, Any]] = []
        self.events: asyncio.Queue[WatchEvent[Any]] = asyncio.Queue()

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.renewed:
            raise ConflictError({"code": 409, "reason": "Conflict", "message": "renewed meanwhile"})
        self.leases.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "9"}}

    async def patch(
        self, resource: ApiResource, name: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.patched.append((name, patch))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        self.in_flight -= 1
        labels = patch["metadata"]["labels"]
        shard = labels.get(SHARD, "b")  # a drain leaves the label as it is
        meta = {"name": name, "namespace": "ns", "resourceVersion": "10", "labels": {SHARD: shard},
                "annotations": {SHARD: shard}}  # fmt: skip
        return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}

    async def list(self, ref: Any, **_: Any) -> dict[str, Any]:
        return {"items": self.objects, "metadata": {"resourceVersion": "1"}}

    async def watch(self, ref: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        while True:
            yield await self.events.get()


def lease(identity: str, renew: str) -> dict[str, Any]:
    spec = {"holderIdentity": identity, "renewTime": renew, "leaseDurationSeconds": 10}
    return {"metadata": {"name": f"op-shard-{identity}", "resourceVersion": renew}, "spec": spec}


def app(name: str, shard: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": "1", "labels": {SHARD: shard},
            "annotations": {SHARD: shard}}  # fmt: skip
    return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


class _Passes:
    """Counts the sharder's passes (its calls of ``step``)."""

    def __init__(self, sharder: Sharder) -> None:
        self.count = 0
        step = sharder.step

        async def counted() -> None:
            self.count += 1
            await step()

        sharder.step = counted  # type: ignore[method-assign]

    async def until(self, count: int) -> None:
        """Until ``count`` passes have run (polled, up to 10 s: a loaded machine may be slow to run them)."""
        await until(lambda: self.count >= count, within=10, what=f"pass {count}", interval=0.01)


async def test_a_stopped_shard_is_handed_over_only_once_its_lease_is_fenced_and_not_when_it_renewed() -> None:
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.namespace = "ns"
    members.observe([lease("a", "1"), lease("b", "1")])
    await clock.advance(11)
    members.observe([lease("a", "2"), lease("b", "1")])  # b has not renewed for 11 s: orphaned
    assert members.orphaned("b")
    server = _Server()
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    for i in range(4):
        sharder.informers[0].observe(app(f"app-{i}", "b"))

    # b renewed just after the listing: the fence is refused and nothing is handed over or moved.
    await sharder.step()
    assert server.patched == []
    assert server.leases == []

    # Not renewed: b's Lease is fenced to the adopter (the sharder's own replica, live), with the
    # resourceVersion listed (a reconciles b's objects as they are once it took the Lease); then, in
    # the background, their labels follow the adopter.
    server.renewed = False
    await sharder.step()
    assert [lease["spec"]["holderIdentity"] for lease in server.leases] == ["a"]
    assert server.leases[0]["metadata"]["resourceVersion"] == "1"
    assert members.holder("b") == "a"
    assert members.handed_to("a") == ["b"]
    assert members.alive() == ["a"]
    assert sorted(name for name, _ in server.patched) == [f"app-{i}" for i in range(4)]
    assert all(patch["metadata"]["labels"][SHARD] == "a" for _, patch in server.patched)


async def test_an_adopted_object_the_ring_gives_to_another_replica_goes_there_through_the_drain() -> None:
    # b stopped and was handed to a; c is live too. An object of b's that the ring gives to c is not
    # relabelled to c directly (a reconciles it): it is drained, and a lets it go in its worker.
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.namespace = "ns"
    handed = {"metadata": {"name": "op-shard-b", "resourceVersion": "5"},
              "spec": {"holderIdentity": "a", "renewTime": "5", "leaseDurationSeconds": 10}}  # fmt: skip
    members.observe([lease("a", "1"), lease("c", "1"), handed])
    server = _Server()
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    for i in range(40):
        sharder.informers[0].observe(app(f"app-{i}", "b"))
    await sharder.step()
    drained = [name for name, patch in server.patched if SHARD not in patch["metadata"]["labels"]]
    relabelled = [name for name, patch in server.patched if patch["metadata"]["labels"].get(SHARD) == "a"]
    assert drained
    assert relabelled
    assert len(drained) + len(relabelled) == 40
    assert all(patch["metadata"]["labels"].get(SHARD) in (None, "a") for _, patch in server.patched)


async def test_the_sharder_keeps_of_each_object_only_what_it_reads() -> None:
    # It holds every sharded object (a replica holds only its share): the rest of their metadata
    # (managedFields, kubectl's copy of the whole object, owners, other labels) would be most of it.
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    sharder = Sharder(_Server(), "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    obj = app("app-0", "a")
    meta = obj["metadata"]
    meta["managedFields"] = [{"manager": "kubeloop", "operation": "Update", "fieldsV1": {"f:spec": {}}}]
    meta["labels"].update({"team": "x", "drain.shard.kubeloop.io/op": "true"})
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = '{"spec": {"size": 1}}'
    meta.update(uid="u-1", generation=3, finalizers=["f"], ownerReferences=[{"uid": "u-0"}])
    obj["spec"] = {"size": 1}
    sharder.informers[0].observe(obj)
    [kept] = sharder.informers[0].list()
    assert kept == {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {
            "name": "app-0",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {SHARD: "a", "drain.shard.kubeloop.io/op": "true"},
            "annotations": {SHARD: "a"},
        },
    }
    assert sharder.labels.of(kept) == sharder.labels.of(obj)


async def test_the_sharder_s_record_keeps_no_index_of_its_objects() -> None:
    # Nothing reads it by namespace or owner: those indexes of every sharded object (0.5 MiB at 10,000
    # in one namespace, in the sharder's replica whatever the number of replicas) were kept for nobody.
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    sharder = Sharder(_Server(), "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    assert [informer.store.indexes for informer in sharder.informers] == [()]


async def test_the_sharder_s_record_keeps_of_each_object_its_version_and_one_state_per_assignment() -> None:
    # Every sharded object, in the replica running the sharder: kept as the informer keeps objects
    # (two dicts each and its key) that was ~570 bytes an object; the record keeps a name, a version
    # and one (label, seal, draining) tuple per assignment, and rebuilds the object when asked.
    members = Membership("op-shard-", FakeClock(), lease_duration=10)
    server = _Server()
    server.objects = [app(f"app-{i}", "a" if i < 4 else "b") for i in range(6)]
    drained = app("app-6", "a")
    drained["metadata"]["labels"].update({"drain.shard.kubeloop.io/op": "true", "team": "x"})
    drained["metadata"]["resourceVersion"] = "7"
    server.objects.append(drained)
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="a"), members)  # type: ignore[arg-type]
    [(informer, record)] = sharder.records
    running = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced()
        kept = {name: (version, state) for _, name, version, state in record.items()}
        assert kept == {
            **{f"app-{i}": ("1", ("a", "a", False)) for i in range(4)},
            **{f"app-{i}": ("1", ("b", "b", False)) for i in (4, 5)},
            "app-6": ("7", ("a", "a", True)),
        }
        assert all(kept[f"app-{i}"][1] is kept["app-0"][1] for i in range(4))
        assert kept["app-5"][1] is kept["app-4"][1]
        assert len(record) == 7
        assert record.indexes == ()
        assert informer.get("ns", "app-6") == {
            "apiVersion": "app.example.com/v1",
            "kind": "AppService",
            "metadata": {
                "name": "app-6",
                "namespace": "ns",
                "resourceVersion": "7",
                "labels": {SHARD: "a", "drain.shard.kubeloop.io/op": "true"},
                "annotations": {SHARD: "a"},
            },
        }
        # The watch's changes reach it as the informer's store: an update told with the old object.
        events: list[tuple[str, Any, Any]] = []
        of = sharder.labels.of
        informer.add_handler(lambda e: events.append((e.type, of(e.obj), e.old and of(e.old))))
        events.clear()  # the initial adds
        moved = app("app-0", "b")
        moved["metadata"]["resourceVersion"] = "8"
        server.events.put_nowait(WatchEvent("MODIFIED", moved))
        server.events.put_nowait(WatchEvent("DELETED", app("app-5", "b")))
        await until(lambda: len(events) == 2, within=10, what="two events")
        assert events == [
            ("update", ("b", "b", False), ("a", "a", False)),
            ("delete", ("b", "b", False), None),
        ]
        assert sorted(name for _, name, _, _ in record.items()) == [f"app-{i}" for i in (0, 1, 2, 3, 4, 6)]
        assert record.get(ObjectKey("ns", "app-0"))["metadata"]["resourceVersion"] == "8"  # type: ignore[index]
        with pytest.raises(TypeError):
            record.add_indexer("namespace", lambda obj: ())
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_pass_decides_on_the_sharder_s_own_writes_before_the_watch_brings_them_back() -> None:
    # Its record is the watch's view; a label it wrote is read from the write until the watch brings
    # it: a second pass before that writes nothing again (it would, on the version listed, and be
    # refused with 409).
    members = Membership("op-shard-", FakeClock(), lease_duration=10)
    members.observe([lease("a", "1")])
    server = _Server()
    for i in range(3):
        unassigned = app(f"app-{i}", "a")
        del unassigned["metadata"]["labels"], unassigned["metadata"]["annotations"]
        server.objects.append(unassigned)
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="a"), members)  # type: ignore[arg-type]
    [(informer, record)] = sharder.records
    running = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced()
        await sharder.step()
        assert sorted(name for name, _ in server.patched) == ["app-0", "app-1", "app-2"]
        assert {state for *_, state in record.items()} == {(None, None, False)}  # the watch said nothing yet
        assert sorted(sharder.sealed_to("a")["app.example.com/appservices"]) == [
            ObjectKey("ns", f"app-{i}") for i in range(3)
        ]
        await sharder.step()
        assert len(server.patched) == 3
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_the_first_pass_over_many_unassigned_objects_writes_through_a_few_writers_not_a_task_each() -> (
    None
):
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.observe([lease("a", "1"), lease("b", "1")])
    server = _Server()
    options = ShardingOptions(identity="a", clock=clock, concurrency=4)
    sharder = Sharder(server, "op", [(APPS, ())], options, members)  # type: ignore[arg-type]
    for i in range(200):
        unassigned = app(f"app-{i}", "a")
        del unassigned["metadata"]["labels"], unassigned["metadata"]["annotations"]
        sharder.informers[0].observe(unassigned)
    before = len(asyncio.all_tasks())
    await sharder.step()
    assert len(server.patched) == 200
    assert sharder.assignments == 200
    assert server.most_in_flight == 4
    assert server.most_tasks <= before + 4  # the writers; a task per write would be 200


async def test_a_write_that_leaves_the_assignment_alone_calls_for_no_pass_and_a_label_edit_does() -> None:
    members = Membership("op-shard-", FakeClock(), lease_duration=10)
    members.observe([lease("a", "1")])
    server = _Server()
    server.objects = [app(f"app-{i}", "a") for i in range(5)]
    options = ShardingOptions(identity="a", retry_period=60.0)  # no pass on the timer in this test
    sharder = Sharder(server, "op", [(APPS, ())], options, members)  # type: ignore[arg-type]
    passes = _Passes(sharder)

    async def settled() -> None:
        for _ in range(3):
            await asyncio.sleep(0.1)

    task = asyncio.create_task(sharder.run())
    try:
        await passes.until(1)
        await settled()
        assert passes.count == 1  # the first, over what was listed: all assigned, nothing written
        assert server.patched == []
        for version in range(2, 22):  # status writes: a new resourceVersion, the same assignment
            written = app("app-0", "a")
            written["metadata"]["resourceVersion"] = str(version)
            written["status"] = {"readyReplicas": version}
            server.events.put_nowait(WatchEvent("MODIFIED", written))
        await settled()
        assert passes.count == 1
        assert sharder.informers[0].get("ns", "app-0")["metadata"]["resourceVersion"] == "21"  # type: ignore[index]

        edited = app("app-1", "a")  # the shard label edited by hand: the sharder puts it back
        edited["metadata"].update(resourceVersion="22", labels={SHARD: "b"})
        server.events.put_nowait(WatchEvent("MODIFIED", edited))
        await passes.until(2)
        await settled()
        assert passes.count == 2
        assert server.patched == [
            (
                "app-1",
                {
                    "metadata": {
                        "resourceVersion": "22",
                        "labels": {SHARD: "a", "drain.shard.kubeloop.io/op": None},
                        "annotations": {SHARD: "a"},
                    }
                },
            )
        ]
    finally:
        task.cancel()


async def test_a_write_refused_with_409_calls_for_the_next_pass_at_once() -> None:
    # The object changed meanwhile; the event that changed it may not call for a pass (a status write),
    # so the refusal itself does: the object is decided again now, not at the next retry period.
    members = Membership("op-shard-", FakeClock(), lease_duration=10)
    members.observe([lease("a", "1")])
    server = _Server()
    unassigned = app("app-0", "a")
    del unassigned["metadata"]["labels"], unassigned["metadata"]["annotations"]
    server.objects = [unassigned]
    refused = 1
    patch = server.patch

    async def conflicting(
        resource: ApiResource, name: str, body: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        nonlocal refused
        if refused:
            refused -= 1
            raise ConflictError({"code": 409, "reason": "Conflict", "message": "changed meanwhile"})
        return await patch(resource, name, body, **kw)

    server.patch = conflicting  # type: ignore[method-assign]
    options = ShardingOptions(identity="a", retry_period=60.0)  # no pass on the timer in this test
    sharder = Sharder(server, "op", [(APPS, ())], options, members)  # type: ignore[arg-type]
    task = asyncio.create_task(sharder.run())
    try:  # within 10 s, not the retry period's 60
        await until(lambda: sharder.assignments == 1, within=10, what="the object assigned")
        assert refused == 0
        assert [name for name, _ in server.patched] == ["app-0"]
        assert sharder.assignments == 1
    finally:
        task.cancel()


async def test_the_ring_is_computed_again_only_when_an_object_comes_or_goes_or_the_live_shards_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pass every retry period hashed and placed every object again (10,000 at the issue's size);
    # the ring's answer depends only on the set of objects and the set of live shards.
    import kubeloop.manager._sharding as sharding

    computed = 0
    place = sharding.place

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal computed
        computed += 1
        return place(*args, **kwargs)

    monkeypatch.setattr(sharding, "place", counted)
    members = Membership("op-shard-", FakeClock(), lease_duration=10)
    members.observe([lease("a", "1")])
    server = _Server()
    server.objects = [app(f"app-{i}", "a") for i in range(5)]
    options = ShardingOptions(identity="a", retry_period=0.05)  # a pass on the timer every 0.1 s
    sharder = Sharder(server, "op", [(APPS, ())], options, members)  # type: ignore[arg-type]
    passes = _Passes(sharder)  # each wait below: three more passes (on the timer, every 0.1 s)
    task = asyncio.create_task(sharder.run())
    try:
        await passes.until(passes.count + 3)
        assert computed == 1  # several passes, nothing changed

        status = app("app-0", "a")  # a write that adds nothing: still no new ring
        status["metadata"]["resourceVersion"] = "2"
        server.events.put_nowait(WatchEvent("MODIFIED", status))
        await passes.until(passes.count + 3)
        assert computed == 1

        new = app("app-new", "a")  # an object added (unassigned): placed, and assigned
        del new["metadata"]["labels"], new["metadata"]["annotations"]
        new["metadata"]["resourceVersion"] = "3"
        server.events.put_nowait(WatchEvent("ADDED", new))
        await passes.until(passes.count + 3)
        assert computed == 2
        assert [name for name, _ in server.patched] == ["app-new"]

        members.observe([lease("a", "1"), lease("b", "1")])  # a shard joins: placed again
        members.changed.set()
        await passes.until(passes.count + 3)
        assert computed == 3
        assert len(server.patched) > 1  # some of a's objects drained towards b
    finally:
        task.cancel()


class _Leases:
    """Leases by name with resourceVersion checks (what the adopter's elector reads and writes)."""

    def __init__(self, *leases: dict[str, Any]) -> None:
        self.objects = {lease["metadata"]["name"]: copy.deepcopy(lease) for lease in leases}
        self.version = 100

    async def get(self, ref: str, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        return copy.deepcopy(self.objects[name])

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        current = self.objects[obj["metadata"]["name"]]
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ConflictError({"code": 409, "reason": "Conflict", "message": "changed"})
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[obj["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the adopter takes a Lease written for it, never creates one")


class _Apps:
    """The adopter's API server for AppServices: its own share listed at once; the stopped shard's
    list never answers (a busy server listing thousands); a GET of one answers at once."""

    def __init__(self) -> None:
        self.lists: list[str | None] = []
        self.gets: list[str] = []

    async def list(self, resource: Any, *, label_selector: str | None = None, **_: Any) -> dict[str, Any]:
        self.lists.append(label_selector)
        if label_selector == f"{SHARD}=b":
            await asyncio.Event().wait()
        return {"items": [], "metadata": {"resourceVersion": "1"}}

    async def watch(self, resource: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})  # never reached

    async def get(self, resource: Any, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        self.gets.append(name)
        if name == "gone":
            raise NotFoundError({"code": 404, "reason": "NotFound", "message": "deleted"})
        return app(name, "b")


class _Adopter:
    """Replica a, to which the Lease of the stopped shard b is handed: its Adoptions over an
    AppService informer (a's share; queued into ``queued``, or by ``enqueue``) whose list of b's share
    never answers, with ``known`` as what its sharder knows of b."""

    def __init__(
        self,
        known: Callable[[str], Mapping[str, list[ObjectKey]] | None],
        enqueue: Callable[[ObjectKey], None] | None = None,
    ) -> None:
        handed = {"metadata": {"name": "op-shard-b", "namespace": "ns", "resourceVersion": "5"},
                  "spec": {"holderIdentity": "a", "renewTime": "5", "leaseDurationSeconds": 10}}  # fmt: skip
        members = Membership("op-shard-", FakeClock(), lease_duration=10)
        members.namespace = "ns"
        members.observe([lease("a", "1"), handed])
        self.leases = _Leases(handed)
        self.apps = _Apps()
        self.gate = ShardGate(self.apps, ShardLabels("op"), "a")  # type: ignore[arg-type]
        self.informer = Informer(self.apps, APPS, InformerOptions(label_selector=f"{SHARD}=a"))  # type: ignore[arg-type]
        self.queued: list[ObjectKey] = []

        def options(name: str) -> LeaderElectionOptions:
            return LeaderElectionOptions(
                name, "ns", identity="a", lease_duration=3, renew_deadline=2, retry_period=0.5, takeover=False
            )

        self.adoptions = Adoptions(
            self.leases,  # type: ignore[arg-type]
            members,
            self.gate,
            options,
            [(self.informer, enqueue or self.queued.append)],
            known,
        )


async def test_the_sharder_s_replica_adopts_a_stopped_shard_s_objects_without_waiting_for_a_list() -> None:
    # b stopped and its Lease names a (the sharder's replica, which knows b's objects from its own
    # store). a takes the Lease, queues each of b's objects at once and reads one from the API server
    # when a worker gets to it before a's caches have listed b's objects: at 10,000 objects on a busy
    # server that list took 9 s, the failover goal is the lease duration + 2 s.
    b_objects = [ObjectKey("ns", f"app-{i}") for i in range(3)] + [ObjectKey("ns", "gone")]
    a = _Adopter(lambda shard: {"app.example.com/appservices": b_objects} if shard == "b" else None)
    leases, apps, gate, informer, queued = a.leases, a.apps, a.gate, a.informer, a.queued
    running = asyncio.create_task(informer.run())
    await informer.wait_synced()
    adopting = asyncio.create_task(a.adoptions.run())
    try:
        await until(lambda: bool(queued) and f"{SHARD}=b" in apps.lists, within=10, what="b adopted")
        assert leases.objects["op-shard-b"]["metadata"]["resourceVersion"] != "5"  # taken by a's write
        assert gate.adopted == {"b"}
        assert sorted(queued) == sorted(b_objects)
        assert apps.lists.count(f"{SHARD}=b") == 1  # b's list asked for, and still not answered

        # A worker's reconcile before the list: the object read from the API server, admitted (label
        # and seal name b, adopted by a), and in a's cache from then on; one deleted meanwhile: none.
        obj = await gate.fetch(informer, ObjectKey("ns", "app-1"))
        assert obj is not None
        assert await gate.admit(APPS, obj, informer)
        assert informer.get("ns", "app-1") is not None
        assert await gate.fetch(informer, ObjectKey("ns", "gone")) is None
        # Not one of b's: not read (not an adopted shard's object, or not there).
        assert await gate.fetch(informer, ObjectKey("ns", "other")) is None
        assert apps.gets == ["app-1", "gone"]
    finally:
        adopting.cancel()
        running.cancel()
        await asyncio.gather(adopting, running, return_exceptions=True)


def _store_failing(shard: str) -> Mapping[str, list[ObjectKey]] | None:
    raise RuntimeError("the sharder's store failed")


def _queue_failing(key: ObjectKey) -> None:
    if key.name == "app-1":
        raise RuntimeError("the queue failed")


@pytest.mark.parametrize(
    ("known", "enqueue"),
    [
        (_store_failing, None),
        (lambda shard: {"app.example.com/appservices": [ObjectKey("ns", "app-0"), ObjectKey("ns", "app-1")]},
         _queue_failing),
    ],
    ids=["reading-the-sharders-store", "queueing-its-objects"],
)  # fmt: skip
async def test_an_adoption_that_fails_before_its_lists_leaves_no_list_running_and_no_object_marked(
    known: Callable[[str], Mapping[str, list[ObjectKey]] | None],
    enqueue: Callable[[ObjectKey], None] | None,
) -> None:
    # The shard's lists were started before what the sharder knows was queued: a fault there left
    # them running (waiting for a list that never came, their result never awaited), and an object
    # marked unlisted before the fault was left marked.
    a = _Adopter(known, enqueue)
    running = asyncio.create_task(a.informer.run())
    await a.informer.wait_synced()
    before = asyncio.all_tasks()
    try:
        with pytest.raises(ExceptionGroup) as raised:
            async with asyncio.timeout(10):
                await a.adoptions.run()
        assert raised.group_contains(RuntimeError)
        await asyncio.sleep(0)
        assert asyncio.all_tasks() - before == set()
        assert a.gate.adopted == set()
        assert a.gate.unlisted == set()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
