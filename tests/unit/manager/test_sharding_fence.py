"""The sharder moves the objects of a shard found gone only once it has fenced that shard's Lease: a
write with the resourceVersion it listed, which fails if the shard renewed since (it is alive)."""

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
        meta = {"name": name, "namespace": "ns", "resourceVersion": "10", "labels": {SHARD: labels[SHARD]},
                "annotations": {SHARD: labels[SHARD]}}  # fmt: skip
        return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


def lease(identity: str, renew: str) -> dict[str, Any]:
    spec = {"holderIdentity": identity, "renewTime": renew, "leaseDurationSeconds": 10}
    return {"metadata": {"name": f"op-shard-{identity}", "resourceVersion": renew}, "spec": spec}


def app(name: str, shard: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": "1", "labels": {SHARD: shard},
            "annotations": {SHARD: shard}}  # fmt: skip
    return {"apiVersion": "app.example.com/v1", "kind": "AppService", "metadata": meta}


async def test_a_gone_shard_s_objects_move_only_after_its_lease_is_fenced_and_not_when_it_renewed() -> None:
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    members.namespace = "ns"
    members.observe([lease("a", "1"), lease("b", "1")])
    await clock.advance(11)
    members.observe([lease("a", "2"), lease("b", "1")])  # b has not renewed for 11 s: gone
    assert members.gone("b")
    server = _Server()
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="a", clock=clock), members)  # type: ignore[arg-type]
    for i in range(4):
        sharder.informers[0].observe(app(f"app-{i}", "b"))

    # b renewed just after the listing: the fence is refused and nothing moves.
    await sharder.step()
    assert server.patched == []
    assert server.leases == []

    # Not renewed: the fence lands first (b's Lease now held by the sharder, a lease duration long),
    # then b's objects go to a.
    server.renewed = False
    await sharder.step()
    assert [lease["spec"]["holderIdentity"] for lease in server.leases] == ["a"]
    assert server.leases[0]["metadata"]["resourceVersion"] == "1"
    assert sorted(name for name, _ in server.patched) == [f"app-{i}" for i in range(4)]
    assert all(patch["metadata"]["labels"][SHARD] == "a" for _, patch in server.patched)
    assert members.gone("b")
    assert members.alive() == ["a"]
