"""Runtime benchmark (issue 5): event→reconcile latency, no-op reconcile throughput and cache memory per
object — kubeloop against kopf (latency, throughput) and client-go (memory), in one run against one real
control plane.

    .venv/bin/python bench/runtime/run.py            # full run (~15 min): writes docs/benchmarks/runtime.md
                                                     # and runtime_memory.png
    .venv/bin/python bench/runtime/run.py --quick    # small numbers, prints only (unless --out is given)
    .venv/bin/python bench/runtime/run.py --phases memory --out /tmp/x.md

Every contender runs in its own subprocess (``ours.py``, ``kopf run … kopf_op.py``, ``goinformer``), so
RSS and CPU are its own. See docs/benchmarks/runtime.md for the method.
"""

# The page is Markdown: the multiplication sign, en dash and division sign in strings are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from common import configmap, pod, stamp_patch  # noqa: E402
from overhead import carried  # noqa: E402

from kubeloop.cache import slim_managed_fields  # noqa: E402
from kubeloop.client import AlreadyExistsError, Client, ClientSettings  # noqa: E402
from kubeloop.testing import ControlPlane  # noqa: E402
from kubeloop.testing.process import terminate  # noqa: E402
from kubeloop.testing.versions import KUBERNETES_VERSION  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubeloop" / "bench"
GO_BIN = CACHE / "goinformer"
OPERATORS = ["kubeloop", "kopf"]
PARTS = ["metadata.managedFields", "metadata (rest)", "data", "spec", "status"]
TYPES = ["dict", "list", "str", "int", "other"]
SLIM = "kubeloop (operator default: slim)"
NOT_INTERNED = "kubeloop (slim, values not interned)"
BEFORE = ", before"
MEMORY_CONTENDERS = [
    "kubeloop",
    "kubeloop (strip)",
    SLIM,
    NOT_INTERNED,
    "kubeloop" + BEFORE,
    SLIM + BEFORE,
    "client-go",
    "client-go (strip)",
]
"""Memory contenders. ``…, before``: kubeloop as it was before this change (``--before-src``, a checkout's
``src`` put first on the path); left out without it."""


def transform_of(contender: str) -> str:
    """The managedFields transform of a memory contender: "strip", "slim" or "" (none)."""
    name = contender.removesuffix(BEFORE)
    return "strip" if name.endswith("(strip)") else "slim" if "slim" in name else ""


def reference_of(contender: str) -> str:
    """The client-go contender to compare with: stripped with strip, else plain (client-go keeps full
    managedFields, so slim is compared with plain client-go)."""
    return "client-go (strip)" if transform_of(contender) == "strip" else "client-go"


def memory_contenders(a: argparse.Namespace) -> list[str]:
    return [c for c in MEMORY_CONTENDERS if a.before_src or not c.endswith(BEFORE)]


CONCURRENCY = 50


# ------------------------------------------------------------------------------------------------ writers


def settings() -> ClientSettings:
    return ClientSettings(qps=None)


async def ensure(c: Client, obj: dict[str, Any]) -> None:
    with contextlib.suppress(AlreadyExistsError):
        await c.create(obj)


async def concurrently(n: int, fn: Any) -> float:
    """Run ``fn(i)`` for i in range(n), CONCURRENCY in flight; seconds taken."""
    it = iter(range(n))
    t0 = time.perf_counter()

    async def lane() -> None:
        for i in it:
            await fn(i)

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t0


async def paced(n: int, rate: float, fn: Any) -> None:
    """Start ``fn(i)`` at ``rate`` per second (not waiting for the previous one); wait for all."""
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fn(i)))
    await asyncio.gather(*tasks)


# ------------------------------------------------------------------------------------------------ contenders


