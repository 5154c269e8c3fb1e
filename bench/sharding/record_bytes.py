"""The sharder's record of every sharded object, in bytes: what the replica running it holds of N
objects once listed (its informers' stores) and once placed (the ring's answer kept between passes).

No control plane: the sharder lists N metadata-only AppServices from a stand-in that answers one
list and a watch that never speaks, each page decoded from JSON as the client does, every object
assigned and sealed as after the first pass; its pass writes nothing. Measured with tracemalloc
(live Python allocations, the list's pages freed), so it runs on any code that has a ``Sharder``
(``PYTHONPATH=<checkout>/src``: the code before and after a change side by side):

    .venv/bin/python bench/sharding/record_bytes.py --objects 10000 --shards 4
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import orjson

from kubeloop.client import ApiResource, WatchEvent
from kubeloop.clock import FakeClock
from kubeloop.manager import Membership, Sharder, ShardingOptions

APPS = ApiResource(group="app.example.com", version="v1", kind="AppService", plural="appservices",
                   singular="appservice", namespaced=True)  # fmt: skip
MIB = 2**20
MANAGED = {"manager": "bench", "operation": "Apply", "apiVersion": "app.example.com/v1",
           "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1",
           "fieldsV1": {"f:spec": {"f:image": {}, "f:replicas": {}}}}  # fmt: skip


def page(start: int, count: int, shards: list[str], placed: dict[str, str] | None) -> bytes:
    """One page of the list as the server sends it (PartialObjectMetadata), the objects labelled and
    sealed where ``placed`` puts them (unassigned without it)."""
    items = []
    for i in range(start, start + count):
        name = f"app-{i:05d}"
        shard = placed.get(f"app.example.com/AppService/apps/{name}") if placed else None
        meta: dict[str, Any] = {
            "name": name,
            "namespace": "apps",
            "uid": f"6f1c2d3e-4b5a-4c6d-8e9f-{i:012d}",
            "resourceVersion": str(100000 + i),
            "generation": 2,
            "creationTimestamp": "2026-12-07T00:00:00Z",
            "labels": {"app": name},
            "managedFields": [MANAGED],
        }
        if shard:
            meta["labels"]["shard.kubeloop.io/op"] = shard
            meta["annotations"] = {"shard.kubeloop.io/op": shard}
        items.append({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": meta})
    return orjson.dumps({"items": items, "metadata": {"resourceVersion": "200000"}})


class Server:
    """Answers the sharder's list (in pages of 500, decoded per page) and a watch that never speaks."""

    def __init__(self, objects: int, shards: list[str], placed: dict[str, str] | None) -> None:
        self.objects, self.shards, self.placed = objects, shards, placed

    async def list(self, resource: Any, *, continue_token: str | None = None, **_: Any) -> dict[str, Any]:
        start = int(continue_token or 0)
        count = min(500, self.objects - start)
        decoded: dict[str, Any] = orjson.loads(page(start, count, self.shards, self.placed))
        if start + count < self.objects:
            decoded["metadata"]["continue"] = str(start + count)
        return decoded

    async def watch(self, resource: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        await asyncio.Event().wait()
        yield WatchEvent("BOOKMARK", {})  # never reached

    async def patch(self, *_: Any, **__: Any) -> dict[str, Any]:
        raise AssertionError("every object is placed already: the pass writes nothing")


async def measure(objects: int, shards: int) -> dict[str, float]:
    """Traced bytes the sharder holds of ``objects`` objects over ``shards`` live shards."""
    from kubeloop.manager._ring import assign

    names = [f"r{i}" for i in range(1, shards + 1)]
    placed = assign((f"app.example.com/AppService/apps/app-{i:05d}" for i in range(objects)), names)
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    spec = {"renewTime": "1", "leaseDurationSeconds": 10}
    leases = [{"metadata": {"name": f"op-shard-{n}"}, "spec": {**spec, "holderIdentity": n}} for n in names]
    members.observe(leases)
    server = Server(objects, names, placed)
    del placed
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="r1", clock=clock), members)  # type: ignore[arg-type]
    running = [asyncio.create_task(informer.run()) for informer in sharder.informers]
    await asyncio.gather(*(informer.wait_synced() for informer in sharder.informers))
    gc.collect()
    listed, list_peak = tracemalloc.get_traced_memory()
    listed -= base
    tracemalloc.reset_peak()
    await sharder.step()
    gc.collect()
    stepped, peak = tracemalloc.get_traced_memory()
    stepped -= base
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    assert sharder.assignments == 0, "the pass wrote: the objects were not placed as the ring places them"
    return {
        "record": listed / MIB,
        "placement": (stepped - listed) / MIB,
        "total": stepped / MIB,
        "per_object_bytes": stepped / objects,
        "peak_listing": (list_peak - base) / MIB,
        "peak_first_pass": (peak - base) / MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    result = asyncio.run(measure(args.objects, args.shards))
    print(orjson.dumps({"objects": args.objects, "shards": args.shards, **result}).decode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
