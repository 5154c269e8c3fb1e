"""Sharding benchmark (issue 17): the AppService operator whose reconcile first waits 50 ms on an
"external call", run as 1 (unsharded), 1, 2 and 4 sharded replicas (separate processes) over the same
AppServices on a control plane of its own. Per configuration: the time to converge from a standing
start, then after every app's image changed (throughput), each replica's RSS, the requests the
replicas sent (their ``rest_client_requests_total``), and, with 2 replicas or more, after a SIGKILL of
a replica not running the sharder: when a live replica adopted its shard (its log), when each of its
apps had started a reconcile there (every replica's records, ``$KUBELOOP_RECORD``) and when all were
relabelled. ``floor``: the RSS of one idle replica with no apps, which sharding cannot divide.

    .venv/bin/python bench/sharding/run.py [--apps 1000] [--configs floor,single,1,2,4]
        [--results FILE] [--logs DIR]
    .venv/bin/python bench/sharding/run.py --render FILE [--out docs/benchmarks] [--note TEXT]

Each result is printed and appended to ``--results`` as a JSON line, so the configurations can run in
parts (each on a control plane of its own, e.g. under a benchmark lock held at most so long); the
page (docs/benchmarks/sharding.md, its table, and sharding.png) is written from such a file by
``--render``. Needs the bench extra (matplotlib, psutil) and the cached control-plane binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
from yarl import URL

import kubeloop
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, wait_for_crds
from kubeloop.testing.replicas import Replica, adoption, first_starts

sys.path.insert(0, str(Path(__file__).parents[1] / "operator"))

from watching import Watch  # bench/operator's watch of one namespace

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "appservice"
APPS = "appservices.app.example.com"
NAME = "appservice-operator"
SHARD = f"shard.kubeloop.io/{NAME}"
LEASE = {"lease_duration": 6.0, "renew_deadline": 4.0, "retry_period": 1.0}
NODE_PORTS = "30000-44999"
"""The NodePort range: each app's Service takes a port, 10,000 apps in a configuration (the default
range, 2,768 ports, refuses the rest; they retry and hold the replicas back)."""


PROBE: dict[str, str] = {}
"""With ``--probe``: the replicas run ``memory_probe`` (the recorded operator, reporting its memory by
part when signalled) with this environment added (``KUBELOOP_MEMORY_PROBE``, ``--env``)."""


def recorded_replica(
    identity: str, kubeconfig: Path, namespace: str, directory: Path, sharded: bool, src: str | None = None
) -> Replica:
    """One replica of the recorded AppService operator (reconciles wait 50 ms and are recorded), with
    ``--shards auto`` if ``sharded``; ``src``: the kubeloop sources it imports, if not the ones this
    process runs (those, and not the venv's, as when this checkout is not the one installed)."""
    args = [
        *(f"--{k.replace('_', '-')}={v}" for k, v in LEASE.items()),
        *(["--shards", "auto"] if sharded else []),
    ]
    src = src or str(Path(kubeloop.__file__).parents[1])
    path = [src, str(EXAMPLE / "src"), str(ROOT / "tests" / "e2e"), str(Path(__file__).parent)]
    env = {
        "PYTHONPATH": os.pathsep.join(path),
        "KUBELOOP_RECORD_DELAY": "0.05",
        "KUBELOOP_RECORD": str(directory / f"{identity}.jsonl"),
        **PROBE,
    }
    target = "memory_probe:operator" if "KUBELOOP_MEMORY_PROBE" in PROBE else "recorded_operator:operator"
    return Replica(identity, target, kubeconfig, namespace, directory, args, env)


async def probe(fleet: list[Replica], label: str) -> dict[str, Any]:
    """Each replica's memory by part (``memory_probe``, SIGUSR2: as is, then after gc and
    malloc_trim), written to the probe directory as ``<label>-<identity>.json``; a summary returned."""
    out = Path(PROBE["KUBELOOP_MEMORY_PROBE"])
    summary: dict[str, Any] = {}
    for replica in fleet:
        done = out / f"{replica.identity}-probe.done"
        done.unlink(missing_ok=True)
        assert replica.proc.pid is not None
        os.kill(replica.proc.pid, signal.SIGUSR2)
        await wait(lambda done=done: asyncio.sleep(0, done.exists()), "probe", within=300)
        report = out / f"{replica.identity}-probe.json"
        kept = out / f"{label}-{replica.identity}.json"
        report.rename(kept)
        first, trimmed = json.loads(kept.read_text())
        summary[replica.identity] = {
            "rss": first["status"]["VmRSS"],
            "hwm": first["status"]["VmHWM"],
            "rss_trimmed": trimmed["status"]["VmRSS"],
            "malloc_free": first["mallinfo"]["fordblks"],
            "pymalloc_free": first["pymalloc"]["free_blocks"] + first["pymalloc"]["empty_pools"],
            "stores": sum(
                i["store"] + i["indexes"] + i["own_writes_mib"] + i["interner"]
                for i in first["parts"]["informers"].values()
            ),
        }
    return summary


def assignments(fleet: list[Replica]) -> dict[str, Any]:
    """From the sharder's log lines: the apps first assigned to each replica, and the moves from it."""
    first: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    for replica in fleet:
        for m in re.finditer(r"assigned to (\S+?)(?: \(from (\S+)\))?$", replica.proc.output(), re.M):
            if m.group(2):
                moved[m.group(2)] += 1
            else:
                first[m.group(1)] += 1
    return {"first": dict(first), "moved_from": dict(moved)}


async def converged(api: Client, namespace: str, image: str, count: int) -> bool:
    """Whether ``count`` Deployments of ``namespace`` run ``image``, by listing them all (failover.py,
    1,000 apps; the configurations follow a watch instead: listing 10,000 every half second would
    load the server they measure)."""
    found = 0
    async for d in api.list_items("deployments.apps", namespace=namespace):
        found += image_is(image)(d)
    return found == count


def image_is(image: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a Deployment runs ``image``."""
    return lambda d: bool(d["spec"]["template"]["spec"]["containers"][0]["image"] == image)


async def wait(check: Any, what: str, within: float = 1800.0, every: float = 0.5) -> float:
    """Seconds until ``await check()`` holds, asked every ``every`` seconds; TimeoutError after ``within``."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > within:
            raise TimeoutError(what)
        await asyncio.sleep(every)
    return time.monotonic() - began


async def owners(api: Client, namespace: str) -> dict[str, str | None]:
    return {
        o["metadata"]["name"]: (o["metadata"].get("labels") or {}).get(SHARD)
        async for o in api.list_items(APPS, namespace=namespace)
    }


async def gather_limited(calls: list[Any], limit: int = 32) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Any) -> None:
        async with semaphore:
            await call

    await asyncio.gather(*(one(c) for c in calls))


async def create_apps(api: Client, namespace: str, names: list[str]) -> None:
    """Create an AppService of size 0 (no pods) for each name, 32 at a time."""
    spec = {"size": 0, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 80}]}
    await gather_limited(
        [
            api.create(
                {
                    "apiVersion": "app.example.com/v1",
                    "kind": "AppService",
                    "metadata": {"name": n, "namespace": namespace},
                    "spec": spec,
                }
            )
            for n in names
        ]
    )


