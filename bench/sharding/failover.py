"""Sharding failover, in phases (issue 17): ``--apps`` AppServices over ``--replicas`` sharded replicas
of the AppService operator (run.py's: the shipped reconcile after a 50 ms wait), converged; then one
replica that does not run the sharder is SIGKILLed. Measured from the kill: when the dead shard was
handed over (its Lease expired on the sharder's clock, about the lease duration after its last
renewal, and fenced to an adopter), when the adopter had its apps queued (``adopted``), when every
one of its apps had started a reconcile on a live replica (``picked up``: from every replica's
records, ``$KUBELOOP_RECORD``), and, in the background, the moves (one label write per app, first to
last, and their rate) until a listing shows every app labelled for a live replica. First, the
control plane's own rate of such writes with nothing else running (one client, 300 PATCHes, 1 and 16
at a time): the floor under the moves.

    .venv/bin/python bench/sharding/failover.py [--apps 1000] [--replicas 2] [--src DIR]

``--src``: the kubeloop sources the replicas run (a checkout of an older commit's ``src``, to compare).
Prints JSON lines; the figures go to docs/benchmarks/sharding.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import run as bench

from kubeloop.client import Client, ClientSettings, PatchType
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, wait_for_crds
from kubeloop.testing.replicas import first_starts, logged_at


async def patch_rate(api: Client, namespace: str) -> dict[str, float]:
    """PATCHes of AppService labels per second, 1 and 16 at a time, nothing else running."""
    names = [f"rate-{i}" for i in range(300)]
    await bench.create_apps(api, namespace, names)
    rates = {}
    for at_once in (1, 16):
        began = time.monotonic()
        patch = {"metadata": {"labels": {"rate": str(at_once)}}}
        await bench.gather_limited(
            [api.patch(bench.APPS, n, patch, type=PatchType.MERGE, namespace=namespace) for n in names],
            at_once,
        )
        rates[f"patches_per_s_{at_once}"] = len(names) / (time.monotonic() - began)
    await bench.gather_limited([api.delete(bench.APPS, n, namespace=namespace) for n in names])
    return rates


def stamps(log: Path, pattern: str) -> list[float]:
    """Wall times of the lines of ``log`` matching ``pattern``."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if re.search(pattern, line):
            found.append(logged_at(line))
    return found


async def failover(
    api: Client, kubeconfig: Path, apps: int, replicas: int, work: Path, src: str | None
) -> dict[str, Any]:
    namespace = "failover"
    names = [f"app-{i}" for i in range(apps)]
    await bench.create_apps(api, namespace, names)
    fleet = [
        bench.recorded_replica(f"r{i}", kubeconfig, namespace, work, True, src)
        for i in range(1, replicas + 1)
    ]
    try:
        began = time.monotonic()
        for replica in fleet:
            replica.start()
        await asyncio.gather(*(r.wait_ready(within=300) for r in fleet))
        await bench.wait(lambda: bench.converged(api, namespace, "nginx:1.27", apps), "converge")
        converged = time.monotonic() - began
        await asyncio.sleep(3)
        lease = await api.get("leases.coordination.k8s.io", f"{bench.NAME}-sharder", namespace=namespace)
        sharder = lease["spec"]["holderIdentity"]
        victim = next(r for r in reversed(fleet) if r.identity != sharder)
        before = await bench.owners(api, namespace)
        shares = Counter(before.values())
        victim.kill()
        killed, killed_at = time.monotonic(), victim.killed_at or time.time()
        alive = [r for r in fleet if r is not victim]
        while True:
            found = await bench.owners(api, namespace)
            if all(o is not None and o != victim.identity for o in found.values()):
                break
            await asyncio.sleep(0.1)
        took = time.monotonic() - killed
        keys = {f"{namespace}/{name}" for name, owner in before.items() if owner == victim.identity}
        for _ in range(600):  # and until each of them was reconciled by a live replica (60 s at most)
            first = {k: at - killed_at for k, at in first_starts(alive, keys, killed_at).items()}
            if len(first) == len(keys):
                break
            await asyncio.sleep(0.1)
        rss = {r.identity: r.rss() / 2**20 for r in alive}
    finally:
        for one in fleet:
            one.stop()
    log = work / f"{sharder}.log"
    moves = stamps(log, rf"\(from {victim.identity}\)")
    gone = stamps(log, f"shard {victim.identity} (gone|stopped)")
    adopted = [
        t for r in fleet for t in stamps(work / f"{r.identity}.log", f"adopted shard {victim.identity}:")
    ]
    return {
        "apps": apps,
        "replicas": replicas,
        "converged_s": converged,
        "moved": shares[victim.identity],
        "failover_s": took,
        "found_gone_s": gone[0] - killed_at if gone else None,
        "adopted_s": adopted[0] - killed_at if adopted else None,
        "picked_up": len(first),
        "picked_up_s": max(first.values()) if len(first) == len(keys) else None,
        "first_move_s": moves[0] - killed_at if moves else None,
        "last_move_s": moves[-1] - killed_at if moves else None,
        "moves_per_s": len(moves) / (moves[-1] - moves[0]) if len(moves) > 1 else None,
        "rss_mib": rss,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--src", help="kubeloop sources for the replicas (default: this checkout's)")
    parser.add_argument("--logs", type=Path, help="copy the replicas' logs and records here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    plane = ControlPlane(
        ControlPlaneOptions(service_cluster_ip_range="10.0.0.0/16", start_timeout=120)
    ).start()
    try:
        kubectl = Kubectl(plane.kubeconfig)
        crd = bench.EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"
        kubectl("apply", "-f", str(crd))
        wait_for_crds(kubectl, bench.APPS)  # served, not only Established: the replicas list it at once
        kubectl("create", "namespace", "failover")
        work = Path(plane.directory) / "bench-failover"
        work.mkdir(exist_ok=True)
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            result = await patch_rate(api, "failover")
            try:
                result.update(await failover(api, plane.kubeconfig, args.apps, args.replicas, work, args.src))
            finally:
                if args.logs:
                    shutil.copytree(work, args.logs, dirs_exist_ok=True)
        result.update(src=args.src or "this checkout", load_before=load, load_after=os.getloadavg()[0])
        print(json.dumps(result), flush=True)
    finally:
        plane.stop()


if __name__ == "__main__":
    asyncio.run(bench.until_terminated(main))
