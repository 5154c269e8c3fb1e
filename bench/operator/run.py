"""Operator benchmark (issue 16): the AppService operator four ways, side by side on one real control
plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes): kubeloop
(examples/appservice as shipped), Go controller-runtime (examples/appservice-kubebuilder, built with
the machine's Go), kopf (examples/appservice-kopf) and the floor (bench/operator/floor.py: kubeloop's
client, no framework). Each runs alone, as its own service account, in a namespace of its own; the
order rotates every repetition. Per run: converge N AppServices created at once (every Deployment and
Service exists, status Ready with the pods Running on kwok), an update storm (size 1 -> 2 on all), then
idle. Requests are counted by kube-apiserver's audit log (user, verb, resource); CPU and RSS by psutil.

    .venv/bin/python bench/operator/run.py --quick            # make bench-quick: 200 apps, 3 repetitions
    .venv/bin/python bench/operator/run.py                    # make bench: 1,000 apps, 3 repetitions
    .venv/bin/python bench/operator/run.py --apps 30 --reps 1 --idle 2 --out /tmp/o   # a smoke run
    .venv/bin/python bench/operator/run.py --render bench/operator/last_results.json  # re-render
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from migration_support import go_manager  # noqa: E402

EXAMPLE = ROOT / "examples" / "appservice"
CRD = EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"
KOPF = ROOT / "examples" / "appservice-kopf" / "appservice_kopf.py"
HERE = Path(__file__).parent
APPS = "appservices.app.example.com"
SA_NAMESPACE = "bench-operators"
IMPLS = ("kubeloop", "controller-runtime", "kopf", "floor")
QPS, BURST, WORKERS = 50, 100, 10  # kubeloop's defaults: qps 50, burst 100, 10 workers
KNOBS = {
    "kubeloop": "as shipped: client QPS 50, burst 100, max_concurrent_reconciles 10 (its defaults)",
    "controller-runtime": f"--kube-api-qps {QPS} --kube-api-burst {BURST} --max-concurrent-reconciles "
    f"{WORKERS} (its defaults: 20, 30, 1); --zap-log-level info (the scaffold's development logger "
    "otherwise writes a debug line per child per reconcile)",
    "kopf": f"settings.execution.max_workers = {WORKERS} (bench/operator/kopf_settings.py); no client QPS "
    "knob (kopf and the kubernetes client do not limit); every object is handled concurrently",
    "floor": f"kubeloop's client at QPS {QPS}, burst {BURST}; {WORKERS} worker tasks",
}


@dataclass
class Config:
    apps: int
    reps: int
    idle: float
    timeout: float
    impls: tuple[str, ...]


def audit_policy(path: Path) -> None:
    users = [f"system:serviceaccount:{SA_NAMESPACE}:{impl}" for impl in IMPLS]
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": users}, {"level": "None"}],
    }
    path.write_text(json.dumps(policy))


class Audit:
    """The operators' requests from kube-apiserver's audit log: (time, user, verb, resource)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.requests: list[tuple[float, str, str, str]] = []

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            verb, stage = event["verb"], event["stage"]
            if (verb == "watch") != (stage == "ResponseStarted"):
                continue  # one record per request: a watch when it starts, others when they complete
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event["requestURI"].split("?")[0])
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            at = datetime.datetime.fromisoformat(event["stageTimestamp"]).timestamp()
            self.requests.append((at, event["user"]["username"].rsplit(":", 1)[1], verb, resource))

    def between(self, impl: str, begin: float, end: float) -> Counter[str]:
        self.read()
        return Counter(
            f"{verb} {resource}"
            for at, who, verb, resource in self.requests
            if who == impl and begin <= at < end
        )


@dataclass
class Operator:
    impl: str
    kubeconfig: Path
    namespace: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    rss: list[tuple[float, int]] = field(default_factory=list)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        py = sys.executable
        if self.impl == "kubeloop":
            env["PYTHONPATH"] = str(EXAMPLE / "src")
            return [py, "-m", "appservice_operator", "--kubeconfig", str(self.kubeconfig),
                    "--namespace", self.namespace, "--metrics-bind-address", "0",
                    "--health-probe-bind-address", "0"], env  # fmt: skip
        if self.impl == "controller-runtime":
            env["WATCH_NAMESPACE"] = self.namespace
            return [str(go_manager()), "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                    "--kube-api-qps", str(QPS), "--kube-api-burst", str(BURST),
                    "--max-concurrent-reconciles", str(WORKERS), "--zap-log-level", "info"], env  # fmt: skip
        if self.impl == "kopf":
            env["BENCH_WORKERS"] = str(WORKERS)
            return [py, "-m", "kopf", "run", "--standalone", "--namespace", self.namespace,
                    str(HERE / "kopf_settings.py"), str(KOPF)], env  # fmt: skip
        return [py, str(HERE / "floor.py"), "--kubeconfig", str(self.kubeconfig),
                "--namespace", self.namespace,
                "--qps", str(QPS), "--burst", str(BURST), "--workers", str(WORKERS)], env  # fmt: skip

    def start(self) -> None:
        argv, env = self.argv()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    @property
    def process(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return max(r for _, r in self.rss)

    async def sample_rss(self, began: float) -> None:
        while True:
            self.rss.append((time.monotonic() - began, int(self.process.memory_info().rss)))
            await asyncio.sleep(0.5)

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.impl} exited:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def app(name: str, namespace: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 8080}]},
    }