async def clean(api: Client, kubectl: Kubectl, namespace: str) -> None:
    """Delete what a configuration made in ``namespace``, then the namespace: its objects one by one,
    as this control plane runs no controller manager (no namespace controller, no garbage collector),
    and its NodePort Services hold ports of the one range every configuration allocates from."""
    for kind in (APPS, "deployments.apps", "services"):
        names = [o["metadata"]["name"] async for o in api.list_items(kind, namespace=namespace)]
        await gather_limited([api.delete(kind, n, namespace=namespace) for n in names])
    kubectl("delete", "namespace", namespace, "--wait=false")


async def floor(api: Client, kubectl: Kubectl, kubeconfig: Path, server: str, work: Path) -> dict[str, Any]:
    """The idle floor: one sharded replica with no apps (interpreter, libraries, empty caches, its
    Leases), once ready and 10 s later: the part of a replica's memory that sharding cannot divide."""
    namespace = "bench-floor"
    kubectl("create", "namespace", namespace)
    directory = work / namespace
    directory.mkdir(exist_ok=True)
    idle = recorded_replica("r1", kubeconfig, namespace, directory, True)
    try:
        idle.start()
        await idle.wait_ready(within=300)
        await asyncio.sleep(10)
        samples = []
        for _ in range(3):
            samples.append(idle.rss() / 2**20)
            await asyncio.sleep(1)
        assert idle.proc.pid is not None
        connections = connections_to(idle.proc.pid, server)
        return {"floor": True, "rss_mib": [sorted(samples)[1]], "connections": [connections]}
    finally:
        idle.stop()
        await clean(api, kubectl, namespace)


