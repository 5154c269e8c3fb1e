"""Framework CPU per no-op reconcile (issue 16): what kubeloop itself spends between a watch event
and the end of a reconcile that does nothing, without the network and JSON decoding.

A ``kl.Operator`` with a no-op reconcile of ConfigMaps runs as users run it (its manager, cache,
controller, reconcile pipeline and Prometheus metrics, built by ``Operator.build``), on a client
whose list and watch of ConfigMaps are served from memory: objects shaped as kube-apiserver sends
them (``managedFields`` included), already decoded. Discovery goes to a real API server. Each round
sends every object once as a ``MODIFIED`` event (a pause every 50 events, as a watch's reads come
in chunks) and waits until each was reconciled; CPU is the process's own (``time.process_time``)
from the first event to the last reconcile, divided by the reconciles.

    .venv/bin/python bench/runtime/overhead.py                       # starts a control plane
    .venv/bin/python bench/runtime/overhead.py --kubeconfig K        # uses a running one
    .venv/bin/python bench/runtime/overhead.py --profile cprofile --profile-out /tmp/o.prof
    .venv/bin/python bench/runtime/overhead.py --splice docs/benchmarks/runtime.md --before B.json

``--json F`` writes the figures; ``--splice`` writes them into the page's section *Framework CPU per
no-op reconcile* (with ``--before``, repeatable: earlier ``--json`` files above them, e.g. of the code
before a change; run with ``PYTHONPATH=<other checkout>/src`` to measure other code).
"""

# The page is Markdown: the multiplication sign in strings is meant.
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kubeloop as kl
from kubeloop.client import Client, WatchEvent
from kubeloop.manager import ManagerOptions, Metrics, MetricsOptions, ProbeOptions
from kubeloop.resources import core_v1

NAMESPACE = "bench-overhead"
HEADING = "## Framework CPU per no-op reconcile"


