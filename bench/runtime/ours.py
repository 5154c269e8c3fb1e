"""kubeloop's contender process of the runtime benchmark (started by ``run.py``, one process per run).

ours.py operator --kubeconfig K --namespace NS [--profile cprofile|pyinstrument --profile-out F]
    a ``kl.Operator`` with a no-op reconcile of ConfigMaps in NS that only calls
    ``Recorder.seen`` (see common.py); runs until SIGTERM.
ours.py memory --kubeconfig K --namespace NS --kinds configmaps,pods [--strip | --slim] [--no-intern]
        [--tracemalloc N] [--deep] [--event-cpu]
    informers over the kinds (as the operator's cache makes them; ``--slim``: with ``slim_managed_fields``,
    the transform ``kl.Operator``'s cache uses by default; ``--no-intern``: values not interned), wait
    for sync, settle, gc, print one JSON line with RSS and the CPU seconds of the sync (with --deep, the
    deep size of the cached Python objects; with --event-cpu, CPU µs per object of decoding, transforming
    and interning it, what each listed object and each watch event costs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from common import Recorder, rss, status_bytes

import kubeloop as kl
from kubeloop.cache import Informer, InformerOptions, Obj, slim_managed_fields, strip_managed_fields
from kubeloop.client import Client, ClientSettings
from kubeloop.manager import ManagerOptions, MetricsOptions, ProbeOptions
from kubeloop.resources import core_v1


def run_operator(a: argparse.Namespace) -> None:
    recorder = Recorder.from_env()
    operator = kl.Operator("bench-runtime", namespace=a.namespace)

    @operator.reconcile(core_v1.ConfigMap)
    async def reconcile(cm: dict[str, Any], ctx: kl.Context) -> None:
        recorder.seen(cm)

    async def main() -> None:
        recorder.emit("start")
        loopback = ManagerOptions(metrics=MetricsOptions("127.0.0.1:0"), probes=ProbeOptions("127.0.0.1:0"))
        await operator.run(loopback, kubeconfig=a.kubeconfig)

    if a.profile == "cprofile":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            asyncio.run(main())  # the operator stops gracefully on SIGTERM
        finally:
            prof.disable()
            prof.dump_stats(a.profile_out)
    elif a.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        try:
            asyncio.run(main())  # the operator stops gracefully on SIGTERM
        finally:
            profiler.stop()
            Path(a.profile_out).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    else:
        asyncio.run(main())


def deep_size(objs: list[Any], seen: set[int] | None = None) -> int:
    """Bytes of every Python object reachable from ``objs`` through dicts, lists and tuples, each once
    (strings and numbers included; those in ``seen`` not counted, and ``seen`` gets the rest)."""
    return sum(deep_by_type(objs, seen).values())


def deep_by_type(objs: list[Any], seen: set[int] | None = None) -> dict[str, int]:
    """``deep_size`` by type of object: dict, list, str, int, other."""
    seen = set() if seen is None else seen
    total = dict.fromkeys(("dict", "list", "str", "int", "other"), 0)
    stack = list(objs)
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        kind = type(o).__name__
        total[kind if kind in total else "other"] += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple):
            stack.extend(o)
    return total


def deep_parts(objs: list[Any]) -> dict[str, float]:
    """Average deep size per object of its parts: metadata.managedFields, the rest of metadata, and each
    other top-level field (spec, status, data, ...); what objects share within a part (an interned
    string, a shared list) is counted once for all of them, as it is held once."""
    parts: dict[str, int] = {}
    seen: dict[str, set[int]] = {}
    for o in objs:
        meta = o.get("metadata") or {}
        rest = [v for k, v in meta.items() if k != "managedFields"] + list(meta)
        for name, values in (
            ("metadata.managedFields", [meta.get("managedFields")]),
            ("metadata (rest)", rest),
            *((k, [v]) for k, v in o.items() if k != "metadata"),
        ):
            if values != [None]:
                parts[name] = parts.get(name, 0) + deep_size(values, seen.setdefault(name, set()))
        parts["metadata (rest)"] += sys.getsizeof(meta)
    return {k: v / max(len(objs), 1) for k, v in parts.items()}


def best_us(fn: Any, items: list[Any], repeats: int = 7) -> float:
    """CPU µs per item of ``fn`` over ``items``: the best of ``repeats`` passes (the machine is shared)."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for item in items:
            fn(item)
        times.append(time.process_time() - t0)
    return min(times) / len(items) * 1e6