async def server_limit(api: Client, plane: ControlPlane, count: int) -> dict[str, Any]:
    """The control plane's own limit for the reconciles' writes: ``count`` apps' children (a
    Deployment and a Service each, as the reconcile applies them) applied by one client with no QPS
    limit, 32 at a time, after an image change (the Deployment changes, the Service does not): apps
    per second, and the CPU this client and the control plane used (cores). No replica runs meanwhile."""
    namespace, kubectl = "bench-limit", Kubectl(plane.kubeconfig)
    kubectl("create", "namespace", namespace)

    def children(name: str, image: str) -> list[dict[str, Any]]:
        labels = {"app.kubernetes.io/name": name}
        container = {"name": "app", "image": image, "ports": [{"containerPort": 80}]}
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"type": "NodePort", "selector": labels, "ports": [{"port": 80, "targetPort": 80}]},
            },
        ]

    names = [f"limit-{i}" for i in range(count)]
    manager = "bench-limit"
    try:
        await gather_limited(
            [
                api.apply(c, field_manager=manager, force=True)
                for n in names
                for c in children(n, "nginx:1.27")
            ]
        )
        cpu_before = cpu_seconds([os.getpid()]), cpu_seconds(list(plane.pids.values()))
        began = time.monotonic()
        await gather_limited(
            [
                api.apply(c, field_manager=manager, force=True)
                for n in names
                for c in children(n, "nginx:1.28")
            ]
        )
        took = time.monotonic() - began
        cpu = (
            cpu_seconds([os.getpid()]) - cpu_before[0],
            cpu_seconds(list(plane.pids.values())) - cpu_before[1],
        )
    finally:
        await clean(api, kubectl, namespace)
    cores = {"client": cpu[0] / took, "control_plane": cpu[1] / took}
    return {
        "limit": True,
        "apps": count,
        "apps_per_s": count / took,
        "requests_per_s": 2 * count / took,
        "cores": cores,
    }


def connections_to(pid: int, server: str) -> int:
    """TCP connections the process ``pid`` holds open to ``server``'s port (its clients' pools: each
    TLS connection costs it its read buffer in asyncio's SSL layer, 64 KiB since kubeloop's pool
    lowered it from 256, and OpenSSL's state on top)."""
    return len(local_ports(pid, server))