def configmap(i: int) -> dict[str, Any]:
    """A ConfigMap as kube-apiserver sends it after a client-side create."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{i:05d}",
            "namespace": NAMESPACE,
            "uid": f"5f0c{i:08d}-0000-4000-8000-000000000000",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-12-05T01:00:00Z",
            "labels": {"app": "bench", "shard": str(i % 7)},
            "annotations": {"bench/stamp": "0"},
            "managedFields": [
                {
                    "manager": "writer",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-12-05T01:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:data": {".": {}, "f:key": {}, "f:other": {}},
                        "f:metadata": {
                            "f:annotations": {".": {}, "f:bench/stamp": {}},
                            "f:labels": {".": {}, "f:app": {}, "f:shard": {}},
                        },
                    },
                }
            ],
        },
        "data": {"key": "value " * 8, "other": str(i)},
    }


class MemoryClient(Client):
    """A client whose ConfigMaps are listed from and watched in memory (everything else is real)."""

    objects: list[dict[str, Any]]
    events: asyncio.Queue[WatchEvent[Any]]

    def serve(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.events = asyncio.Queue()

    async def list(self, ref: Any, **kwargs: Any) -> Any:
        if (await self.resource(ref)).plural != "configmaps":
            return await super().list(ref, **kwargs)
        items = [copy.deepcopy(o) for o in self.objects]
        return {
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    async def watch(self, ref: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        if (await self.resource(ref)).plural != "configmaps":
            async for event in super().watch(ref, **kwargs):
                yield event
            return
        while True:
            yield await self.events.get()


async def measure(
    kubeconfig: str, objects: int, rounds: int, profile: str | None, profile_out: str | None
) -> dict[str, Any]:
    reconciled = 0
    wanted = 0
    done = asyncio.Event()
    operator = kl.Operator("bench-overhead", namespace=NAMESPACE)

    @operator.reconcile(core_v1.ConfigMap)
    async def reconcile(cm: dict[str, Any], ctx: kl.Context) -> None:
        nonlocal reconciled
        reconciled += 1
        if reconciled >= wanted:
            done.set()

    cms = [configmap(i) for i in range(objects)]
    async with await MemoryClient.load(kubeconfig) as client:
        client.serve(cms)
        options = ManagerOptions(metrics=MetricsOptions("127.0.0.1:0"), probes=ProbeOptions("127.0.0.1:0"))
        manager = await operator.build(client, options, Metrics())
        task = asyncio.create_task(manager.run())
        wanted = objects
        await asyncio.wait_for(done.wait(), 120)  # the initial list's reconciles
        await asyncio.sleep(0.5)
        per_reconcile: list[float] = []
        profiler: Any = None
        share: float | None = None
        for r in range(rounds + (1 if profile else 0)):  # the profiled round is extra, not counted
            batch = []
            for i, cm in enumerate(cms):
                new = {**cm, "metadata": {**cm["metadata"], "annotations": {"bench/stamp": str(r + 1)}}}
                new["metadata"]["resourceVersion"] = str(100_000 * (r + 1) + i)
                batch.append(WatchEvent("MODIFIED", copy.deepcopy(new)))
            done.clear()
            wanted = reconciled + objects
            if profile and r == rounds:
                profiler = start_profile(profile)
            started = time.process_time()
            for i, event in enumerate(batch):
                client.events.put_nowait(event)
                if i % 50 == 49:
                    await asyncio.sleep(0)
            await asyncio.wait_for(done.wait(), 120)
            spent = time.process_time() - started
            if profiler is not None:
                stop_profile(profile or "", profiler, profile_out or "")
                if profile == "cprofile":
                    share = metrics_share(profile_out or "")
            else:
                per_reconcile.append(spent / objects * 1e6)
        manager.stop()
        await task
    return {
        "objects": objects,
        "rounds": rounds,
        "us_per_reconcile": per_reconcile,
        "median_us": statistics.median(per_reconcile),
        "min_us": min(per_reconcile),
        "max_us": max(per_reconcile),
        "load": os.getloadavg(),
        "metrics_share": share,
        "python": sys.version.split()[0],
    }


def start_profile(kind: str) -> Any:
    if kind == "cprofile":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        return prof
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def stop_profile(kind: str, profiler: Any, out: str) -> None:
    if kind == "cprofile":
        profiler.disable()
        profiler.dump_stats(out)
        return
    profiler.stop()
    Path(out).write_text(profiler.output_text(unicode=False, color=False, show_all=False))


_METRICS_MODULES = ("manager/_metrics.py", "manager/_series.py")


def metrics_share(path: str) -> float:
    """The share of a cProfile dump's own time spent in the Prometheus metrics (prometheus_client and
    kubeloop's manager/_metrics.py and _series.py), outside the event loop's wait."""
    import pstats

    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    busy = metrics = 0.0
    for (filename, _, name), (_, _, own, *_rest) in stats.items():
        if name == "<method 'poll' of 'select.epoll' objects>":
            continue
        busy += own
        if "prometheus_client" in filename or filename.endswith(
            ("manager/_metrics.py", "manager/_series.py")
        ):
            metrics += own
    return metrics / busy if busy else 0.0


def section(now: dict[str, Any], before: list[dict[str, Any]]) -> str:
    """The page's section on these figures (``before``: earlier runs shown above, in order)."""
    rows = [("before", b) for b in before] + [("now", now)]
    lines = [
        HEADING,
        "",
        "Issue 16's goal: at most 40 µs of framework CPU per no-op reconcile, every metric kept. From "
        "`bench/runtime/overhead.py`: a `kl.Operator` with a no-op reconcile of ConfigMaps, built as users "
        "run it (manager, cache, controller, reconcile pipeline, Prometheus metrics), on a client whose "
        "ConfigMap list and watch are served from memory (objects as kube-apiserver sends them, "
        "`managedFields` included, already decoded): each round sends every object once as a `MODIFIED` "
        "event; CPU is the process's own from the first event to the last reconcile, per reconcile. So "
        "the figure is the framework's alone: no network, no JSON decoding (the burst above has both).",
        "",
        "| code | objects × rounds | µs per reconcile: min / **median** / max | load average (1 min) "
        "| Prometheus metrics' share (cProfile) |",
        "|---|---|---|---|---|",
    ]
    for name, res in rows:
        label = f"{name}: {res['code']}" if res.get("code") else name
        share = res.get("metrics_share")
        lines.append(
            f"| {label} | {res['objects']:,} × {res['rounds']} | {res['min_us']:.1f} / "
            f"**{res['median_us']:.1f}** / {res['max_us']:.1f} | {res['load'][0]:.1f} "
            f"| {'–' if share is None else f'{share:.0%}'} |"
        )
    met = "met" if now["median_us"] <= 40 else "missed"
    lines += [
        "",
        f"Goal (≤ 40 µs per no-op reconcile): **{met}** ({now['median_us']:.1f} µs, median).",
        "",
        *(f"{note}\n" for note in now.get("notes") or ()),
        "*Prometheus metrics' share*: of the busy own time (outside the event loop's wait) of one more "
        "round under cProfile, the functions of prometheus_client and of kubeloop's "
        "`manager/_metrics.py` and `manager/_series.py` (cProfile inflates small calls, so the share is "
        "an upper bound).",
        "",
        "Run: `.venv/bin/python bench/runtime/overhead.py` (starts a control plane for discovery, or "
        "`--kubeconfig`); `--json F` keeps the figures, `--splice docs/benchmarks/runtime.md --before "
        "F ...` writes this section; `PYTHONPATH=<another checkout>/src` measures other code. "
        "`bench/runtime/run.py` keeps this section when it rewrites the page.",
    ]
    return "\n".join(lines) + "\n"


