"""What the sharder costs its replica in CPU once every object is placed: one pass (the sharder runs
one every retry period, 1 s in run.py's replicas, even when nothing changed) and one watch event of a
sharded object that leaves its assignment alone (a status written: most events of an update).

No control plane, as ``record_bytes.py``: N metadata-only AppServices listed from a stand-in, placed
and sealed already, then a watch that sends each of them once more with a new resourceVersion. The
CPU time of this process (``time.process_time``) and, with ``--calls``, cProfile's count of function
calls (which needs no quiet machine). Runs on any code that has a ``Sharder``, so two codes compare
side by side, alternated on the same machine (``PYTHONPATH=<checkout>/src``):

    .venv/bin/python bench/sharding/pass_cost.py --objects 10000 --shards 2
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from record_bytes import APPS, page
from record_bytes import Server as Listing

from kubeloop.client import WatchEvent
from kubeloop.clock import FakeClock
from kubeloop.manager import Membership, Sharder, ShardingOptions


class Server(Listing):
    """The listing of ``record_bytes``, then a watch that sends ``events`` once ``go`` is set."""

    def __init__(self, objects: int, shards: list[str], placed: dict[str, str]) -> None:
        super().__init__(objects, shards, placed)
        self.events = [
            WatchEvent(
                "MODIFIED", item | {"metadata": item["metadata"] | {"resourceVersion": str(300000 + i)}}
            )
            for i, item in enumerate(orjson.loads(page(0, objects, shards, placed))["items"])
        ]
        self.go, self.done = asyncio.Event(), asyncio.Event()

    async def watch(self, resource: Any, **_: Any) -> AsyncIterator[WatchEvent[Any]]:
        await self.go.wait()
        for event in self.events:
            yield event
        self.done.set()  # asked for the next one: the last is handled
        await asyncio.Event().wait()


async def measure(objects: int, shards: int, passes: int, calls: bool) -> dict[str, float]:
    """CPU (and calls) of a pass over ``objects`` placed objects and of one event of each."""
    from kubeloop.manager._ring import assign

    names = [f"r{i}" for i in range(1, shards + 1)]
    placed = assign((f"app.example.com/AppService/apps/app-{i:05d}" for i in range(objects)), names)
    clock = FakeClock()
    members = Membership("op-shard-", clock, lease_duration=10)
    spec = {"renewTime": "1", "leaseDurationSeconds": 10}
    members.observe(
        [{"metadata": {"name": f"op-shard-{n}"}, "spec": {**spec, "holderIdentity": n}} for n in names]
    )
    server = Server(objects, names, placed)
    sharder = Sharder(server, "op", [(APPS, ())], ShardingOptions(identity="r1", clock=clock), members)  # type: ignore[arg-type]
    for informer in sharder.informers:
        informer.add_handler(sharder._changed)  # as Sharder.run does
    running = [asyncio.create_task(informer.run()) for informer in sharder.informers]
    await asyncio.gather(*(informer.wait_synced() for informer in sharder.informers))
    await sharder.step()  # the first pass places every object (the ring computed once), writes nothing
    out: dict[str, float] = {}

    async def timed(name: str, work: Any, count: int) -> None:
        gc.collect()
        profile = cProfile.Profile() if calls else None
        began = time.process_time()
        if profile:
            profile.enable()
        await work()
        if profile:
            profile.disable()
            out[f"{name}_calls"] = pstats.Stats(profile).total_calls / count  # type: ignore[attr-defined]
        else:
            out[f"{name}_cpu_ms"] = (time.process_time() - began) * 1000 / count

    async def steady() -> None:
        for _ in range(passes):
            await sharder.step()

    async def events() -> None:
        server.go.set()
        await server.done.wait()

    sharder._dirty.clear()
    await timed("pass", steady, passes)
    await timed("event", events, objects)
    out["events_calling_for_a_pass"] = float(sharder._dirty.is_set())
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    assert sharder.assignments == 0, "the pass wrote: the objects were not placed as the ring places them"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--calls", action="store_true", help="count calls (cProfile) instead of timing")
    args = parser.parse_args()
    result = asyncio.run(measure(args.objects, args.shards, args.passes, args.calls))
    print(orjson.dumps({"objects": args.objects, "shards": args.shards, **result}).decode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