def local_ports(pid: int, server: str) -> set[int]:
    """The local ports of the process ``pid``'s established TCP connections to ``server`` (none once
    it is gone): one per connection, a new one for each connection opened."""
    port = URL(server).port
    try:
        found = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    return {
        c.laddr.port
        for c in found
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


async def opened_meanwhile(pids: list[int], server: str, seen: dict[int, set[int]]) -> None:
    """Add to ``seen`` each process's connections to ``server`` every second until cancelled: those
    opened in a span are the ones seen less those open at its start (a connection closes after 15 s
    idle, so few live less than a second)."""
    while True:
        for pid in pids:
            seen.setdefault(pid, set()).update(local_ports(pid, server))
        await asyncio.sleep(1.0)


def peak_rss(pid: int) -> int:
    """The high water of the process ``pid``'s resident set (VmHWM), in bytes."""
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) * 1024 if found else 0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of the processes ``pids`` so far (those gone count nothing)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def configuration(
    api: Client,
    plane: ControlPlane,
    apps: int,
    replicas: int,
    sharded: bool,
    work: Path,
    emit: Callable[[dict[str, Any]], None],
    last: bool = False,
    failover: bool = True,
) -> None:
    """``replicas`` replicas (``sharded`` or not) over ``apps`` apps: converged from a standing start,
    then after every image changed (with the CPU the replicas and the control plane used meanwhile:
    on 2 cores, where the machine is the limit), then a failover. The result is emitted before the
    apps are deleted (minutes at 10,000), so a run stopped by its time limit then keeps it; ``last``:
    not deleted at all (the control plane is stopped next, with everything on it); ``failover``:
    False to skip it (the memory rows alone)."""
    kubeconfig, kubectl = plane.kubeconfig, Kubectl(plane.kubeconfig)
    namespace = f"bench-{replicas}-{'sharded' if sharded else 'single'}-{apps}"
    kubectl("create", "namespace", namespace)
    directory = work / namespace
    directory.mkdir(exist_ok=True)
    names = [f"app-{i}" for i in range(apps)]
    await create_apps(api, namespace, names)
    fleet = [
        recorded_replica(f"r{i}", kubeconfig, namespace, directory, sharded) for i in range(1, replicas + 1)
    ]
    result: dict[str, Any] = {"replicas": replicas, "sharded": sharded, "apps": apps}
    result["load_before"] = os.getloadavg()[0]
    # Records and logs grow with the apps; reading them is the harness's work, not the replicas':
    # asked less often at 10,000 apps (the times come from their stamps, not from the asking).
    every = max(0.5, apps / 2000)
    async with Watch(api, namespace, kind="deployments.apps") as deployments:
        try:
            deployments.reset(image_is("nginx:1.27"))
            began = time.monotonic()
            for replica in fleet:
                replica.start()
            await asyncio.gather(*(r.wait_ready(within=300) for r in fleet))
            await deployments.until(lambda: len(deployments.synced) >= apps, 1800, "first converge")
            result["start_s"] = time.monotonic() - began
            result["converged_rss_mib"] = [r.rss() / 2**20 for r in fleet]
            result["converged_hwm_mib"] = [peak_rss(r.proc.pid or 0) / 2**20 for r in fleet]
            requests_before = sum(r.metric("rest_client_requests_total") for r in fleet)
            pids = [r.proc.pid for r in fleet if r.proc.pid is not None]
            each_before = [cpu_seconds([pid]) for pid in pids]
            plane_before = cpu_seconds(list(plane.pids.values()))
            open_before = {pid: local_ports(pid, plane.server) for pid in pids}
            seen: dict[int, set[int]] = {}
            sampling = asyncio.ensure_future(opened_meanwhile(pids, plane.server, seen))
            # Timed from the first image change: the replicas start on the apps changed first while the
            # rest are still being changed (timed from the last, 4 replicas' 1,000 apps took 6.9 s).
            deployments.reset(image_is("nginx:1.28"))
            changed = time.monotonic()
            await gather_limited(
                [api.patch(APPS, n, {"spec": {"image": "nginx:1.28"}}, namespace=namespace) for n in names]
            )
            await deployments.until(lambda: len(deployments.synced) >= apps, 1800, "update converge")
            result["update_s"] = time.monotonic() - changed
            result["throughput"] = apps / result["update_s"]
            each = [cpu_seconds([pid]) - before for pid, before in zip(pids, each_before, strict=True)]
            plane_used = cpu_seconds(list(plane.pids.values())) - plane_before
            sampling.cancel()
            result["cores_update"] = {
                "replicas": sum(each) / result["update_s"],
                "control_plane": plane_used / result["update_s"],
                "each": [used / result["update_s"] for used in each],
            }
            # Connections each replica opened in the update (each a TLS handshake on both sides).
            result["connections_opened_update"] = [
                len(seen.get(pid, set()) - open_before[pid]) for pid in pids
            ]
            result["requests_update"] = (
                sum(r.metric("rest_client_requests_total") for r in fleet) - requests_before
            )
            result["rss_mib"] = [r.rss() / 2**20 for r in fleet]
            result["hwm_mib"] = [peak_rss(pid) / 2**20 for pid in pids]
            result["connections"] = [connections_to(pid, plane.server) for pid in pids]
            if sharded:
                result["assignments"] = assignments(fleet)
            if "KUBELOOP_MEMORY_PROBE" in PROBE:
                result["probe"] = await probe(fleet, namespace)
            if sharded:
                lease = await api.get("leases.coordination.k8s.io", f"{NAME}-sharder", namespace=namespace)
                result["sharder"] = lease["spec"]["holderIdentity"]
            result["load_after"] = os.getloadavg()[0]
            if failover and sharded and replicas >= 2:
                # SIGKILL a replica that does not run the sharder (the sharder's own failover adds the
                # sharder's election and its first listing of every app; the e2e test covers that one).
                victim = next(r for r in reversed(fleet) if r.identity != result["sharder"])
                alive = [r for r in fleet if r is not victim]
                keys = {
                    f"{namespace}/{n}"
                    for n, o in (await owners(api, namespace)).items()
                    if o == victim.identity
                }
                offsets = {r.identity: r.log_size() for r in alive}
                victim.kill()
                killed = victim.killed_at or time.time()

                async def adopted() -> bool:
                    return adoption(alive, victim.identity, offsets) is not None

                await wait(adopted, "adopted", within=300, every=every)
                _, adopted_at = adoption(alive, victim.identity, offsets) or (0, 0.0)
                result["failover_apps"] = len(keys)
                result["failover_adopted_s"] = adopted_at - killed

                async with Watch(api, namespace) as labelled:
                    labelled.reset(
                        lambda o: (
                            (o["metadata"].get("labels") or {}).get(SHARD) not in (None, victim.identity)
                        )
                    )
                    await labelled.until(lambda: len(labelled.synced) >= apps, 1800, "reassigned")
                result["failover_s"] = time.time() - killed

                async def reconciled() -> bool:
                    return len(first_starts(alive, keys, killed)) == len(keys)

                await wait(reconciled, "each reconciled", within=1200, every=every)
                result["failover_reconciled_s"] = max(first_starts(alive, keys, killed).values()) - killed
        finally:
            for one in fleet:
                one.stop()
            # Leases a replica could not renew within the renew deadline (its controllers stopped and
            # restarted): none on a machine that keeps up; many where it is starved of CPU.
            result["leases_lost"] = sum(
                r.log.read_text(errors="replace").count("leadership lost") for r in fleet if r.log.exists()
            )
            if "rss_mib" in result:  # measured through the update at least
                emit(result)
            if not last:
                await clean(api, kubectl, namespace)