async def limited(calls: list[Any], limit: int = 50) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Any) -> None:
        async with semaphore:
            await call

    await asyncio.gather(*(one(c) for c in calls))


def is_ready(obj: dict[str, Any], size: int) -> bool:
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    return (
        ready is not None
        and ready.get("status") == "True"
        and ready.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("readyReplicas", 0) == size
    )


async def count_ready(api: Client, ns: str, size: int, prefix: str = "app-") -> int:
    """AppServices whose status is Ready for ``size`` replicas and whose Deployment and Service exist."""
    deployments = {d["metadata"]["name"] async for d in api.list_items("deployments.apps", namespace=ns)}
    services = {s["metadata"]["name"] async for s in api.list_items("services", namespace=ns)}
    apps = [a async for a in api.list_items(APPS, namespace=ns)]
    return sum(
        1
        for a in apps
        if a["metadata"]["name"].startswith(prefix)
        and is_ready(a, size)
        and a["metadata"]["name"] in deployments
        and a["metadata"]["name"] in services
    )


async def until_all(
    api: Client, op: Operator, namespace: str, size: int, count: int, within: float, prefix: str = "app-"
) -> tuple[float, list[tuple[float, int]]]:
    began = time.monotonic()
    curve: list[tuple[float, int]] = [(0.0, 0)]
    while True:
        op.check()
        ready = await count_ready(api, namespace, size, prefix)
        curve.append((time.monotonic() - began, ready))
        if ready >= count:
            return curve[-1][0], curve
        if time.monotonic() - began > within:
            raise TimeoutError(f"{op.impl}: {ready}/{count} ready after {within:.0f} s")
        await asyncio.sleep(1.0)


async def one_run(
    api: Client, kubectl: Kubectl, audit: Audit, kubeconfigs: dict[str, Path], impl: str, rep: int,
    cfg: Config, work: Path,
) -> dict[str, Any]:  # fmt: skip
    namespace = f"{impl}-{rep}"
    kubectl("create", "namespace", namespace)
    op = Operator(impl, kubeconfigs[impl], namespace, work / f"{namespace}.log")
    result: dict[str, Any] = {"impl": impl, "rep": rep}
    started = time.monotonic()
    op.start()
    sampler = asyncio.create_task(op.sample_rss(started))
    try:
        # Warm-up, discarded: one AppService of size 0 until Ready (the operator has started and synced).
        await api.create(app("warmup", namespace, 0))
        await until_all(api, op, namespace, 0, 1, 120, prefix="warmup")
        result["start_s"] = time.monotonic() - started
        names = [f"app-{i}" for i in range(cfg.apps)]

        async def phase(name: str, act: Callable[[], Any], size: int) -> None:
            cpu, wall = op.cpu(), time.time()
            await act()
            seconds, curve = await until_all(api, op, namespace, size, cfg.apps, cfg.timeout)
            await asyncio.sleep(1.0)  # the last status write is in the audit log
            result[name] = {
                "seconds": seconds,
                "curve": curve,
                "cpu_s": op.cpu() - cpu,
                "requests": dict(audit.between(impl, wall, time.time())),
            }
            print(f"  {impl} rep {rep} {name}: {seconds:.1f} s, cpu {op.cpu() - cpu:.1f} s", flush=True)

        patch = {"spec": {"size": 2}}
        await phase("converge", lambda: limited([api.create(app(n, namespace, 1)) for n in names]), 1)
        await phase(
            "update", lambda: limited([api.patch(APPS, n, patch, namespace=namespace) for n in names]), 2
        )
        await asyncio.sleep(5.0)  # the tail of the storm (status echoes) settles before idle is counted
        cpu, wall = op.cpu(), time.time()
        await asyncio.sleep(cfg.idle)
        op.check()
        result["idle"] = {"seconds": cfg.idle, "cpu_s": op.cpu() - cpu,
                          "requests": dict(audit.between(impl, wall, time.time()))}  # fmt: skip
        result["cpu_total_s"] = op.cpu()
        result["peak_rss"] = op.peak_rss()
        result["rss"] = op.rss
    finally:
        sampler.cancel()
        op.stop()
        kubectl("delete", "namespace", namespace, "--wait=false")
    return result