def splice(page: Path, text: str) -> None:
    """Replace the section in ``page`` (or insert it before *How to run*)."""
    page.write_text(spliced(page.read_text(), text))


def spliced(content: str, text: str) -> str:
    """``content`` with its section replaced by ``text`` (inserted before *How to run* if it has none)."""
    if HEADING in content:
        start = content.index(HEADING)
        end = content.find("\n## ", start + len(HEADING))
        return content[:start] + text + ("\n" + content[end + 1 :] if end >= 0 else "")
    anchor = content.index("## How to run")
    return content[:anchor] + text + "\n" + content[anchor:]


def carried(old: str, new: str) -> str:
    """``new`` (a page run.py made) with the section of ``old`` (the page it replaces) kept."""
    if HEADING not in old:
        return new
    start = old.index(HEADING)
    end = old.find("\n## ", start + len(HEADING))
    return spliced(new, (old[start : end + 1] if end >= 0 else old[start:]).rstrip("\n") + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubeconfig")
    p.add_argument("--objects", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    p.add_argument("--profile-out")
    p.add_argument("--code", default="", help="what code this is (a commit), for the page")
    p.add_argument("--json", type=Path)
    p.add_argument("--render", type=Path, help="with --splice: the figures of this --json, not measured")
    p.add_argument("--splice", type=Path)
    p.add_argument(
        "--before", type=Path, action="append", default=[], help="a --json of earlier code, shown above"
    )
    a = p.parse_args()
    if a.render:
        res = json.loads(a.render.read_text())
    else:
        with contextlib.ExitStack() as stack:
            kubeconfig = a.kubeconfig
            if kubeconfig is None:
                from kubeloop.testing import ControlPlane

                kubeconfig = str(stack.enter_context(ControlPlane()).kubeconfig)
            res = asyncio.run(measure(kubeconfig, a.objects, a.rounds, a.profile, a.profile_out))
        res["code"] = a.code
    print(json.dumps(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    if a.splice:
        splice(a.splice, section(res, [json.loads(b.read_text()) for b in a.before]))


if __name__ == "__main__":
    main()
