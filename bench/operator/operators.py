"""The four implementations of the AppService operator as processes the benchmark starts, samples
(CPU, RSS) and stops (bench/operator/run.py), and the knobs each one is given alike. Each watches the
namespaces of its run the way its community does: kubeloop's ``--namespace a,b``, controller-runtime's
cache.Options.DefaultNamespaces from WATCH_NAMESPACE=a,b (operator-sdk's multi-namespace form), kopf's
``--namespace a --namespace b``; the floor a list+watch per namespace and kind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from kubeloop.testing.process import terminate

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from migration_support import go_manager  # noqa: E402

EXAMPLE = ROOT / "examples" / "appservice"
KOPF = ROOT / "examples" / "appservice-kopf" / "appservice_kopf.py"
HERE = Path(__file__).parent
IMPLS = ("kubeloop", "controller-runtime", "kopf", "floor")
QPS, BURST, WORKERS = 50, 100, 10  # kubeloop's defaults: qps 50, burst 100, 10 workers
KNOBS = {
    "kubeloop": "as shipped: client QPS 50, burst 100 for each kind, max_concurrent_reconciles 10 (its "
    "defaults; the client's limit holds for each resource apart, as client-go's for each REST client)",
    "controller-runtime": f"--kube-api-qps {QPS} --kube-api-burst {BURST} --max-concurrent-reconciles "
    f"{WORKERS} (the example's flags default to 0, which client-go reads as 5 and 10, and 1 worker; "
    "controller-runtime's GetConfig alone sets no client-side limit since v0.21); the QPS limit is per "
    "kind (its client makes a REST client, and client-go a token bucket, per kind when "
    "rest.Config.RateLimiter is unset, as the scaffold leaves it); --zap-log-level info (the scaffold's "
    "development logger otherwise writes a debug line per child per reconcile)",
    "kopf": f"settings.execution.max_workers = {WORKERS} (bench/operator/kopf_settings.py: the thread pool "
    "its sync handlers run in, as kopf's docs, Configuration, set it); settings.queueing.worker_limit (its "
    "asyncio workers, one per object) unlimited as by default, so the threads bound the handlers; no "
    "client-side QPS knob (kopf's own client and the official client do not limit); the official "
    "client's connection pool 10 (its default, cpu_count x 5)",
    "floor": f"kubeloop's client at QPS {QPS}, burst {BURST} for each kind; {WORKERS} worker tasks",
}


@dataclass
class Operator:
    impl: str
    kubeconfig: Path
    namespaces: tuple[str, ...]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    rss: list[tuple[float, int]] = field(default_factory=list)
    profile: Path | None = None  # kubeloop only: run under cProfile, its stats written here on exit
    events: bool = False  # the floor only: with the Events the frameworks post (floor.py --events)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        py = sys.executable
        watched = ",".join(self.namespaces)
        if self.impl == "kubeloop":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE / "src"), env.get("PYTHONPATH")]))
            profiled = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
            return [py, *profiled, "-m", "appservice_operator", "--kubeconfig", str(self.kubeconfig),
                    "--namespace", watched, "--metrics-bind-address", "0",
                    "--health-probe-bind-address", "0"], env  # fmt: skip
        if self.impl == "controller-runtime":
            env["WATCH_NAMESPACE"] = watched
            return [str(go_manager()), "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
                    "--kube-api-qps", str(QPS), "--kube-api-burst", str(BURST),
                    "--max-concurrent-reconciles", str(WORKERS), "--zap-log-level", "info"], env  # fmt: skip
        if self.impl == "kopf":
            env["BENCH_WORKERS"] = str(WORKERS)
            each = [arg for ns in self.namespaces for arg in ("--namespace", ns)]
            return [py, "-m", "kopf", "run", "--standalone", *each,
                    str(HERE / "kopf_settings.py"), str(KOPF)], env  # fmt: skip
        return [py, str(HERE / "floor.py"), "--kubeconfig", str(self.kubeconfig),
                "--namespace", watched,
                "--qps", str(QPS), "--burst", str(BURST), "--workers", str(WORKERS),
                *(["--events"] if self.events else [])], env  # fmt: skip

    def start(self) -> float:
        """Start the process; the monotonic time it was started at."""
        argv, env = self.argv()
        with self.log.open("ab") as out:
            started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        return started

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
        """SIGTERM it, SIGKILL it after 30 s."""
        terminate(self.proc, 30.0)