async def wait_gone(kubectl: Kubectl, namespace: str, within: float = 30.0) -> None:
    """Until the namespace (and its pods) are deleted, at most ``within`` s: the next run then has
    kube-controller-manager mostly to itself."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(kubectl, "get", "namespace", namespace, "--ignore-not-found", "-oname")
        if not str(out).strip():
            return
        await asyncio.sleep(2.0)


def setup(plane: ControlPlane, kubectl: Kubectl) -> dict[str, Path]:
    kubectl("apply", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", f"crd/{APPS}", "--timeout=60s")
    kubectl("create", "namespace", SA_NAMESPACE)
    kubeconfigs = {}
    for impl in IMPLS:
        kubectl("create", "clusterrolebinding", f"bench-{impl}", "--clusterrole=cluster-admin",
                f"--serviceaccount={SA_NAMESPACE}:{impl}")  # fmt: skip
        kubeconfigs[impl] = plane.service_account_kubeconfig(SA_NAMESPACE, impl)
    return kubeconfigs


def versions() -> dict[str, str]:
    from importlib.metadata import version

    go = shutil.which("go") or "go"
    gomod = (ROOT / "examples" / "appservice-kubebuilder" / "go.mod").read_text()
    cr = re.search(r"sigs.k8s.io/controller-runtime (\S+)", gomod)
    return {
        "python": platform.python_version(),
        "kubeloop": version("kubeloop"),
        "kopf": version("kopf"),
        "go": subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip(),
        "controller-runtime": cr.group(1) if cr else "?",
        "kubernetes": "v1.33.13 (kube-apiserver, kube-controller-manager, kube-scheduler), kwok v0.7.0",
    }


async def run(cfg: Config) -> dict[str, Any]:
    go_manager()  # built (and cached) before anything is timed
    began = time.monotonic()
    loads = [os.getloadavg()[0]]
    nodes = max(1, math.ceil(cfg.apps * 2 * 1.5 / 110))
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-operator-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    policy = work / "audit-policy.json"
    audit_policy(policy)
    audit_log = work / "audit.log"
    plane = ControlPlane(
        ControlPlaneOptions(
            controller_manager=True,
            nodes=nodes,
            service_cluster_ip_range="10.0.0.0/16",
            apiserver_args=(
                f"--audit-policy-file={policy}",
                f"--audit-log-path={audit_log}",
                "--service-node-port-range=30000-39999",
            ),
            # kube-controller-manager's client at 20 QPS would pace every implementation alike.
            controller_manager_args=("--kube-api-qps=500", "--kube-api-burst=1000"),
            start_timeout=180,
        )
    ).start()
    runs: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    try:
        kubectl = Kubectl(plane.kubeconfig)
        kubeconfigs = setup(plane, kubectl)
        audit = Audit(audit_log)
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            for rep in range(1, cfg.reps + 1):
                turn = (rep + len(cfg.impls) - 2) % len(cfg.impls)  # rotated: no one always first; the floor
                order = cfg.impls[turn:] + cfg.impls[:turn]  # (last in IMPLS) first
                for impl in order:
                    loads.append(os.getloadavg()[0])
                    print(f"rep {rep}: {impl}", flush=True)
                    try:
                        runs.append(await one_run(api, kubectl, audit, kubeconfigs, impl, rep, cfg, work))
                    except (RuntimeError, TimeoutError) as exc:  # reported as failed; the others go on
                        print(f"  {impl} rep {rep} failed: {exc}", flush=True)
                        failures.append({"impl": impl, "rep": rep, "error": str(exc)[-2000:]})
                    await wait_gone(kubectl, f"{impl}-{rep}")
    finally:
        plane.stop()
    return {
        "config": cfg.__dict__,
        "runs": runs,
        "failures": failures,
        "nodes": nodes,
        "minutes": (time.monotonic() - began) / 60,
        "load": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        "versions": versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "knobs": KNOBS,
    }


def main() -> None:
    from report import render

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 apps, 15 s idle")
    parser.add_argument("--apps", type=int, default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--idle", type=float, default=None, help="seconds of steady state (default 120)")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument(
        "--summary", type=Path, default=None, help="default: docs/benchmarks.md for the default --out"
    )
    parser.add_argument("--render", type=Path, default=None, help="re-render a results JSON")
    args = parser.parse_args()
    if args.render:
        results = json.loads(args.render.read_text())
    else:
        cfg = Config(
            apps=args.apps or (200 if args.quick else 1000),
            reps=args.reps,
            idle=args.idle if args.idle is not None else (15.0 if args.quick else 120.0),
            timeout=args.timeout,
            impls=tuple(args.impls.split(",")),
        )
        results = asyncio.run(run(cfg))
        results["mode"] = "quick" if args.quick else "full"
        (HERE / "last_results.json").write_text(json.dumps(results))
    default_out = args.out == parser.get_default("out")
    summary = args.summary or (ROOT / "docs" / "benchmarks.md" if default_out else None)
    render(results, args.out, summary)


if __name__ == "__main__":
    main()
