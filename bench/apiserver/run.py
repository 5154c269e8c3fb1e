"""The embedded API server (``kubeloop.apiserver``) against the real control plane (etcd + kube-apiserver
via ``kubeloop.testing.ControlPlane``), measured in the same run on the same machine.

Run: ``.venv/bin/python bench/apiserver/run.py [--quick] [--out docs/benchmarks/apiserver.md]``.

- start-to-ready: the embedded server as a new process (``python -m kubeloop.apiserver``: interpreter,
  imports, certificates, SQLite, until ``/readyz`` answers) and in a warm process
  (``await EmbeddedServer().start()``); the real one from ``ControlPlane.start()`` until kube-apiserver's
  ``/readyz`` is ok (binaries cached, etcd started fresh).
- throughput, the same client (``kubeloop.client.Client``, no client-side rate limit) and concurrency on
  both: create, get, update (PUT), merge patch, server-side apply (forced, one manager), list (pages
  of 500), delete, watch (events delivered to concurrent watchers while objects
  are created); both servers run in their own processes, with their data on disk (the embedded one as
  ``kubeloop dev --data``: SQLite WAL, ``synchronous=NORMAL``; etcd as the test control plane runs it,
  ``--unsafe-no-fsync``), so neither fsyncs per write.
- memory: resident set (VmRSS) and peak (VmHWM) of the server processes after the workload
  (kube-apiserver + etcd summed), and their CPU time per phase.

Raw results go to ``bench/apiserver/last_results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions
from kubeloop.testing.versions import ETCD_VERSION, KUBERNETES_VERSION

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- process measurements ------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# One context for every poll: ssl.create_default_context() loads the system's CA bundle (27 ms of CPU
# each time), and a poll every 5 ms that made its own took most of a core from the server it waited for.
_POLL_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_POLL_TLS.check_hostname = False
_POLL_TLS.verify_mode = ssl.CERT_NONE


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", context=_POLL_TLS, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class EmbeddedProcess:
    """``python -m kubeloop.apiserver --data DIR --port P`` as a child process."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.proc: subprocess.Popen[str] | None = None
        self.cpu_to_ready = 0.0
        """The process's CPU seconds (user + system) until ``/readyz`` answered: what the start costs
        whatever else the machine is running."""

    def start(self) -> float:
        """Start it; seconds from spawn until ``/readyz`` answers."""
        # With bytecode caches, as any install has after its first run (pip writes them; this machine's
        # environment sets PYTHONDONTWRITEBYTECODE=1, which makes every start compile kubeloop again).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubeloop.apiserver", "--data", str(self.data), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        url = f"https://127.0.0.1:{self.port}"
        while not ready(url):
            if self.proc.poll() is not None:
                raise RuntimeError("the embedded server exited while starting")
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("the embedded server was not ready within 120 s")
            time.sleep(0.005)
        took = time.perf_counter() - t0
        self.cpu_to_ready = cpu_seconds([self.proc.pid])
        return took

    @property
    def kubeconfig(self) -> Path:
        return self.data / "kubeconfig"

    @property
    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


# -- start-to-ready ------------------------------------------------------------------------------------


async def start_embedded_in_process() -> float:
    t0 = time.perf_counter()
    server = EmbeddedServer()
    await server.start()
    took = time.perf_counter() - t0
    await server.stop()
    return took


# A new process's start in parts, CPU seconds (user + system) each: the interpreter until the script
# runs, the third-party modules the server needs, kubeloop's own modules, EmbeddedServer.start().
_BREAKDOWN = """
import json, resource, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
marks = [("python", cpu(), time.perf_counter())]
import asyncio, sqlite3, yaml, aiohttp.web, cryptography.x509
marks.append(("asyncio, aiohttp, cryptography, yaml, sqlite3", cpu(), time.perf_counter()))
from kubeloop.apiserver import EmbeddedServer
marks.append(("kubeloop's modules", cpu(), time.perf_counter()))
import sys, tempfile
from pathlib import Path
async def main():
    server = EmbeddedServer(Path(sys.argv[1]), port=None)
    await server.start()
    marks.append(("EmbeddedServer.start()", cpu(), time.perf_counter()))
    await server.stop()
asyncio.run(main())
out, prev = {}, (0.0, None)
for name, c, t in marks:
    out[name] = c - prev[0]
    prev = (c, t)
print(json.dumps(out))
"""