async def event_cpu(client: Client, informer: Informer) -> dict[str, float]:
    """CPU µs per object of what the informer does to each object it stores before the store: decode
    (orjson), transform, intern — measured over the wire form of up to 500 listed objects."""
    from kubeloop.cache import Interner  # not in an older kubeloop: imported when measuring this one

    page = await client.list(informer.resource, namespace=informer.options.namespace, limit=500)
    wire = [orjson.dumps(item) for item in page["items"]]
    transform = informer.options.transform or (lambda o: o)
    interner = Interner()
    interned: list[Obj] = [interner(transform(orjson.loads(b))) for b in wire]  # the table as in steady state
    decode = best_us(orjson.loads, wire)
    decode_transform = best_us(lambda b: transform(orjson.loads(b)), wire)
    with_intern = best_us(lambda b: interner(transform(orjson.loads(b))), wire)
    del interned
    return {
        "decode_us": decode,
        "transform_us": decode_transform - decode,
        "intern_us": with_intern - decode_transform,
        "objects": len(wire),
    }


async def memory(a: argparse.Namespace) -> None:
    if a.tracemalloc:
        import tracemalloc

        tracemalloc.start(a.tracemalloc)
    async with await Client.load(a.kubeconfig, settings=ClientSettings(qps=None)) as client:
        informers = []
        transform = strip_managed_fields if a.strip else slim_managed_fields if a.slim else None
        for kind in a.kinds.split(","):
            res = await client.resource({"configmaps": "v1/ConfigMap", "pods": "v1/Pod"}[kind])
            extra: dict[str, Any] = {"intern_values": False} if a.no_intern else {}  # older kubeloop: none
            inf = Informer(client, res, InformerOptions(namespace=a.namespace, transform=transform, **extra))
            inf.add_handler(lambda event: None)
            informers.append(inf)
        t0, cpu0 = time.perf_counter(), time.process_time()
        tasks = [asyncio.create_task(i.run()) for i in informers]
        await asyncio.gather(*(i.wait_synced() for i in informers))
        sync_s, sync_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        await asyncio.sleep(a.settle)
        gc.collect()
        objs = [o for i in informers for o in i.store]
        result: dict[str, Any] = {
            "objects": len(objs),
            "rss": rss(),
            "hwm": status_bytes("VmHWM"),
            "sync_s": sync_s,
            "sync_cpu_s": sync_cpu_s,
        }
        if a.deep:
            by_type = deep_by_type(objs)
            result["deep"] = sum(by_type.values())
            result["deep_types"] = {k: v / max(len(objs), 1) for k, v in by_type.items()}
            result["deep_parts"] = deep_parts(objs)
        if a.tracemalloc:
            snap = tracemalloc.take_snapshot()
            top = snap.statistics("traceback")[:8]
            result["tracemalloc"] = [
                {
                    "size": s.size,
                    "count": s.count,
                    "where": [
                        f"{f.filename.split('site-packages/')[-1].split('src/')[-1].split('python3.11/')[-1]}"
                        f":{f.lineno}"
                        for f in reversed(s.traceback)
                    ],
                }
                for s in top
            ]
        if a.event_cpu:
            result["event_cpu"] = await event_cpu(client, informers[0])
        print(json.dumps(result), flush=True)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["operator", "memory"])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--kinds", default="configmaps,pods")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--strip", action="store_true", help="transform=strip_managed_fields")
    how.add_argument(
        "--slim", action="store_true", help="transform=slim_managed_fields (kl.Operator's default)"
    )
    p.add_argument("--no-intern", action="store_true", help="InformerOptions(intern_values=False)")
    p.add_argument("--event-cpu", action="store_true")
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--deep", action="store_true")
    p.add_argument("--tracemalloc", type=int, default=0)
    p.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    p.add_argument("--profile-out")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if a.mode == "operator":
        run_operator(a)
    else:
        asyncio.run(memory(a))


if __name__ == "__main__":
    main()
