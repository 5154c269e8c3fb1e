"""The sharder hands the objects of a stopped shard to a live one (the adopter) only once it has
fenced that shard's Lease to it: a write with the resourceVersion it listed, which fails if the shard
renewed since (it is alive). Their labels then follow the adopter, or go through the drain."""

from __future__ import annotations

from typing import Any

from kubeloop.client import ApiResource, ConflictError
from kubeloop.clock import FakeClock
from kubeloop.manager import Membership, Sharder, ShardingOptions

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

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.renewed:
            raise ConflictError({"code": 409, "reason": "Conflict", "message": "renewed meanwhile"})
        self.leases.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "9"}}

    async def patch(
        self, resource: ApiResource, name: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.patched.append((name, patch))
        labels = patch["metadata"]["labels"]
        shard = labels.get(SHARD, "b")  # a drain leaves the label as it is
        meta = {"name": name, "namespace": "ns", "resourceVersion": "10", "labels": {SHARD: shard},
                "annotations": {SHARD: shard}}  # fmt: skip
        return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


def lease(identity: str, renew: str) -> dict[str, Any]:
    spec = {"holderIdentity": identity, "renewTime": renew, "leaseDurationSeconds": 10}
    return {"metadata": {"name": f"op-shard-{identity}", "resourceVersion": renew}, "spec": spec}


def app(name: str, shard: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": "1", "labels": {SHARD: shard},
            "annotations": {SHARD: shard}}  # fmt: skip
    return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


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


async def test_the_sharder_keeps_of_each_object_what_it_reads_and_not_its_managed_fields() -> None:
    # It holds every sharded object (a replica holds only its share): their managedFields, most of
    # their metadata, would be its largest cost beyond a replica's.
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    sharder = Sharder(_Server(), "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    obj = app("app-0", "a")
    obj["metadata"]["managedFields"] = [
        {"manager": "kubeloop", "operation": "Update", "fieldsV1": {"f:spec": {}}}
    ]
    obj["spec"] = {"size": 1}
    sharder.informers[0].observe(obj)
    [kept] = sharder.informers[0].list()
    assert kept["metadata"] == {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    assert "spec" not in kept