def label(r: dict[str, Any]) -> str:
    return f"{r['replicas']} sharded" if r["sharded"] else "1 (not sharded)"


def write(results: list[dict[str, Any]], out: Path, note: str) -> None:
    """docs/benchmarks/sharding.md's table and sharding.png from the results of every part (the last
    result of each configuration, and of the floor, counts); the sections measured on their own are kept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(r["apps"] for r in results if "sharded" in r)

    def kind(r: dict[str, Any]) -> Any:
        if r.get("floor") or r.get("limit"):
            return "floor" if r.get("floor") else "limit"
        return (r["replicas"], r["sharded"]) if r["apps"] == size else ("apps", r["apps"])

    def cores(r: dict[str, Any]) -> str:
        used = r.get("cores_update")
        return f"{used['replicas']:.2f} + {used['control_plane']:.2f}" if used else ""

    last = {kind(r): r for r in results}
    idle = last["floor"]["rss_mib"][0] if "floor" in last else 0.0
    limit = last.get("limit")
    base = last[(1, False)]
    runs = [
        last[k] for k in sorted(k for k in last if isinstance(k, tuple) and k[0] != "apps") if k != (1, False)
    ]
    held = sorted((r for k, r in last.items() if k == (1, False) or k[0] == "apps"), key=lambda r: r["apps"])
    sizes = [
        "One replica, not sharded, by the apps it holds (what a sharded replica's share would cost it"
        " alone; no sharder): apps, RSS, over the floor (MiB): "
        + "; ".join(f"{r['apps']}: {r['rss_mib'][0]:.0f}, {r['rss_mib'][0] - idle:.0f}" for r in held)
        + ".",
    ]
    runs = [base, *runs]
    apps = base["apps"]
    rows = [
        "| replicas | converge from start | converge after an update | throughput (apps/s) | x one replica "
        "(goal ≥ 0.8 x N; the server's limit) | RSS per replica (MiB) | over the floor (MiB) | "
        "largest over the floor / goal ≤ 1.2/N x one replica's | connections to the server per replica | "
        "requests for the update | "
        "failover: adopted / each reconciled / all relabelled | shard Leases lost | "
        "cores busy in the update: replicas + control plane | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        n = r["replicas"] if r["sharded"] else 1
        ratio = r["throughput"] / base["throughput"]
        rss = ", ".join(f"{m:.0f}" for m in r["rss_mib"])
        over = ", ".join(f"{m - idle:.0f}" for m in r["rss_mib"])
        conns = ", ".join(map(str, r.get("connections", [])))
        bound = 1.2 / n * (max(base["rss_mib"]) - idle)
        largest = max(r["rss_mib"]) - idle
        memory = (
            "" if r is base else f"{largest:.0f} / {bound:.0f}: {'met' if largest <= bound else 'missed'}"
        )
        goal = "" if r is base else f" ({'met' if ratio >= 0.8 * n else 'missed'})"
        if limit:
            goal += f"; {r['throughput'] / limit['apps_per_s']:.0%} of the limit"

        def seconds(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.1f} s" if key in r else "not measured"

        failover = (
            f"{seconds('failover_adopted_s')} / {seconds('failover_reconciled_s')} / {seconds('failover_s')} "
            f"({r['failover_apps']} apps)"
            if "failover_adopted_s" in r
            else ""
        )
        rows.append(
            f"| {label(r)} | {r['start_s']:.1f} s | {r['update_s']:.1f} s | {r['throughput']:.1f} | "
            f"{ratio:.2f}{goal} | {rss} | {over} | {memory} | {conns} | "
            f"{r['requests_update']:.0f} | {failover} | "
            f"{r.get('leases_lost', '')} | {cores(r)} | {r['load_before']:.1f} → {r['load_after']:.1f} |"
        )
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    # One unsharded replica at N = 1, where each goal line starts.
    sharded = [base, *(r for r in runs if r["sharded"])]
    counts = [r["replicas"] if r["sharded"] else 1 for r in sharded]
    left.plot(counts, [r["throughput"] for r in sharded], "o-", label="one replica, then N sharded")
    left.plot(counts, [base["throughput"] * c * 0.8 for c in counts], "--", label="0.8 x N x one replica")
    left.set(xlabel="replicas", ylabel="apps reconciled per second", title="throughput", xticks=counts)
    left.legend()
    right.plot(counts, [max(r["rss_mib"]) for r in sharded], "o-", label="largest replica (raw)")
    right.plot(
        counts, [max(r["rss_mib"]) - idle for r in sharded], "s-", label="largest replica - idle floor"
    )
    right.plot(
        counts,
        [(max(base["rss_mib"]) - idle) * 1.2 / c for c in counts],
        "--",
        label="1.2 / N x (one replica - floor)",
    )
    right.set(xlabel="replicas", ylabel="RSS (MiB)", title="memory per replica", xticks=counts)
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "sharding.png", dpi=100)
    page = [
        "# Sharding across replicas",
        "",
        f"`bench/sharding/run.py --apps {apps}`: the AppService operator (`tests/e2e/recorded_operator.py`:",
        "the shipped reconcile after a 50 ms wait, as an external call would take) as separate processes",
        "over the same AppServices on a control plane of its own (kube-apiserver and etcd; no pods: size 0).",
        f"On {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. {note}",
        "",
        *rows,
        "",
        "![throughput and memory per replica](sharding.png)",
        "",
        *(sizes if len(held) > 1 else []),
        *([""] if len(held) > 1 else []),
        "- *converge after an update*: every app's image changed at once, until every Deployment has it;",
        "  *throughput*: apps / that time."
        + (
            f" The control plane's own limit for these writes: {limit['apps_per_s']:.0f} apps/s"
            f" ({limit['requests_per_s']:.0f} applies/s: {limit['apps']} apps' Deployment and Service applied"
            " by one client, no QPS limit, 32 at a time, after an image change; no replica running"
            + (
                f"; {limit['cores']['client']:.2f} + {limit['cores']['control_plane']:.2f} cores busy:"
                " the client + the control plane"
                if "cores" in limit
                else ""
            )
            + ")."
            if limit
            else ""
        ),
        f"- *the floor*: one sharded replica with no apps, idle, {idle:.0f} MiB (interpreter, libraries,",
        "  empty caches): what sharding cannot divide. The memory goal as worded for this page:",
        "  (replica RSS - floor) ≤ 1.2/N x (one replica's RSS - floor), one replica being the unsharded one.",
        "- *requests for the update*: the replicas' `rest_client_requests_total` during it, together.",
        "- *failover*: a replica not running the sharder SIGKILLed; *adopted*: a live replica logged that it",
        "  holds the dead shard's Lease and has the shard's apps queued (the goal: ≤ lease duration",
        f"  {LEASE['lease_duration']:.0f} s + 2 s); *each reconciled*: every one of them had started a",
        "  reconcile on a live replica (its records); *all relabelled*: a listing shows every app labelled",
        "  for a live replica (background work).",
        "- *shard Leases lost*: a replica could not renew its Lease within the renew deadline (4 s), so its",
        "  controllers stopped and started again: none where the machine keeps up.",
    ]
    old = (out / "sharding.md").read_text() if (out / "sharding.md").exists() else ""
    kept = [m.group(0) for m in re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", old, re.S)]
    (out / "sharding.md").write_text("\n".join([*page, "", *kept]) + "\n")


PLANS = {"floor": None, "single": (1, False)}


def measured_code() -> str:
    """The commit measured, with "+" when the checkout has changes: results of one code compare."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument(
        "--configs",
        default="floor,limit,single,1,2,4",
        help="what to run, in order: floor (an idle replica), limit (the control plane's own), "
        "single (one, not sharded), N (N sharded); a configuration/K (e.g. single/250) over K apps",
    )
    parser.add_argument("--results", type=Path, help="append each result here as a JSON line")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--note", default="", help="said on the page: when, how long, the load")
    parser.add_argument("--render", type=Path, help="write the page from a results file only")
    parser.add_argument("--logs", type=Path, help="copy the replicas' logs and records here at the end")
    parser.add_argument(
        "--no-failover", action="store_true", help="skip the failovers (the memory rows in a shorter run)"
    )
    parser.add_argument(
        "--probe",
        type=Path,
        help="run the replicas as memory_probe and write each one's memory by part here once its RSS is read",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE added to the replicas' environment"
    )
    args = parser.parse_args()
    if args.probe:
        args.probe.mkdir(parents=True, exist_ok=True)
        PROBE["KUBELOOP_MEMORY_PROBE"] = str(args.probe.resolve())
    for pair in args.env:
        key, _, value = pair.partition("=")
        PROBE[key] = value
    if args.render:
        lines = [json.loads(line) for line in args.render.read_text().splitlines() if line.startswith("{")]
        write(lines, args.out, args.note)
        return
    code = measured_code()
    plane = ControlPlane(
        ControlPlaneOptions(
            service_cluster_ip_range="10.0.0.0/16",
            start_timeout=120,
            apiserver_args=(f"--service-node-port-range={NODE_PORTS}",),
        )
    ).start()
    try:
        kubectl = Kubectl(plane.kubeconfig)
        kubectl("apply", "-f", str(EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"))
        wait_for_crds(kubectl, APPS)  # served, not only Established: the replicas list it at once
        work = Path(plane.directory) / "bench-sharding"
        work.mkdir(exist_ok=True)
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            configs = args.configs.split(",")
            for index, config in enumerate(configs):
                began = time.monotonic()

                def emit(result: dict[str, Any], began: float = began) -> None:
                    result.update(
                        at=time.strftime("%H:%M", time.gmtime()), took_s=time.monotonic() - began, code=code
                    )
                    print(json.dumps(result), flush=True)
                    if args.results:
                        with args.results.open("a") as out:
                            out.write(json.dumps(result) + "\n")

                if config == "floor":
                    emit(await floor(api, kubectl, plane.kubeconfig, plane.server, work))
                elif config == "limit":
                    emit(await server_limit(api, plane, args.apps))
                else:
                    name, _, apps = config.partition("/")
                    replicas, sharded = PLANS.get(name) or (int(name), True)
                    last = index == len(configs) - 1
                    await configuration(
                        api,
                        plane,
                        int(apps or args.apps),
                        replicas,
                        sharded,
                        work,
                        emit,
                        last,
                        failover=not args.no_failover,
                    )
    finally:
        if args.logs:
            shutil.copytree(Path(plane.directory) / "bench-sharding", args.logs, dirs_exist_ok=True)
        plane.stop()


async def until_terminated(main: Callable[[], Awaitable[None]]) -> None:
    """``main()`` run and cancelled by SIGTERM or SIGINT, so that the processes it started and the
    control plane are stopped (a bare SIGTERM would leave them running)."""
    task = asyncio.ensure_future(main())
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    await task


if __name__ == "__main__":
    asyncio.run(until_terminated(main))