class Tail:
    """Reads the JSON lines a contender's ``Recorder`` appends to its out file."""

    def __init__(self, path: Path, proc: subprocess.Popen[bytes]) -> None:
        self.path, self.proc = path, proc
        self.lines: list[dict[str, Any]] = []
        self._pos = 0

    def poll(self) -> None:
        with open(self.path) as f:
            f.seek(self._pos)
            data = f.read()
        done = data.rfind("\n") + 1
        self._pos += len(data[:done].encode())
        self.lines += [json.loads(ln) for ln in data[:done].splitlines() if ln.strip()]

    async def wait(self, event: str, phase: str | None = None, within_s: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while True:
            self.poll()
            for ln in self.lines:
                if ln["event"] == event and (phase is None or ln.get("phase") == phase):
                    return ln
            if self.proc.poll() is not None:
                raise RuntimeError(f"contender exited ({self.proc.returncode}) before {event} {phase or ''}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} {phase or ''} after {within_s:.0f} s")
            await asyncio.sleep(0.005)


def spawn_operator(
    name: str,
    kubeconfig: Path,
    ns: str,
    out: Path,
    targets: dict[str, int],
    profile: tuple[str, Path] | None,
    log: Path,
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_TARGETS": json.dumps(targets)}
    if name == "kubeloop":
        argv = [
            sys.executable,
            str(HERE / "ours.py"),
            "operator",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            ns,
        ]
        if profile:
            argv += ["--profile", profile[0], "--profile-out", str(profile[1])]
    else:
        env["KUBECONFIG"] = str(kubeconfig)
        argv = [
            str(Path(sys.executable).with_name("kopf")),
            "run",
            "--standalone",
            "--quiet",
            "-n",
            ns,
            str(HERE / "kopf_op.py"),
        ]
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def cpu_of(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def server_cpu(pids: list[int]) -> float:
    return sum(cpu_of(p) for p in pids)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run_operator(
    name: str,
    kubeconfig: Path,
    pids: list[int],
    a: argparse.Namespace,
    profile: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """Initial list of ``a.objects`` ConfigMaps, paced latency (creates then patches), update burst."""
    ns = f"rt-{name}" + ("-prof" if profile else "")
    n, lat = a.objects, a.latency_objects
    r: dict[str, Any] = {"contender": name, "objects": n}
    async with await Client.load(kubeconfig, settings=settings()) as c:
        await ensure(c, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        r["seed_s"] = await concurrently(n, lambda i: c.create(configmap(f"cm-{i:05d}", ns, "seed")))
        work = Path(tempfile.mkdtemp(prefix=f"rt-{name}-"))
        out = work / "events.jsonl"
        out.touch()
        targets = {"seed": n, "lat-create": lat, "lat-update": lat, "burst": n}
        s0 = server_cpu(pids)
        t_spawn = time.time()
        proc = spawn_operator(name, kubeconfig, ns, out, targets, profile, work / "log.txt")
        tail = Tail(out, proc)
        try:
            start = await tail.wait("start", within_s=120)
            seed = await tail.wait("done", "seed")
            r["initial"] = {
                "from_spawn_s": seed["t"] - t_spawn,
                "from_start_s": seed["t"] - start["t"],
                "cpu_s": seed["cpu"] - start["cpu"],
                "gc_s": seed["gc_s"] - start["gc_s"],
                "startup_cpu_s": start["cpu"],
                "rss": seed["rss"],
                "calls": seed["calls"],
                "server_cpu_s": server_cpu(pids) - s0,
            }
            await asyncio.sleep(2)
            for phase, write in (
                ("lat-create", lambda i: c.create(configmap(f"lat-{i:04d}", ns, "lat-create"))),
                (
                    "lat-update",
                    lambda i: c.patch(
                        "v1/ConfigMap", f"lat-{i:04d}", stamp_patch("lat-update"), namespace=ns
                    ),
                ),
            ):
                cpu0 = cpu_of(proc.pid)
                await paced(lat, a.rate, write)
                done = await tail.wait("done", phase, within_s=120)
                ms = [x * 1000 for x in done["latencies"]]
                r[phase] = {
                    "p50_ms": pct(ms, 0.5),
                    "p90_ms": pct(ms, 0.9),
                    "p99_ms": pct(ms, 0.99),
                    "max_ms": max(ms),
                    "mean_ms": statistics.fmean(ms),
                    "cpu_s": done["cpu"] - cpu0,
                    "n": len(ms),
                }
                await asyncio.sleep(1)
            cpu0, s0 = cpu_of(proc.pid), server_cpu(pids)
            t0 = time.time()
            writer_s = await concurrently(
                n, lambda i: c.patch("v1/ConfigMap", f"cm-{i:05d}", stamp_patch("burst"), namespace=ns)
            )
            burst = await tail.wait("done", "burst")
            ms = [x * 1000 for x in burst["latencies"]]
            r["burst"] = {
                "seen_s": burst["t"] - t0,
                "writer_s": writer_s,
                "cpu_s": burst["cpu"] - cpu0,
                "gc_s": burst["gc_s"] - done["gc_s"],
                "calls": burst["calls"],
                "rss": burst["rss"],
                "p50_ms": pct(ms, 0.5),
                "p99_ms": pct(ms, 0.99),
                "server_cpu_s": server_cpu(pids) - s0,
            }
        finally:
            terminate(proc, 60.0)
        # what the contender wrote back: annotations other than the writer's, and Events
        cm = await c.get("v1/ConfigMap", "cm-00000", namespace=ns)
        foreign = [
            k for k in (cm["metadata"].get("annotations") or {}) if not k.startswith("bench.kubeloop.io")
        ]
        events = await c.list("v1/Event", namespace=ns)
        r["writes_back"] = {
            "annotations": foreign,
            "finalizers": cm["metadata"].get("finalizers") or [],
            "events": len(events["items"]),
        }
        await c.delete_collection("configmaps", namespace=ns)
    return r


def go_sync_baseline(kubeconfig: Path, ns: str) -> dict[str, Any]:
    return json.loads(
        subprocess.run(
            [
                str(GO_BIN),
                "-kubeconfig",
                str(kubeconfig),
                "-namespace",
                ns,
                "-kinds",
                "configmaps",
                "-settle",
                "0s",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


# ------------------------------------------------------------------------------------------------ memory


def memory_run(
    contender: str,
    kubeconfig: Path,
    ns: str,
    kind: str,
    extra: tuple[str, ...] = (),
    before_src: Path | None = None,
) -> dict[str, Any]:
    flags = list(extra)
    how = transform_of(contender)
    strip = how == "strip"
    env = dict(os.environ)
    if contender.startswith("client-go"):
        argv = [str(GO_BIN), "-kubeconfig", str(kubeconfig), "-namespace", ns, "-kinds", kind]
        argv += ["-strip"] if strip else []
    else:
        if contender.endswith(BEFORE):
            assert before_src is not None
            env["PYTHONPATH"] = str(before_src / "src")
            flags = [x for x in flags if x != "--event-cpu"]
        elif contender == NOT_INTERNED:
            flags.append("--no-intern")
        argv = [
            sys.executable,
            str(HERE / "ours.py"),
            "memory",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            ns,
            "--kinds",
            kind,
            *([f"--{how}"] if how else []),
            *flags,
        ]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{contender} memory run failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def top_up(kubeconfig: Path, ns: str, n: int, have: int) -> float:
    async with await Client.load(kubeconfig, settings=settings()) as c:
        if have == 0:
            await ensure(c, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            await ensure(
                c,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": ns},
                },
            )

        async def both(i: int) -> None:
            await c.create(configmap(f"cm-{have + i:05d}", ns))
            await c.create(pod(f"web-7d9c5b6f4d-{have + i:05d}", ns))

        return await concurrently(n - have, both)


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares bytes per object of RSS against N."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def run_memory(kubeconfig: Path, a: argparse.Namespace) -> dict[str, Any]:
    load_before, when = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ns = "rt-memory"
    have = 0
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    wire: dict[str, float] = {}
    for n in a.memory_ns:
        asyncio.run(top_up(kubeconfig, ns, n, have))
        have = n
        for kind in ("configmaps", "pods"):
            for contender in memory_contenders(a):
                last = n == a.memory_ns[-1]
                extra: tuple[str, ...] = ("--deep",) if last else ()
                extra += ("--event-cpu",) if last and contender in ("kubeloop", SLIM) else ()
                best = None
                for _ in range(a.memory_repeats):
                    res = memory_run(contender, kubeconfig, ns, kind, extra, a.before_src)
                    if best is None or res["rss"] < best["rss"]:
                        best = res
                assert best is not None
                best["n"] = n
                runs.setdefault(kind, {}).setdefault(contender, []).append(best)
                print(
                    f"  memory {kind:10} N={n:>6,} {contender:44} RSS {best['rss'] / 2**20:7.1f} MiB"
                    f"  sync {best['sync_s']:.2f} s  objects {best['objects']}"
                    + (f"  event CPU {best['event_cpu']}" if "event_cpu" in best else ""),
                    flush=True,
                )
        if n == a.memory_ns[-1]:
            wire = asyncio.run(wire_sizes(kubeconfig, ns))
    per_object = {
        kind: {c: slope([(r["n"], r["rss"]) for r in rs]) for c, rs in by.items()}
        for kind, by in runs.items()
    }
    out = {
        "runs": runs,
        "per_object": per_object,
        "wire": wire,
        "when": when,
        "load": [load_before, os.getloadavg()],
    }
    if a.before_src:
        out["before"] = f"`{a.before_src.name}`"
    return out


async def wire_sizes(kubeconfig: Path, ns: str) -> dict[str, float]:
    """Average JSON bytes of one object as the server lists it, with and without managedFields."""
    out = {}
    async with await Client.load(kubeconfig, settings=settings()) as c:
        for kind, ref in (("configmaps", "v1/ConfigMap"), ("pods", "v1/Pod")):
            page = await c.list(ref, namespace=ns, limit=200)
            items = page["items"]
            out[kind] = statistics.fmean(len(json.dumps(i, separators=(",", ":"))) for i in items)
            out[kind + " (slim)"] = statistics.fmean(
                len(json.dumps(slim_managed_fields(copy.deepcopy(i)), separators=(",", ":"))) for i in items
            )
            for i in items:
                i["metadata"].pop("managedFields", None)
            out[kind + " (strip)"] = statistics.fmean(
                len(json.dumps(i, separators=(",", ":"))) for i in items
            )
    return out


def memory_evidence(kubeconfig: Path, a: argparse.Namespace) -> dict[str, Any]:
    """tracemalloc's top allocation sites while an informer holds the Pods (a separate run: tracing costs)."""
    return memory_run("kubeloop", kubeconfig, "rt-memory", "pods", ("--tracemalloc", "6"))


# ------------------------------------------------------------------------------------------------ report


def mib(b: float) -> str:
    return f"{b / 2**20:,.1f}"


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def profile_summary(path: Path, limit: int = 25) -> list[str]:
    """The top functions by own time (tottime) of a cProfile dump, as markdown rows."""
    st = pstats.Stats(str(path))
    idle = sum(v[2] for k, v in st.stats.items() if "epoll" in k[2])  # type: ignore[attr-defined]
    total = st.total_tt - idle  # type: ignore[attr-defined]
    ranked = sorted(st.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    rows = [f"| (waiting in `epoll`) | | | {idle:.2f} | not counted | |"]
    for (file, line, fn), (_cc, nc, tt, ct, _) in [kv for kv in ranked if "epoll" not in kv[0][2]][:limit]:
        where = file.split("site-packages/")[-1].split("/src/")[-1].split("lib/python3.11/")[-1]
        rows.append(
            f"| `{fn}` | `{where}:{line}` | {nc:,} | {tt:.2f} | {tt / total * 100:.1f} % | {ct:.2f} |"
        )
    return rows


def goals(res: dict[str, Any], a: argparse.Namespace) -> list[str]:
    """The issue's two goals, judged from this run's numbers."""
    L = ["## Goals", ""]
    k = res.get("operators", {}).get("kubeloop")
    if k and "failed" not in k:
        b, i = k["burst"], k["initial"]
        bound = (
            b["seen_s"] - b["writer_s"] < max(1.0, 0.05 * b["writer_s"]) and b["cpu_s"] < 0.5 * b["seen_s"]
        )
        verdict = "met" if bound else "missed"
        L.append(
            f"- **No-op throughput limited by the API server, not by us: {verdict}.** Burst of {a.objects:,} "
            f"updates: the reconciler had seen the last one "
            f"{max(b['seen_s'] - b['writer_s'], 0) * 1000:.0f} ms after the API server accepted the last "
            f"patch ({b['seen_s']:.2f} s vs {b['writer_s']:.2f} s), using "
            f"{b['cpu_s']:.2f} CPU s ({b['cpu_s'] / a.objects * 1e6:.0f} µs per update, "
            f"{b['cpu_s'] / b['seen_s'] * 100:.0f} % of one core). Initial list: {a.objects:,} objects "
            f"reconciled {i['from_start_s']:.2f} s after the operator started ({i['cpu_s']:.2f} CPU s)"
            + (
                f"; a bare client-go informer needs {res['go_sync']['sync_s']:.2f} s just to list and "
                "sync them"
                if res.get("go_sync")
                else ""
            )
            + "."
        )
    mem = res.get("memory")
    if mem:
        L += memory_goals(mem)
    return [*L, ""]


def memory_goals(mem: dict[str, Any]) -> list[str]:
    """Issue 16's memory goal per kind, with the like-for-like figures beside it."""
    L = []
    for kind in ("configmaps", "pods"):
        po = mem["per_object"][kind]
        go, go_strip = po["client-go"], po["client-go (strip)"]
        default = po[SLIM] / go

        def was(c: str, ref: float, po: dict[str, float] = po) -> str:
            return f"; before: {po[c + BEFORE]:,.0f}, {po[c + BEFORE] / ref:.2f}×" if c + BEFORE in po else ""

        L.append(
            f"- **Memory per cached {kind[:-1]} at kubeloop's defaults ≤ 1.0× client-go's at its defaults: "
            f"{'met' if default <= 1.0 else 'missed'}.** A `kl.Operator`'s cache (`slim_managed_fields`, "
            f"values interned) {po[SLIM]:,.0f} bytes vs a client-go informer (full managedFields) "
            f"{go:,.0f} bytes: {default:.2f}×{was(SLIM, go)}. Not like for like: kubeloop drops "
            f"managedFields' `fieldsV1`, client-go keeps it. Like for like, both keeping everything the "
            f"server sends: {po['kubeloop']:,.0f} vs {go:,.0f} bytes, {po['kubeloop'] / go:.2f}×"
            f"{was('kubeloop', go)}; both without managedFields: {po['kubeloop (strip)']:,.0f} vs "
            f"{go_strip:,.0f} bytes, {po['kubeloop (strip)'] / go_strip:.2f}×."
            + (
                f" The margin, {(1 - default) * 100:.0f} %, is of the size of this measure's spread from run "
                "to run (1–2 %): a rerun can land on either side of 1.0×."
                if 0.95 < default <= 1.0
                else ""
            )
        )
    return L


PROFILE_GROUPS = {
    "Prometheus metrics (prometheus_client + kubeloop/manager/_metrics.py), own time": (
        "own",
        lambda f, fn: "prometheus_client" in f or "manager/_metrics.py" in f,
    ),
    "`Context(...)` built per reconcile (deepcopy of status, logger adapter), cumulative": (
        "cum",
        lambda f, fn: f.endswith("operator/_context.py") and fn == "__init__",
    ),
    "`asyncio.timeout` around each reconcile, cumulative": (
        "cum",
        lambda f, fn: f.endswith("asyncio/timeouts.py") and fn in ("__aenter__", "__aexit__"),
    ),
    "queue hand-out (`Queue._take`), cumulative": (
        "cum",
        lambda f, fn: f.endswith("queue/_base.py") and fn == "_take",
    ),
    "informer → handlers → queue.add (`Informer._emit`), cumulative": (
        "cum",
        lambda f, fn: f.endswith("cache/_informer.py") and fn == "_emit",
    ),
    "JSON decode (`orjson.loads`), own time": ("own", lambda f, fn: "orjson.loads" in fn),
    "the user's no-op reconcile incl. the benchmark's recorder, cumulative": (
        "cum",
        lambda f, fn: f.endswith("bench/runtime/ours.py") and fn == "reconcile",
    ),
}


def profile_groups(path: Path) -> dict[str, float]:
    """Seconds per group of ``PROFILE_GROUPS`` and the busy total (everything but waiting in epoll)."""
    st = pstats.Stats(str(path))
    stats = st.stats  # type: ignore[attr-defined]
    idle = sum(v[2] for k, v in stats.items() if "epoll" in k[2])
    out = {"busy": st.total_tt - idle}  # type: ignore[attr-defined]
    for name, (kind, match) in PROFILE_GROUPS.items():
        out[name] = sum(v[2] if kind == "own" else v[3] for (f, _l, fn), v in stats.items() if match(f, fn))
    return out


def hotspots(res: dict[str, Any]) -> list[str]:
    L: list[str] = []
    groups = res.get("profile_groups")
    k = res.get("operators", {}).get("kubeloop")
    if groups:
        busy = groups["busy"]
        L += [
            "",
            f"Busy time of the profiled run ({busy:.1f} s of own time outside `epoll`, cProfile overhead "
            "included) by where it goes (groups overlap: cumulative rows include their callees):",
            "",
            "| where | s | share of busy |",
            "|---|---|---|",
        ]
        L += [
            f"| {name} | {v:.2f} | {v / busy * 100:.0f} % |" for name, v in groups.items() if name != "busy"
        ]
    if k and "failed" not in k and "gc_s" in k.get("burst", {}):
        i, b = k["initial"], k["burst"]
        L += [
            "",
            f"Cyclic garbage collector in the unprofiled run (`gc.callbacks`): {i['gc_s']:.2f} s of the "
            f"initial list's {i['cpu_s']:.2f} CPU s, {b['gc_s']:.2f} s of the burst's {b['cpu_s']:.2f} CPU s "
            "— every full collection walks every dict and list in the cache (cProfile charges that time "
            "to whichever function allocated when it triggered, e.g. the recorder's `seen`).",
        ]
    return L


def report(res: dict[str, Any], a: argparse.Namespace) -> str:
    L: list[str] = []
    env = res["env"]
    L += [
        "# Runtime benchmark: latency, no-op throughput, cache memory",
        "",
        "Issue 5. Generated by `bench/runtime/run.py` — do not edit by hand; rerun it.",
        "",
        f"Machine: {env['machine']}. Kubernetes {KUBERNETES_VERSION} (etcd + kube-apiserver from "
        f"`kubeloop.testing.ControlPlane`, on the same machine), Python {env['python']}, kubeloop "
        f"{env['kubeloop']}, kopf {env['kopf']}, client-go v0.33.13 ({env.get('go', '?')}). Load average "
        f"(1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in env['load_before'])}, at the end "
        f"{'/'.join(f'{x:.1f}' for x in env['load_after'])}: the machine is shared with other work, so "
        "wall-clock times carry noise; CPU seconds are each process's own and are the steadier measure.",
        "",
    ]
    L += goals(res, a)
    ops = res.get("operators", {})
    if ops:
        base = res.get("go_sync", {})
        L += [
            f"## Throughput: no-op reconcile over {a.objects:,} ConfigMaps",
            "",
            "Initial list: the ConfigMaps exist before the operator starts; time until the reconciler has "
            "seen every one. Burst: every ConfigMap patched once (new annotation), 50 patches in flight "
            "from a separate writer process; time from the first patch until the reconciler has seen "
            "every update. *Writer* is how long the API server took to accept the patches: the floor.",
            "",
            "| contender | initial list: from spawn s | from operator start s | objects/s | CPU s "
            "| of it GC s "
            "| burst: all seen s | writer s | updates/s seen | CPU s | of it GC s | reconciles "
            "| RSS after burst MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in ops.items():
            if "failed" in r:
                L.append(f"| {name} | **failed**: {r['failed']} |" + " |" * 11)
                continue
            i, b = r["initial"], r["burst"]
            L.append(
                f"| {name} | {i['from_spawn_s']:.2f} | {i['from_start_s']:.2f} "
                f"| {a.objects / i['from_start_s']:,.0f} | {i['cpu_s']:.2f} | {i.get('gc_s', 0):.2f} "
                f"| {b['seen_s']:.2f} | {b['writer_s']:.2f} | {a.objects / b['seen_s']:,.0f} "
                f"| {b['cpu_s']:.2f} "
                f"| {b.get('gc_s', 0):.2f} | {b['calls']:,} | {mib(b['rss'])} |"
            )
        L += [
            "",
            "What each contender wrote back to the API server during its run (checked afterwards on "
            "one ConfigMap and the namespace's Events): "
            + "; ".join(
                f"{n}: annotations {r['writes_back']['annotations'] or 'none'}, finalizers "
                f"{r['writes_back']['finalizers'] or 'none'}, {r['writes_back']['events']} Events"
                for n, r in ops.items()
                if "writes_back" in r
            )
            + ".",
        ]
        if base:
            L += [
                "",
                f"Reference: a client-go informer (`goinformer`, typed, JSON) lists and syncs the same "
                f"{base['objects']:,} ConfigMaps in {base['sync_s']:.2f} s.",
            ]
        L += [
            "",
            "## Latency: event → reconcile",
            "",
            f"{a.latency_objects} ConfigMaps created at {a.rate:g}/s, then each patched at {a.rate:g}/s "
            "(with the other {:,} in the cache). The writer stamps `time.time()` into an annotation just "
            "before sending; the reconciler records `time.time() - stamp` the first time it sees that "
            "stamp. So latency = API server write + watch delivery + decode + queue + reconcile "
            "dispatch.".format(a.objects),
            "",
            "| contender | phase | p50 ms | p90 ms | p99 ms | max ms | CPU s for the phase |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in ops.items():
            if "failed" in r:
                continue
            for phase in ("lat-create", "lat-update"):
                x = r[phase]
                L.append(
                    f"| {name} | {phase.removeprefix('lat-')} | {x['p50_ms']:.1f} | {x['p90_ms']:.1f} "
                    f"| {x['p99_ms']:.1f} | {x['max_ms']:.1f} | {x['cpu_s']:.2f} |"
                )
            L.append(
                f"| {name} | during the burst | {r['burst']['p50_ms']:,.0f} | | "
                f"{r['burst']['p99_ms']:,.0f} | | |"
            )
        k, kp = ops.get("kubeloop"), ops.get("kopf")
        if k and kp and "failed" not in k and "failed" not in kp:
            L += [
                "",
                "Ratios kopf ÷ kubeloop: initial list time {:.1f}×, burst time {:.1f}× (each burst is "
                "paced by its own writer, see *writer s*), "
                "update latency p50 {:.1f}×, p99 {:.1f}×; CPU for the burst {:.1f}×.".format(
                    kp["initial"]["from_start_s"] / k["initial"]["from_start_s"],
                    kp["burst"]["seen_s"] / k["burst"]["seen_s"],
                    kp["lat-update"]["p50_ms"] / k["lat-update"]["p50_ms"],
                    kp["lat-update"]["p99_ms"] / k["lat-update"]["p99_ms"],
                    kp["burst"]["cpu_s"] / k["burst"]["cpu_s"],
                ),
            ]
    mem = res.get("memory")
    if mem:
        L += memory_section(res, mem, a)
    if res.get("profile"):
        L += [
            "",
            "## Profile: kubeloop's operator process, initial list + latency + burst",
            "",
            "cProfile over the whole operator process of a separate run (same workload; profiling slows "
            "it, so the timings above come from the unprofiled runs). Top functions by own time:",
            "",
            "| function | where | calls | own s | share of busy own time | cumulative s |",
            "|---|---|---|---|---|---|",
            *res["profile"],
        ]
        L += hotspots(res)
    if res.get("pyinstrument"):
        L += [
            "",
            "pyinstrument (sampling, 1 ms, wall clock) of the same workload, call tree (frames under "
            "1 % hidden):",
            "",
            "```",
            *res["pyinstrument"][:90],
            "```",
        ]
    L += [
        "",
        "## How to run",
        "",
        "```sh",
        ".venv/bin/pip install -e '.[dev,bench]'          "
        "# kopf, psutil, matplotlib (+ pip install pyinstrument: optional)",
        ".venv/bin/python bench/runtime/run.py             "
        "# full run: writes this page and runtime_memory.png",
        ".venv/bin/python bench/runtime/run.py --quick     # 1,000 objects, prints only",
        ".venv/bin/python bench/runtime/run.py --phases memory --out /tmp/runtime.md",
        "# the memory phase alone, with kubeloop before a change beside it, spliced into this page:",
        "git archive COMMIT src | tar -x -C /tmp/before-COMMIT",
        ".venv/bin/python bench/runtime/run.py --phases memory --before-src /tmp/before-COMMIT --splice",
        "```",
        "",
        "Needs Go (the client-go program `bench/runtime/goinformer/` is built with `go build` into "
        "`~/.cache/kubeloop/bench/`) and the control-plane binaries (`kubeloop controlplane build`). "
        "Raw results of the last run: `bench/runtime/last_results.json` (not committed).",
    ]
    return "\n".join(L) + "\n"


def memory_section(res: dict[str, Any], mem: dict[str, Any], a: argparse.Namespace) -> list[str]:
    """The page's section on cache memory per object."""
    n_last = a.memory_ns[-1]
    L = [
        "",
        "## Cache memory per object",
        "",
        "One process per contender, kind and N: an informer over N objects of one namespace (no-op "
        "handler), wait for sync, 1 s settle, GC (`gc.collect()`; Go `runtime.GC()` + "
        "`debug.FreeOSMemory()`), then `VmRSS` from /proc/self/status. Bytes per object = "
        "least-squares slope of RSS over N = "
        + ", ".join(f"{n:,}" for n in a.memory_ns)
        + ", "
        + (
            f"the lowest RSS of {a.memory_repeats} runs at each N."
            if a.memory_repeats > 1
            else "one run at each N."
        )
        + (
            " This section's run: {}, load average (1/5/15 min) at its start {}, at its end {}.".format(
                mem["when"], *("/".join(f"{x:.1f}" for x in load) for load in mem["load"])
            )
            if "load" in mem
            else ""
        ),
        "",
        "The contenders, and which comparisons are like for like:",
        "",
        "- *kubeloop* and *client-go*: each informer keeps everything the server sends, full "
        "managedFields included: **like for like**. kubeloop's informer interns values by default "
        "(`InformerOptions(intern_values=True)`: equal strings of at most 128 characters and integers "
        "are held once among the cached objects).",
        "- *(strip)*: `InformerOptions(transform=strip_managed_fields)` and the same transform in client-go "
        "(`cache.TransformFunc` dropping managedFields, as controller-runtime's "
        "`TransformStripManagedFields`): **like for like**.",
        "- *kubeloop (operator default: slim)*: what a `kl.Operator`'s cache holds by default "
        "(`slim_managed_fields`: each managedFields entry's `manager`/`operation`/`subresource`, not "
        "`fieldsV1`; values interned. The operator's own transform, `slim_managed_fields_except(its "
        "field manager)`, keeps its own entries whole: none here, it applied none of these objects), "
        "against plain client-go, which is what a controller-runtime manager's cache holds by default "
        "(full managedFields): **defaults against defaults, not like for like** (kubeloop keeps less).",
        "- *kubeloop (slim, values not interned)*: the operator default with `intern_values=False`, "
        "what interning alone saves.",
    ]
    if any(c.endswith(BEFORE) for c in mem["runs"]["pods"]):
        L.append(
            "- *…, before*: kubeloop before this change (" + mem.get("before", "the previous commit") + "; "
            "no interning, a slim managedFields list per object), measured in the same run."
        )
    L += [
        "",
        "| kind | contender | "
        + " | ".join(f"RSS N={n:,} MiB" for n in a.memory_ns)
        + " | bytes/object | MiB per 1,000 | ÷ client-go (*strip*: stripped; others: plain) "
        f"| JSON bytes/object | sync CPU s, N={n_last:,} |",
        "|---|---|" + "---|" * (len(a.memory_ns) + 5),
    ]
    for kind in ("configmaps", "pods"):
        for c in MEMORY_CONTENDERS:
            if c not in mem["runs"][kind]:  # not in this run
                continue
            rs = mem["runs"][kind][c]
            bpo = mem["per_object"][kind][c]
            ref = mem["per_object"][kind][reference_of(c)]
            w = mem["wire"].get(kind + (f" ({transform_of(c)})" if transform_of(c) else ""))
            cpu = rs[-1].get("sync_cpu_s")
            L.append(
                f"| {kind} | {c} | "
                + " | ".join(mib(r["rss"]) for r in rs)
                + f" | {bpo:,.0f} | {bpo * 1000 / 2**20:.2f} | {bpo / ref:.2f}× | "
                + (f"{w:,.0f}" if w else "–")
                + (f" | {cpu:.2f} |" if cpu is not None else " | – |")
            )
    L += where_the_bytes_go(mem, n_last)
    pods = mem["runs"]["pods"]
    slim_pod = pods.get(SLIM, [{}])[-1]
    if "deep_types" in slim_pod and "deep_types" in pods.get(NOT_INTERNED, [{}])[-1]:
        types = slim_pod["deep_types"]
        strings = pods[NOT_INTERNED][-1]["deep_types"]["str"]
        full = pods["kubeloop"][-1].get("deep_parts", {}).get("metadata.managedFields", 0.0)
        po = mem["per_object"]["pods"]
        L += [
            "",
            "What is left, and why like for like stays above client-go: interning took the repeated "
            f"strings and integers (a Pod's {strings / 1000:.1f} kB of strings are {types['str'] / 1000:.1f} "
            "kB), and the slim managedFields lists are shared; of a Pod's "
            f"{slim_pod['deep'] / n_last:,.0f} bytes at the operator's defaults, {types['dict']:,.0f} are "
            "dicts: one Python dict per JSON object (64 bytes empty, 184 up to five keys, 272 up to eight), "
            "where client-go's typed structs hold fields inline. Cutting them means holding fewer dicts: "
            "sharing equal sub-objects among cached objects (a ReplicaSet's Pods have equal containers, "
            "owner references, tolerations), which would let a reconcile that wrongly changes a cached "
            "object in place change its siblings too; or a compact form for cold objects (their JSON "
            "bytes, decoded on each read, as controller-runtime copies on each read), which costs a decode "
            "per read. Neither is done. Full managedFields stay dicts (`fieldsV1`: "
            f"{full / 1000:.0f} kB of dicts per Pod here; client-go keeps it as raw JSON bytes), hence "
            f"{po['kubeloop'] / po['client-go']:.1f}× unstripped.",
        ]
    cpu_rows = [
        (kind, c, mem["runs"][kind][c][-1]["event_cpu"])
        for kind in ("configmaps", "pods")
        for c in ("kubeloop", SLIM)
        if "event_cpu" in mem["runs"][kind].get(c, [{}])[-1]
    ]
    if cpu_rows:
        L += [
            "",
            "What interning costs: CPU µs per object of what the informer does to every listed object and "
            "every watch event's object before storing it, over the wire form of 500 of the cached objects "
            "(best of 7 passes; the intern table filled as in steady state). *sync CPU s* above is the "
            "whole initial list's (HTTP, decode, transform, intern, store), one run each.",
            "",
            "| kind | contender | decode (orjson) µs | transform µs | intern µs | intern ÷ decode |",
            "|---|---|---|---|---|---|",
        ]
        for kind, c, e in cpu_rows:
            transform = f"{e['transform_us']:.1f}" if transform_of(c) else "– (none)"
            L.append(
                f"| {kind} | {c} | {e['decode_us']:.1f} | {transform} | {e['intern_us']:.1f} "
                f"| {e['intern_us'] / e['decode_us']:.1f}× |"
            )
    if res.get("tracemalloc"):
        L += [
            "",
            f"tracemalloc, top allocation sites with {n_last:,} Pods cached (no strip):",
            "",
            "| MiB | blocks | allocated at (innermost first) |",
            "|---|---|---|",
        ]
        for t in res["tracemalloc"]:
            L.append(
                f"| {t['size'] / 2**20:.1f} | {t['count']:,} | "
                + " ← ".join(f"`{w}`" for w in t["where"])
                + " |"
            )
    return [*L, "", "![memory per object](runtime_memory.png)"]


def where_the_bytes_go(mem: dict[str, Any], n_last: int) -> list[str]:
    """Deep size of the cached Python objects, by type and by part, per contender that measured it."""
    rows = [
        (kind, c, mem["runs"][kind][c][-1])
        for kind in ("configmaps", "pods")
        for c in MEMORY_CONTENDERS
        if "deep" in mem["runs"][kind].get(c, [{}])[-1] and not c.startswith("client-go")
    ]
    if not rows:
        return []
    L = [
        "",
        "Where kubeloop's bytes go: the cached Python objects themselves (deep `sys.getsizeof` over every "
        "dict, list, str and int reachable from the stored objects, each counted once however many objects "
        f"share it), bytes per object at N={n_last:,}; the rest of the RSS slope is the store's keys "
        "and indexes, the allocator's rounding and memory freed after the list but not returned to the OS. "
        "By type of Python object, and by part of the object (what objects share within a part counted "
        "once; the top-level dict in no part):",
        "",
        "| kind | contender | total | " + " | ".join(TYPES) + " | " + " | ".join(PARTS) + " |",
        "|---|---|---|" + "---|" * (len(TYPES) + len(PARTS)),
    ]
    for kind, c, r in rows:
        types, parts = r.get("deep_types") or {}, r.get("deep_parts") or {}
        L.append(
            f"| {kind} | {c} | {r['deep'] / n_last:,.0f} | "
            + " | ".join(f"{types[x]:,.0f}" if x in types else "–" for x in TYPES)
            + " | "
            + " | ".join(f"{parts[x]:,.0f}" if x in parts else "–" for x in PARTS)
            + " |"
        )
    return L


def plot(res: dict[str, Any], a: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mem = res["memory"]
    contenders = [c for c in MEMORY_CONTENDERS if c in mem["runs"]["pods"]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colors = {
        "kubeloop": "#1f77b4",
        "kubeloop (strip)": "#6baed6",
        SLIM: "#2ca02c",
        NOT_INTERNED: "#98df8a",
        "kubeloop" + BEFORE: "#9e9ac8",
        SLIM + BEFORE: "#bcbd22",
        "client-go": "#d62728",
        "client-go (strip)": "#fc9272",
    }
    for ax, kind in zip(axes[:2], ("configmaps", "pods"), strict=True):
        for c in contenders:
            rs = mem["runs"][kind][c]
            ax.plot(
                [r["n"] for r in rs], [r["rss"] / 2**20 for r in rs], marker="o", label=c, color=colors[c]
            )
        ax.set_title(f"RSS with an informer over N {kind}")
        ax.set_xlabel("N")
        ax.set_ylabel("RSS MiB")
        ax.grid(alpha=0.3)
        ax.legend()
    ax = axes[2]
    width = 0.8 / len(contenders)
    for j, c in enumerate(contenders):
        vals = [mem["per_object"][k][c] for k in ("configmaps", "pods")]
        bars = ax.bar(
            [x + (j - (len(contenders) - 1) / 2) * width for x in range(2)],
            vals,
            width,
            label=c,
            color=colors[c],
        )
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(2), ["ConfigMap", "Pod"])
    ax.set_ylabel("bytes of RSS per cached object")
    ax.set_title("Cache memory per object (slope)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ------------------------------------------------------------------------------------------------ main


def build_go() -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(GO_BIN), "."], cwd=HERE / "goinformer", check=True)
    return subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--phases", default="operators,memory,profile")
    p.add_argument("--operators", default=",".join(OPERATORS))
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--latency-objects", type=int, default=500)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--memory-ns", default="0,1000,5000,10000")
    p.add_argument("--memory-repeats", type=int, default=2)
    p.add_argument(
        "--before-src",
        type=Path,
        help="kubeloop before the change measured (a directory with its src/, named after its commit: "
        "git archive COMMIT src | tar -x -C DIR): adds the memory contenders '…, before'",
    )
    p.add_argument("--out", type=Path)
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render the page from a results file of an earlier run (no measuring)",
    )
    p.add_argument("--profile-file", type=Path, help="with --render: the cProfile dump of that run")
    p.add_argument(
        "--splice",
        action="store_true",
        help="with --phases memory: replace only the memory goals and section of the page at --out",
    )
    a = p.parse_args()
    if a.quick:
        a.objects, a.latency_objects, a.memory_ns, a.memory_repeats = 1000, 100, "0,500,1000", 1
    a.memory_ns = [int(x) for x in a.memory_ns.split(",")]
    if a.out is None and not a.quick:
        a.out = ROOT / "docs" / "benchmarks" / "runtime.md"
    phases = set(a.phases.split(","))
    if a.render:
        res = json.loads(a.render.read_text())
        if a.profile_file:
            res["profile"] = profile_summary(a.profile_file)
            res["profile_groups"] = profile_groups(a.profile_file)
        write(res, a)
        return

    res: dict[str, Any] = {
        "env": {
            "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "python": platform.python_version(),
            "kubeloop": version("kubeloop"),
            "kopf": version("kopf"),
        }
    }
    res["env"]["go"] = build_go()
    res["env"]["load_before"] = os.getloadavg()
    with ControlPlane() as plane:
        pids = [pid for name, pid in plane.pids.items() if name in ("etcd", "kube-apiserver")]
        print(f"control plane {plane.server}", flush=True)
        if "operators" in phases:
            res["operators"] = {}
            for name in a.operators.split(","):
                try:
                    r = asyncio.run(run_operator(name, plane.kubeconfig, pids, a))
                except Exception as exc:  # a contender that fails is reported, not fatal
                    r = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
                res["operators"][name] = r
                print(f"  {name}: {json.dumps(r)[:600]}", flush=True)

            async def seed_baseline() -> None:
                async with await Client.load(plane.kubeconfig, settings=settings()) as c:
                    await ensure(c, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rt-go"}})
                    await concurrently(
                        a.objects, lambda i: c.create(configmap(f"cm-{i:05d}", "rt-go", "seed"))
                    )

            asyncio.run(seed_baseline())
            res["go_sync"] = go_sync_baseline(plane.kubeconfig, "rt-go")
        if "profile" in phases:
            prof_dir = Path(tempfile.mkdtemp(prefix="rt-prof-"))
            asyncio.run(
                run_operator("kubeloop", plane.kubeconfig, pids, a, ("cprofile", prof_dir / "ours.prof"))
            )
            res["profile"] = profile_summary(prof_dir / "ours.prof")
            res["profile_groups"] = profile_groups(prof_dir / "ours.prof")
            res["profile_path"] = str(prof_dir / "ours.prof")
            if importlib.util.find_spec("pyinstrument") is not None:  # optional: pip install pyinstrument
                asyncio.run(
                    run_operator(
                        "kubeloop", plane.kubeconfig, pids, a, ("pyinstrument", prof_dir / "ours.txt")
                    )
                )
                res["pyinstrument"] = (prof_dir / "ours.txt").read_text().splitlines()
            print(f"  profiles in {prof_dir}", flush=True)
        if "memory" in phases:
            res["memory"] = run_memory(plane.kubeconfig, a)
            res["tracemalloc"] = memory_evidence(plane.kubeconfig, a).get("tracemalloc")
    res["env"]["load_after"] = os.getloadavg()
    (HERE / "last_results.json").write_text(json.dumps(res, indent=1))
    write(res, a)


MEMORY_GOAL = "- **Memory per cached"
MEMORY_HEADING = "## Cache memory per object"


def splice(old: str, new: str) -> str:
    """``old`` (the page of a full run) with the memory goals and the memory section of ``new`` (a run
    of the memory phase alone); the rest of ``old`` as it was."""

    def section(lines: list[str]) -> tuple[int, int]:
        start = lines.index(MEMORY_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return start, end

    old_lines, new_lines = old.splitlines(), new.splitlines()
    start, end = section(new_lines)
    memory = new_lines[start:end]
    start, end = section(old_lines)
    old_lines[start:end] = memory
    goals = [ln for ln in new_lines if ln.startswith(MEMORY_GOAL)]
    at = [i for i, ln in enumerate(old_lines) if ln.startswith(MEMORY_GOAL)]
    old_lines[at[0] : at[-1] + 1] = goals
    return "\n".join(old_lines) + "\n"


SUMMARY = re.compile(r"<!-- memory:begin -->.*?<!-- memory:end -->", re.S)


def memory_summary(mem: dict[str, Any], ns: list[int]) -> str:
    """docs/benchmarks.md's section: bytes per cached object against client-go, defaults and like for like."""

    def cell(kind: str, c: str) -> str:
        po = mem["per_object"][kind]
        return f"{po[c]:,.0f} ({po[c] / po[reference_of(c)]:.2f}×)" if c in po else "–"

    rows = [
        f"| {kind} | {cell(kind, SLIM)} | {cell(kind, SLIM + BEFORE)} "
        f"| {mem['per_object'][kind]['client-go']:,.0f} | {cell(kind, 'kubeloop')} "
        f"| {cell(kind, 'kubeloop (strip)')} |"
        for kind in ("configmaps", "pods")
    ]
    load = (
        ", load average {} at its start, {} at its end".format(*(f"{x[0]:.1f}" for x in mem["load"]))
        if "load" in mem
        else ""
    )
    return "\n".join(
        [
            "<!-- memory:begin -->",
            "## Cache memory: kubeloop vs client-go",
            "",
            f"From `bench/runtime/run.py --phases memory` ({mem.get('when', 'no date')}{load}): RSS bytes "
            f"per cached object (slope over {ns[0]:,} to {ns[-1]:,} objects), ÷ client-go's at its defaults "
            "in brackets (the stripped column: ÷ client-go's stripped). "
            "*Defaults*: a `kl.Operator`'s cache (slim managedFields, values interned) against a client-go "
            "informer (full managedFields), not like for like; *full* and *stripped*: both informers "
            "keeping, or both dropping, managedFields, like for like. Tables, method and where the bytes go: "
            "[benchmarks/runtime.md](benchmarks/runtime.md#cache-memory-per-object).",
            "",
            "| kind | kubeloop defaults | kubeloop defaults, before interning | client-go defaults "
            "| kubeloop full (like for like) | kubeloop stripped (like for like) |",
            "|---|---|---|---|---|---|",
            *rows,
            "<!-- memory:end -->",
        ]
    )


def write_summary(path: Path, section: str) -> None:
    text = path.read_text()
    if SUMMARY.search(text):
        text = SUMMARY.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def write(res: dict[str, Any], a: argparse.Namespace) -> None:
    text = report(res, a).replace(str(ROOT) + "/", "")
    if a.splice:
        text = splice(a.out.read_text(), text)
    print(text)
    if a.out and a.out.exists():
        text = carried(a.out.read_text(), text)  # overhead.py's section is measured on its own
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
        if res.get("memory"):
            plot(res, a, a.out.with_name("runtime_memory.png"))
            summary = a.out.parent.parent / "benchmarks.md"
            if summary.exists():
                write_summary(summary, memory_summary(res["memory"], a.memory_ns))
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