def start_breakdown(runs: int) -> dict[str, list[float]]:
    """CPU seconds of each part of a new process's start (``_BREAKDOWN``), ``runs`` times."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out: dict[str, list[float]] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            done = subprocess.run(
                [sys.executable, "-c", _BREAKDOWN, d], capture_output=True, text=True, env=env, check=True
            )
        for name, value in json.loads(done.stdout.splitlines()[-1]).items():
            out.setdefault(name, []).append(value)
    return out


def start_times(runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "embedded (new process)": [],
        "embedded (warm process)": [],
        "real": [],
        "embedded (new process) CPU": [],
        "load": [],
    }
    asyncio.run(start_embedded_in_process())  # imports and bundled documents loaded once
    with tempfile.TemporaryDirectory() as d:  # one start to write the bytecode caches
        first = EmbeddedProcess(Path(d))
        first.start()
        first.stop()
    for _ in range(runs):
        out["load"].append(os.getloadavg()[0])
        with tempfile.TemporaryDirectory() as d:
            emb = EmbeddedProcess(Path(d))
            out["embedded (new process)"].append(emb.start())
            out["embedded (new process) CPU"].append(emb.cpu_to_ready)
            emb.stop()
        out["embedded (warm process)"].append(asyncio.run(start_embedded_in_process()))
        plane = ControlPlane(ControlPlaneOptions())
        t0 = time.perf_counter()
        plane.start()
        out["real"].append(time.perf_counter() - t0)
        plane.stop()
    return out


# -- throughput ----------------------------------------------------------------------------------------


def configmap(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": "apiserver"}},
        "data": {"key": "value " * 20, "name": name},
    }


async def bounded(n: int, concurrency: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Run ``op(0..n-1)`` with ``concurrency`` in flight; seconds taken."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await op(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


async def workload(
    kubeconfig: Path, pids: list[int], n: int, concurrency: int, rounds: int, watchers: int, events: int
) -> dict[str, Any]:
    res: dict[str, Any] = {}
    settings = ClientSettings(qps=None)
    async with await Client.load(kubeconfig, settings=settings) as api:
        for ns in ("bench", "bench-watch"):
            await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await bounded(100, concurrency, lambda i: api.create(configmap(f"warm-{i}", "default")))

        def phase(name: str, ops: int, seconds: float, cpu0: float) -> None:
            res[name] = {
                "ops": ops,
                "seconds": seconds,
                "per_s": ops / seconds,
                "server_cpu": cpu_seconds(pids) - cpu0,
            }
            print(
                f"  {name}: {ops / seconds:,.0f}/s ({seconds:.2f} s, "
                f"server CPU {res[name]['server_cpu']:.2f} s)"
            )

        cpu0 = cpu_seconds(pids)
        took = await bounded(n, concurrency, lambda i: api.create(configmap(f"cm-{i}", "bench")))
        phase("create", n, took, cpu0)

        cpu0 = cpu_seconds(pids)
        took = await bounded(
            n, concurrency, lambda i: api.get("v1/ConfigMap", f"cm-{(i * 7919) % n}", namespace="bench")
        )
        phase("get", n, took, cpu0)

        def changed(i: int, what: str) -> dict[str, Any]:
            cm = configmap(f"cm-{i}", "bench")
            cm["data"]["name"] = f"{what}-{i}"
            return cm

        cpu0 = cpu_seconds(pids)
        took = await bounded(n, concurrency, lambda i: api.replace(changed(i, "updated")))
        phase("update", n, took, cpu0)

        cpu0 = cpu_seconds(pids)
        took = await bounded(
            n,
            concurrency,
            lambda i: api.patch("v1/ConfigMap", f"cm-{i}", {"data": {"patched": str(i)}}, namespace="bench"),
        )
        phase("patch", n, took, cpu0)

        cpu0 = cpu_seconds(pids)
        took = await bounded(
            n, concurrency, lambda i: api.apply(changed(i, "applied"), field_manager="bench", force=True)
        )
        phase("apply", n, took, cpu0)

        cpu0 = cpu_seconds(pids)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            count = 0
            async for _item in api.list_items(
                "v1/ConfigMap", namespace="bench", label_selector="bench=apiserver", page_size=500
            ):
                count += 1
            times.append(time.perf_counter() - t0)
            assert count == n, count
        took = statistics.median(times)
        phase("list", n, took, cpu0)
        res["list"]["note"] = f"items/s, median of {rounds} full lists"

        cpu0 = cpu_seconds(pids)
        took = await bounded(
            n, concurrency, lambda i: api.delete("v1/ConfigMap", f"cm-{i}", namespace="bench")
        )
        phase("delete", n, took, cpu0)

        start_rv = (await api.list("v1/ConfigMap", namespace="bench-watch", limit=1))["metadata"][
            "resourceVersion"
        ]
        got = [0] * watchers
        done = asyncio.Event()
        last = [0.0]

        async def watch(w: int) -> None:
            async for ev in api.watch("v1/ConfigMap", namespace="bench-watch", resource_version=start_rv):
                if ev.type == "ADDED":
                    got[w] += 1
                    if got[w] == events:
                        last[0] = max(last[0], time.perf_counter())
                        if all(g == events for g in got):
                            done.set()
                        return

        tasks = [asyncio.create_task(watch(w)) for w in range(watchers)]
        await asyncio.sleep(1.0)  # every watch is open
        cpu0 = cpu_seconds(pids)
        t0 = time.perf_counter()
        created = await bounded(events, concurrency, lambda i: api.create(configmap(f"w-{i}", "bench-watch")))
        await asyncio.wait_for(done.wait(), 120)
        await asyncio.gather(*tasks)
        took = last[0] - t0
        phase("watch", watchers * events, took, cpu0)
        res["watch"]["note"] = (
            f"events delivered/s: {watchers} watchers x {events} creates ({created:.2f} s to create them)"
        )
    mem = [proc_status(pid) for pid in pids]
    res["rss"] = sum(m["VmRSS"] for m in mem)
    res["hwm"] = sum(m["VmHWM"] for m in mem)
    print(f"  RSS {res['rss'] / 2**20:.0f} MiB (peak {res['hwm'] / 2**20:.0f} MiB)")
    return res


def run_embedded(args: argparse.Namespace) -> dict[str, Any]:
    print("embedded server (python -m kubeloop.apiserver --data DIR):")
    with tempfile.TemporaryDirectory() as d:
        emb = EmbeddedProcess(Path(d))
        emb.start()
        try:
            return asyncio.run(
                workload(
                    emb.kubeconfig,
                    emb.pids,
                    args.objects,
                    args.concurrency,
                    args.rounds,
                    args.watchers,
                    args.events,
                )
            )
        finally:
            emb.stop()


def run_real(args: argparse.Namespace) -> dict[str, Any]:
    print("real control plane (etcd + kube-apiserver):")
    with ControlPlane(ControlPlaneOptions()) as plane:
        pids = [pid for name, pid in plane.pids.items() if name in ("etcd", "kube-apiserver")]
        return asyncio.run(
            workload(
                plane.kubeconfig,
                pids,
                args.objects,
                args.concurrency,
                args.rounds,
                args.watchers,
                args.events,
            )
        )


# -- report --------------------------------------------------------------------------------------------


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    start = results["start"]
    emb, real = results["embedded"], results["real"]
    loads = start.pop("load", [])
    med = {k: statistics.median(v) for k, v in start.items()}
    lines = [
        "# Embedded API server vs the real control plane",
        "",
        f"`bench/apiserver/run.py`, one run on {results['machine']}; Kubernetes {KUBERNETES_VERSION} "
        f"(kube-apiserver + etcd {ETCD_VERSION}, `kubeloop.testing.ControlPlane`, binaries cached) and "
        "`kubeloop.apiserver` measured in the same run. Goals (issue 9): start under 1 s; within 2x of "
        "the real server on every verb (ratio embedded/real >= 0.5 for throughput).",
        "",
    ]
    load = results.get("load")
    if load:
        lines += [
            f"Load average (1, 5, 15 min) when the run began: {load}; when it ended: "
            f"{results.get('load_after', '?')} (on {os.cpu_count()} cores).",
            "",
        ]
    if load and float(load.split(" / ")[0]) > (os.cpu_count() or 1):
        lines += [
            f"**A loaded machine.** The load average was {load} (1, 5, 15 min) on {os.cpu_count()} cores "
            "when this run began (other sessions' tests and builds shared the cores): wall-clock figures "
            "(start to ready, requests per second) measure the CPU each process got more than the "
            "servers; the CPU seconds (the new process's until ready, the servers' per phase) are the "
            "figures to compare.",
            "",
        ]
    lines += [
        "## Start to ready",
        "",
        f"Median of {len(start['real'])} starts (min-max)"
        + (
            f"; the 1-minute load average was {min(loads):.1f}-{max(loads):.1f} at their starts."
            if loads
            else "."
        ),
        "",
        "| server | start to ready (s) | vs real | goal < 1 s |",
        "|---|---|---|---|",
    ]
    for name in ("embedded (new process)", "embedded (warm process)", "real"):
        values = start[name]
        ratio = med["real"] / med[name]
        goal = "met" if med[name] < 1 else "**missed**"
        lines.append(
            f"| {name} | {med[name]:.2f} ({min(values):.2f}-{max(values):.2f}) | "
            f"{'-' if name == 'real' else f'{ratio:.1f}x faster'} | {goal if name != 'real' else '-'} |"
        )
    lines += [
        "",
        "*new process*: `python -m kubeloop.apiserver --data DIR` spawned until `/readyz` answers (Python"
        " start, imports, CA and certificates, SQLite, bootstrap objects), with its bytecode caches"
        " written by a first start (as any install has them; without, each start compiles kubeloop's"
        " sources again); *warm process*:"
        " `await EmbeddedServer().start()` in a process that has already imported it once (what the"
        " pytest fixture costs); *real*:"
        " `ControlPlane.start()` (etcd + kube-apiserver until `/readyz` is ok).",
        "",
    ]
    cpu = start.get("embedded (new process) CPU")
    if cpu:
        lines += [
            f"The new process used {statistics.median(cpu):.2f} s of CPU (user + system, median; "
            f"{min(cpu):.2f}-{max(cpu):.2f}) until it was ready: the start's cost whatever else the "
            f"machine runs (the load average was {results.get('load', '?')} when the run began).",
            "",
        ]
    breakdown = results.get("breakdown")
    if breakdown:
        total = sum(statistics.median(v) for v in breakdown.values())
        lines += [
            "Where the new-process start goes, CPU seconds (median of "
            f"{len(next(iter(breakdown.values())))} processes, `start_breakdown`):",
            "",
            "| part | CPU (s) | share |",
            "|---|---|---|",
        ]
        for name, values in breakdown.items():
            value = statistics.median(values)
            lines.append(f"| {name} | {value:.3f} | {value / total:.0%} |")
        lines += [
            f"| **total** | {total:.3f} | |",
            "",
            "The third-party imports are the server's HTTP stack and certificates: aiohttp makes its two "
            "default SSL contexts at import (the system CA bundle loaded twice); kubeloop's modules "
            "include the client, cache and controller layers its built-in controllers run on (`cel` is "
            "imported on first use); `start()` makes the CA and certificates, opens SQLite, loads the "
            "bundled OpenAPI v2 and discovery (the v3 documents are decoded when first asked for) and "
            "writes the bootstrap namespaces, Service and RBAC policy.",
            "",
        ]
    lines += [
        "## Throughput, same client and concurrency",
        "",
        f"`kubeloop.client.Client` (no client-side rate limit), {args.concurrency} requests in flight, "
        f"{args.objects:,} ConfigMaps of ~200 bytes; the client runs in the benchmark process, each "
        "server in its own processes (the machine's cores are shared by client and server).",
        "",
        "| verb | embedded (/s) | real (/s) | embedded / real | goal >= 0.5 "
        "| server CPU s (embedded / real) |",
        "|---|---|---|---|---|---|",
    ]
    for verb, what in (
        ("create", "creates"),
        ("get", "gets"),
        ("update", "updates"),
        ("patch", "merge patches"),
        ("apply", "server-side applies"),
        ("list", "items listed"),
        ("delete", "deletes"),
        ("watch", "events delivered"),
    ):
        e, r = emb[verb]["per_s"], real[verb]["per_s"]
        ratio = e / r
        goal = "met" if ratio >= 0.5 else "**missed**"
        lines.append(
            f"| {verb} ({what}) | {e:,.0f} | {r:,.0f} | {ratio:.2f} | {goal} | "
            f"{emb[verb]['server_cpu']:.2f} / {real[verb]['server_cpu']:.2f} |"
        )
    lines += [
        "",
        "update: a PUT of each ConfigMap with one value changed (no resourceVersion); patch: a merge "
        "patch adding a key; apply: server-side apply of the whole ConfigMap by one field manager "
        "(forced; the first apply takes the fields the updates owned); delete: each ConfigMap, after the "
        f"lists. list: median of {args.rounds} full lists in pages of 500. watch: {args.watchers} watches "
        f"of one namespace open while {args.events:,} ConfigMaps are created ({args.concurrency} in flight); "
        "from the first create to the last event received by every watcher.",
        "",
        "## Memory",
        "",
        "| server | RSS after the workload (MiB) | peak RSS (MiB) |",
        "|---|---|---|",
        f"| embedded (one Python process) | {emb['rss'] / 2**20:.0f} | {emb['hwm'] / 2**20:.0f} |",
        f"| real (kube-apiserver + etcd) | {real['rss'] / 2**20:.0f} | {real['hwm'] / 2**20:.0f} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes; print only")
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5, help="start-to-ready runs per server")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/apiserver.md")
    parser.add_argument("--render", type=Path, help="re-render a results JSON only")
    args = parser.parse_args()
    if args.quick:
        args.objects, args.rounds, args.watchers, args.events, args.runs = 500, 2, 5, 200, 2
    if args.render:
        results = json.loads(args.render.read_text())
        args.__dict__.update(results["args"])
    else:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())  # 1, 5, 15 minutes
        print("start to ready...")
        start = start_times(args.runs)
        for name, values in start.items():
            print(f"  {name}: median {statistics.median(values):.2f} s")
        breakdown = start_breakdown(args.runs)
        for name, values in breakdown.items():
            print(f"  {name}: median {statistics.median(values):.3f} s CPU")
        results = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "load": load,
            "args": {
                k: v
                for k, v in vars(args).items()
                if k in ("objects", "concurrency", "rounds", "watchers", "events")
            },
            "start": start,
            "breakdown": breakdown,
            "embedded": run_embedded(args),
            "real": run_real(args),
        }
        results["load_after"] = " / ".join(f"{v:.1f}" for v in os.getloadavg())
        (HERE / "last_results.json").write_text(json.dumps(results, indent=2))
    text = render(results, args)
    print(text)
    if not args.quick:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
