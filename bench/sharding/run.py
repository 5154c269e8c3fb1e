"""Sharding benchmark (issue 17): the AppService operator whose reconcile first waits 50 ms on an
"external call", run as 1 (unsharded), 1, 2 and 4 sharded replicas (separate processes) over the same
AppServices on a control plane of its own. Per configuration: the time to converge from a standing
start, then after every app's image changed (throughput), each replica's RSS, the requests the
replicas sent (their ``rest_client_requests_total``), and, with 2 replicas or more, how long after a
SIGKILL one replica's apps are all assigned to the others. Writes docs/benchmarks/sharding.md and
sharding.png.

    .venv/bin/python bench/sharding/run.py [--apps 1000] [--replicas 1,2,4] [--out docs/benchmarks]

Needs the bench extra (matplotlib, psutil) and the cached control-plane binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl
from kubeloop.testing.process import free_port, http_ok

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "appservice"
APPS = "appservices.app.example.com"
NAME = "appservice-operator"
SHARD = f"shard.kubeloop.io/{NAME}"
LEASE = {"lease_duration": 6.0, "renew_deadline": 4.0, "retry_period": 1.0}


@dataclass
class Replica:
    identity: str
    kubeconfig: Path
    namespace: str
    directory: Path
    sharded: bool
    metrics_port: int = field(default_factory=free_port)
    probe_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable, "-m", "kubeloop.cli.main", "run", "recorded_operator:operator",
            "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace,
            "--leader-election-namespace", self.namespace,
            *(f"--{k.replace('_', '-')}={v}" for k, v in LEASE.items()),
            "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
            "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}",
            *(["--shards", "auto"] if self.sharded else []),
        ]  # fmt: skip
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(EXAMPLE / "src"), str(ROOT / "tests" / "e2e")]),
            "KUBELOOP_RECORD_DELAY": "0.05",
            "KUBELOOP_SHARD_IDENTITY": self.identity,
        }
        with (self.directory / f"{self.identity}.log").open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    async def ready(self) -> None:
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{self.probe_port}/readyz"):
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.identity} exited")
            await asyncio.sleep(0.2)

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def requests(self) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("rest_client_requests_total{")
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def converged(api: Client, namespace: str, image: str, count: int) -> bool:
    found = 0
    async for d in api.list_items("deployments.apps", namespace=namespace):
        found += d["spec"]["template"]["spec"]["containers"][0]["image"] == image
    return found == count


async def wait(check: Any, what: str, within: float = 1800.0) -> float:
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > within:
            raise TimeoutError(what)
        await asyncio.sleep(0.5)
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


async def configuration(
    api: Client, kubectl: Kubectl, kubeconfig: Path, apps: int, replicas: int, sharded: bool, work: Path
) -> dict[str, Any]:
    namespace = f"bench-{replicas}-{'sharded' if sharded else 'single'}"
    kubectl("create", "namespace", namespace)
    names = [f"app-{i}" for i in range(apps)]
    await create_apps(api, namespace, names)
    fleet = [Replica(f"r{i}", kubeconfig, namespace, work, sharded) for i in range(1, replicas + 1)]
    result: dict[str, Any] = {"replicas": replicas, "sharded": sharded}
    try:
        began = time.monotonic()
        for replica in fleet:
            replica.start()
        await asyncio.gather(*(r.ready() for r in fleet))
        await wait(lambda: converged(api, namespace, "nginx:1.27", apps), "first converge")
        result["start_s"] = time.monotonic() - began
        requests_before = sum(r.requests() for r in fleet)
        await gather_limited(
            [api.patch(APPS, n, {"spec": {"image": "nginx:1.28"}}, namespace=namespace) for n in names]
        )
        result["update_s"] = await wait(
            lambda: converged(api, namespace, "nginx:1.28", apps), "update converge"
        )
        result["throughput"] = apps / result["update_s"]
        result["requests_update"] = sum(r.requests() for r in fleet) - requests_before
        result["rss_mib"] = [r.rss() / 2**20 for r in fleet]
        if sharded and replicas >= 2:
            victim = fleet[-1]
            victim.kill()
            killed = time.monotonic()

            async def reassigned() -> bool:
                found = await owners(api, namespace)
                return all(o is not None and o != victim.identity for o in found.values())

            await wait(reassigned, "reassigned")
            result["failover_s"] = time.monotonic() - killed
    finally:
        for replica in fleet:
            replica.stop()
        kubectl("delete", "namespace", namespace, "--wait=false")
    return result


def write(results: list[dict[str, Any]], apps: int, out: Path, seconds: float, load: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = next(r for r in results if not r["sharded"])
    rows = [
        "| replicas | converge from start | converge after an update | throughput (apps/s) | x one replica | "
        "RSS per replica (MiB) | requests for the update | failover (SIGKILL → all reassigned) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        label = f"{r['replicas']} sharded" if r["sharded"] else "1 (not sharded)"
        rss = ", ".join(f"{m:.0f}" for m in r["rss_mib"])
        failover = f"{r['failover_s']:.1f} s" if "failover_s" in r else ""
        rows.append(
            f"| {label} | {r['start_s']:.1f} s | {r['update_s']:.1f} s | {r['throughput']:.0f} | "
            f"{r['throughput'] / base['throughput']:.2f} | {rss} | {r['requests_update']:.0f} | {failover} |"
        )
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    sharded = [r for r in results if r["sharded"]]
    counts = [r["replicas"] for r in sharded]
    left.plot(counts, [r["throughput"] for r in sharded], "o-", label="sharded")
    left.plot(counts, [base["throughput"] * c * 0.8 for c in counts], "--", label="0.8 x N x one replica")
    left.set(xlabel="replicas", ylabel="apps reconciled per second", title="throughput", xticks=counts)
    left.legend()
    right.plot(counts, [max(r["rss_mib"]) for r in sharded], "o-", label="largest replica")
    right.plot(counts, [max(base["rss_mib"]) * 1.2 / c for c in counts], "--", label="1.2 / N x one replica")
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
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; {seconds / 60:.0f} min in all; the "
        f"machine's load average {load:.1f} meanwhile (other work shared its cores: the figures compare the "
        "configurations with one another, on that machine).",
        "",
        *rows,
        "",
        "![throughput and memory per replica](sharding.png)",
        "",
        "- *converge after an update*: every app's image changed at once, until every Deployment has it.",
        "- *requests for the update*: the replicas' `rest_client_requests_total` during it, together.",
        "- *failover*: the last replica SIGKILLed; until every app is labelled for a live replica "
        f"(lease duration {LEASE['lease_duration']:.0f} s).",
    ]
    # The sections measured on their own (scoped.py's, the failover in phases) are kept.
    old = (out / "sharding.md").read_text() if (out / "sharding.md").exists() else ""
    kept = [m.group(0) for m in re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", old, re.S)]
    (out / "sharding.md").write_text("\n".join([*page, "", *kept]) + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--render", type=Path, help="write the page from a run's printed JSON lines only")
    args = parser.parse_args()
    if args.render:
        lines = [json.loads(line) for line in args.render.read_text().splitlines() if line.startswith("{")]
        write(lines, args.apps, args.out, 0.0, os.getloadavg()[1])
        return
    began = time.monotonic()
    plane = ControlPlane(
        ControlPlaneOptions(service_cluster_ip_range="10.0.0.0/16", start_timeout=120)
    ).start()
    try:
        kubectl = Kubectl(plane.kubeconfig)
        kubectl("apply", "-f", str(EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"))
        kubectl("wait", "--for=condition=Established", f"crd/{APPS}", "--timeout=60s")
        work = Path(plane.directory) / "bench-sharding"
        work.mkdir(exist_ok=True)
        results = []
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            plan = [(1, False)] + [(int(n), True) for n in args.replicas.split(",")]
            for replicas, sharded in plan:
                result = await configuration(
                    api, kubectl, plane.kubeconfig, args.apps, replicas, sharded, work
                )
                print(json.dumps(result), flush=True)
                results.append(result)
        args.out.mkdir(parents=True, exist_ok=True)
        write(results, args.apps, args.out, time.monotonic() - began, os.getloadavg()[1])
    finally:
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
