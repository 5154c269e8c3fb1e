"""Operator benchmark (issue 16): the AppService operator four ways, side by side on one real control
plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes): kubeloop
(examples/appservice as shipped), Go controller-runtime (examples/appservice-kubebuilder, built with
the machine's Go), kopf (examples/appservice-kopf) and the floor (bench/operator/floor.py: kubeloop's
client, no framework). Each runs alone, as its own service account, in namespaces of its own (one per
1,000 AppServices unless told: --namespaces), watching them all; the order rotates every repetition.
Per run: converge N AppServices created at once (every Deployment and Service exists, status Ready with
the pods Running on kwok), an update storm (size 1 -> 2 on all), event -> reconcile latency (one port
change at a time), a cold start (the operator restarted with the N AppServices' status cleared: to the
first status written and to all Ready again); in the last repetition the operators stay up for one
shared steady state. Requests are counted by kube-apiserver's audit log (user, verb, resource) and
cross-checked against its apiserver_request_total; CPU and RSS by psutil.

    .venv/bin/python bench/operator/run.py --quick            # make bench-quick: 50 apps, kopf once
    .venv/bin/python bench/operator/run.py                    # 1,000 apps, 3 repetitions, 10 min idle
    .venv/bin/python bench/operator/run.py --apps 10 --reps 1 --idle 2 --latency 3 --out /tmp/o  # smoke
    .venv/bin/python bench/operator/run.py --render bench/operator/last_results.json  # re-render
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from counting import Audit, audit_policy, request_totals
from operators import HERE, IMPLS, KNOBS, ROOT, Operator, go_manager
from profiling import by_layer
from watching import APPS, Watch, is_ready, observed_generation

from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, wait_for_crds

CRD = ROOT / "examples" / "appservice" / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"
SA_NAMESPACE = "bench-operators"
Result = dict[str, Any]
Live = dict[str, tuple[Result, Operator]]  # the operators kept running for the steady state
BEGAN = time.monotonic()


def log(line: str) -> None:
    print(f"[{time.monotonic() - BEGAN:6.0f} s] {line}", flush=True)


@dataclass
class Config:
    apps: int
    reps: int
    idle: float
    latency: int  # event -> reconcile samples per run
    timeout: float
    impls: tuple[str, ...]
    kopf_reps: int  # kopf runs in the last kopf_reps repetitions only (it is 5-10x slower than the others)
    concurrent: bool = False  # a repetition's implementations at once: a smoke run, its figures mean nothing
    first_rep: int = 1  # the number of the first repetition (a run in parts: see --merge)
    profile: bool = False  # one more kubeloop run under cProfile: its time by layer
    floor_events: bool = False  # the floor posts the Events the frameworks post (floor.py --events)
    settle: float | None = None  # at most this long for a run's namespaces to go (default max(30, apps/10))
    namespaces: int = 1  # the namespaces a run's AppServices are spread over (Spread)
    # What follows the converge in a run (a part of a run at 10,000 that must fit a lock turn: fewer)
    phases: tuple[str, ...] = ("update", "latency", "cold")


@dataclass(frozen=True)
class Spread:
    """Where a run's AppServices live: app-i in the (i mod k)-th of the run's k namespaces, so that all
    fill at one pace. kube-controller-manager's syncs list the namespace: 10,000 AppServices in one made
    a Deployment sync 105 -> 866 ms and the converge quadratic (docs/benchmarks/operator.md)."""

    run: str  # the run's name, "<impl>-<rep>": its namespace, or their prefix
    namespaces: tuple[str, ...]
    apps: int

    @classmethod
    def of(cls, cfg: Config, impl: str, rep: int) -> Spread:
        run = f"{impl}-{rep}"
        namespaces = (run,) if cfg.namespaces == 1 else tuple(f"{run}-{j}" for j in range(cfg.namespaces))
        return cls(run, namespaces, cfg.apps)

    def at(self, i: int) -> tuple[str, str]:
        """The namespace and name of the i-th AppService."""
        return self.namespaces[i % len(self.namespaces)], f"app-{i}"

    def all(self) -> list[tuple[str, str]]:
        return [self.at(i) for i in range(self.apps)]


def app(name: str, namespace: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 8080}]},
    }


async def limited(calls: list[Awaitable[Any]], limit: int = 50) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> None:
        async with semaphore:
            await call

    await asyncio.gather(*(one(c) for c in calls))


async def with_children(api: Client, *namespaces: str) -> set[str]:
    """The names that have both their Deployment and their Service in one of ``namespaces`` (one list
    of each kind per namespace)."""
    found: set[str] = set()
    for ns in namespaces:
        deployments = {d["metadata"]["name"] async for d in api.list_items("deployments.apps", namespace=ns)}
        found |= deployments & {s["metadata"]["name"] async for s in api.list_items("services", namespace=ns)}
    return found


async def count_ready(api: Client, ns: str, size: int, prefix: str = "app-") -> int:
    """AppServices whose status is Ready for ``size`` replicas and whose Deployment and Service exist."""
    children = await with_children(api, ns)
    apps = [a async for a in api.list_items(APPS, namespace=ns)]
    names = [a["metadata"]["name"] for a in apps if is_ready(a, size)]
    return sum(1 for name in names if name.startswith(prefix) and name in children)


async def until_all(
    api: Client, op: Operator, namespace: str, size: int, count: int, within: float, prefix: str = "app-"
) -> tuple[float, list[tuple[float, int]]]:
    """Seconds until ``count`` AppServices are ready (polled every second: the curve), and the curve."""
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


async def until_ready(
    b: Bench, op: Operator, watch: Watch, spread: Spread, began: float
) -> tuple[float, list[tuple[float, int]]]:
    """Seconds from ``began`` until all N AppServices are Ready (``watch``'s predicate) and their
    Deployments and Services exist, and the curve of Ready ones (sampled every second). Readiness is
    counted from the harness's watch, not by listing the three kinds every second: at 10,000 those
    lists (~60 MB of JSON a second) would cost kube-apiserver and the harness more CPU than the
    operator's whole run. The children are listed when all are Ready (again every 5 s if one lacks)."""
    curve: list[tuple[float, int]] = [(0.0, 0)]
    sample = listed = 0.0
    while True:
        op.check()
        now, ready = time.monotonic() - began, len(watch.synced)
        if now >= sample or ready >= b.cfg.apps:
            curve.append((now, ready))
            sample = math.floor(now) + 1.0
        if ready >= b.cfg.apps and now >= listed:
            if not watch.synced - await with_children(b.api, *spread.namespaces):
                return now, curve
            listed = time.monotonic() - began + 5.0
        if now > b.cfg.timeout:
            raise TimeoutError(f"{op.impl}: {ready}/{b.cfg.apps} ready after {b.cfg.timeout:.0f} s")
        watch.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.changed.wait(), max(0.01, sample - (time.monotonic() - began)))


@dataclass
class Bench:
    """What every run shares: the harness's client, the control plane's kubectl, the audit log."""

    api: Client
    kubectl: Kubectl
    audit: Audit
    kubeconfigs: dict[str, Path]
    cfg: Config
    work: Path


class Span:
    """One measured stretch of a run: the operator's CPU seconds, its requests by the audit log and
    the cross-checked writes by apiserver_request_total (less the harness's own writes)."""

    def __init__(self, bench: Bench, op: Operator, totals: Counter[str] | None) -> None:
        self.bench, self.op, self.totals = bench, op, totals
        self.cpu = op.cpu() if op.proc is not None else 0.0
        self.wall = time.time()

    @classmethod
    async def begin(cls, bench: Bench, op: Operator, cross_check: bool = True) -> Span:
        """From now on; ``cross_check`` when nothing else writes meanwhile (one operator at a time)."""
        cross_check = cross_check and not bench.cfg.concurrent
        totals = await asyncio.to_thread(request_totals, bench.kubectl) if cross_check else None
        return cls(bench, op, totals)

    async def end(self, harness: Counter[str] | None = None) -> Result:
        cpu = self.op.cpu() - self.cpu
        await asyncio.sleep(0.5)  # the last request reaches the audit log
        out: Result = {"cpu_s": cpu, "requests": dict(self.bench.audit.between(self.op.impl, self.wall))}
        if self.totals is not None:
            totals = await asyncio.to_thread(request_totals, self.bench.kubectl)
            out["counted"] = dict(totals - self.totals - (harness or Counter()))
        return out


async def phase(
    b: Bench,
    op: Operator,
    watch: Watch,
    spread: Spread,
    act: Callable[[], Awaitable[None]],
    size: int,
    harness: str,
) -> Result:
    """Converge or update storm: ``act`` on all N, then until all N are ready for ``size``."""
    watch.reset(lambda obj: is_ready(obj, size))
    span = await Span.begin(b, op)
    began = time.monotonic()
    await act()
    acted = time.monotonic() - began  # the harness's creates or patches (the operator works meanwhile)
    seconds, curve = await until_ready(b, op, watch, spread, began)
    result = {"seconds": seconds, "act_s": acted, "curve": curve}
    return result | await span.end(Counter({harness: b.cfg.apps}))


def reported(watch: Watch, name: str, generation: int) -> Callable[[], bool]:
    return lambda: observed_generation(watch.objects.get(name)) >= generation


async def latency(b: Bench, op: Operator, watch: Watch, spread: Spread) -> Result:
    """Event -> reconcile under light load: one AppService's port changed at a time (its Service
    changes, its pods do not), from the harness's patch until the harness sees the status report the
    new generation; 0.2 s between changes."""
    span = await Span.begin(b, op)
    samples = []
    for i in range(b.cfg.latency):
        namespace, name = spread.at(i % b.cfg.apps)
        port = 81 if watch.objects[name]["spec"]["ports"][0]["port"] == 80 else 80
        sent = time.monotonic()
        body = {"spec": {"ports": [{"port": port, "targetPort": 8080}]}}
        changed = await b.api.patch(APPS, name, body, namespace=namespace)
        check = reported(watch, name, changed["metadata"]["generation"])
        samples.append(await watch.until(check, 60, f"{op.impl}: {name} reconciled", op.check) - sent)
        await asyncio.sleep(0.2)
    return {"samples": samples, **await span.end(Counter({"patch appservices": b.cfg.latency}))}


async def cold_start(b: Bench, impl: str, spread: Spread, watch: Watch, size: int) -> tuple[Result, Operator]:
    """The operator (stopped) restarted with N AppServices of ``size`` whose children exist and whose
    status the harness cleared, so that every reconcile leaves a mark: process start to the first status
    written, and to all N Ready again. Returns the new process, running."""
    clear = {"status": None}
    watch.reset(lambda obj: bool(obj.get("status")))
    await limited([b.api.patch(APPS, n, clear, namespace=ns, subresource="status") for ns, n in spread.all()])
    await watch.until(lambda: not watch.synced, max(120.0, b.cfg.apps / 50), f"{impl}: status cleared")
    watch.reset(lambda obj: is_ready(obj, size))
    op = Operator(impl, b.kubeconfigs[impl], spread.namespaces, b.work / f"{spread.run}-cold.log",
                  events=b.cfg.floor_events)  # fmt: skip
    span = await Span.begin(b, op)
    started = op.start()
    try:
        first = await watch.until(lambda: watch.first_status is not None, b.cfg.timeout, "first", op.check)
        synced = await watch.until(
            lambda: len(watch.synced) >= b.cfg.apps, b.cfg.timeout, f"{impl}: all synced", op.check
        )
        result = {"first_s": (watch.first_status or first) - started, "synced_s": synced - started}
        result |= await span.end()
        result["peak_rss"] = op.peak_rss()
    except BaseException:
        op.stop()
        raise
    return result, op


async def one_run(
    b: Bench, impl: str, rep: int, keep: bool, profile: Path | None = None
) -> tuple[Result, Operator | None]:
    """Start and converge of one implementation, then ``phases`` in their order (update storm,
    latency, cold start: the cold start's process goes on with what follows); with ``keep`` the
    operator is left running (for the shared steady state) and returned; with ``profile`` the first
    process runs under cProfile (kubeloop only), its stats written there. The result so far is written
    after each phase (``<impl>-<rep>.json`` in the work directory: a run cut short keeps its phases)."""
    spread = Spread.of(b.cfg, impl, rep)
    for namespace in spread.namespaces:
        b.kubectl("create", "namespace", namespace)
    op = Operator(impl, b.kubeconfigs[impl], spread.namespaces, b.work / f"{spread.run}.log", profile=profile,
                  events=b.cfg.floor_events)  # fmt: skip
    result: Result = {"impl": impl, "rep": rep, "namespaces": list(spread.namespaces)}
    saved = b.work / f"{spread.run}.json"
    first = op
    started = op.start()
    sampler = asyncio.create_task(op.sample_rss(started))
    done = False

    def first_done() -> None:
        """The first process's CPU and RSS over its life (converge and the phases before a restart)."""
        if "cpu_total_s" not in result:
            result.update({"cpu_total_s": first.cpu(), "peak_rss": first.peak_rss(), "rss": first.rss})
        sampler.cancel()

    try:
        async with Watch(b.api, spread.namespaces) as watch:
            # Warm-up, discarded: one AppService of size 0 until Ready (the operator has started and synced).
            await b.api.create(app("warmup", spread.namespaces[0], 0))
            await until_all(b.api, op, spread.namespaces[0], 0, 1, 120, prefix="warmup")
            result["start_s"] = time.monotonic() - started

            async def create() -> None:
                await limited([b.api.create(app(n, ns, 1)) for ns, n in spread.all()])

            async def storm() -> None:
                size = {"spec": {"size": 2}}
                await limited([b.api.patch(APPS, n, size, namespace=ns) for ns, n in spread.all()])

            result["converge"] = await phase(b, op, watch, spread, create, 1, "create appservices")
            log(f"{impl} rep {rep} converge: {result['converge']['seconds']:.1f} s")
            size = 1
            for name in b.cfg.phases:
                saved.write_text(json.dumps(result))
                if name == "update":
                    result["update"] = await phase(b, op, watch, spread, storm, 2, "patch appservices")
                    log(f"{impl} rep {rep} update: {result['update']['seconds']:.1f} s")
                    size = 2
                    continue
                await asyncio.sleep(min(5.0, 1.0 + b.cfg.apps / 50))  # the tail (status echoes) settles
                if name == "latency":
                    result["latency"] = await latency(b, op, watch, spread)
                    log(f"{impl} rep {rep} latency: {len(result['latency']['samples'])} samples")
                elif name == "cold":
                    first_done()
                    op.stop()
                    result["cold"], op = await cold_start(b, impl, spread, watch, size)
                    log(f"{impl} rep {rep} cold start: {result['cold']['synced_s']:.1f} s")
            first_done()
            saved.write_text(json.dumps(result))
            done = True
    finally:
        sampler.cancel()
        if not (keep and done):
            op.stop()
            b.kubectl("delete", "namespace", *spread.namespaces, "--wait=false")
    return result, op if keep else None


async def steady_state(b: Bench, live: Live) -> None:
    """The operators of the last repetition, synced and left alone together for ``idle`` seconds:
    each one's CPU seconds and requests (the audit log tells them apart)."""
    spans = {impl: await Span.begin(b, op, cross_check=False) for impl, (_, op) in live.items()}
    log(f"steady state: {b.cfg.idle:.0f} s, {', '.join(live)}")
    await asyncio.sleep(b.cfg.idle)
    for impl, (result, op) in live.items():
        op.check()
        result["idle"] = {"seconds": b.cfg.idle, **await spans[impl].end()}


async def wait_gone(kubectl: Kubectl, namespaces: tuple[str, ...], within: float = 30.0) -> None:
    """Until the namespaces (and their pods) are deleted, at most ``within`` s: the next run then has
    kube-controller-manager mostly to itself."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        args = ("get", "namespace", *namespaces, "--ignore-not-found", "-oname")
        out = await asyncio.to_thread(kubectl, *args)
        if not out.stdout.strip():
            return
        await asyncio.sleep(2.0)


async def setup(plane: ControlPlane, kubectl: Kubectl) -> dict[str, Path]:
    """The CRD, and per implementation a service account bound to cluster-admin and its kubeconfig."""
    kubectl("apply", "-f", str(CRD))
    kubectl("create", "namespace", SA_NAMESPACE)

    def account(impl: str) -> Path:
        kubectl("create", "clusterrolebinding", f"bench-{impl}", "--clusterrole=cluster-admin",
                f"--serviceaccount={SA_NAMESPACE}:{impl}")  # fmt: skip
        return plane.service_account_kubeconfig(SA_NAMESPACE, impl)

    paths = await asyncio.gather(*(asyncio.to_thread(account, impl) for impl in IMPLS))
    # Served, not only Established: the operators, started right after, list the kind at once, and
    # kube-apiserver lists a new CRD's resource in discovery a moment after it is Established.
    wait_for_crds(kubectl, APPS)
    return dict(zip(IMPLS, paths, strict=True))


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


def order(cfg: Config, rep: int) -> tuple[str, ...]:
    """The implementations of repetition ``rep``, rotated so that none is always first; kopf only in
    the last ``kopf_reps`` repetitions."""
    turn = (rep + len(cfg.impls) - 2) % len(cfg.impls)
    rotated = cfg.impls[turn:] + cfg.impls[:turn]
    return tuple(i for i in rotated if i != "kopf" or rep >= cfg.first_rep + cfg.reps - cfg.kopf_reps)


async def run(cfg: Config) -> dict[str, Any]:
    go_manager()  # built (and cached) before anything is timed
    began = time.monotonic()
    loads = [os.getloadavg()[0]]
    # The last repetition keeps every implementation's AppServices (2 pods each) for the steady state.
    nodes = max(1, math.ceil(cfg.apps * 2 * len(cfg.impls) * 1.2 / 110))
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-operator-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    ports = min(65535, max(39999, 30000 + cfg.apps * len(cfg.impls) + 1000))
    policy = work / "audit-policy.json"
    audit_policy(policy, [f"system:serviceaccount:{SA_NAMESPACE}:{impl}" for impl in IMPLS])
    audit_log = work / "audit.log"
    plane = ControlPlane(
        ControlPlaneOptions(
            controller_manager=True,
            nodes=nodes,
            service_cluster_ip_range="10.0.0.0/16",
            apiserver_args=(
                f"--audit-policy-file={policy}",
                f"--audit-log-path={audit_log}",
                # never rotated (its default: at 100 MB, which three kopf runs at 1,000 reach)
                "--audit-log-maxsize=1000000",
                # one node port per AppService (NodePort Services), every run's kept till its
                # namespace goes; 10,000 ports ran out at the 10,000th (its warm-up took one)
                f"--service-node-port-range=30000-{ports}",
            ),
            # kube-controller-manager's client at 20 QPS would pace every implementation alike.
            controller_manager_args=("--kube-api-qps=500", "--kube-api-burst=1000"),
            # etcd's 2 GB default quota: 10,000 AppServices (20,000 pods, their ReplicaSets, Events and
            # 5 minutes of history between kube-apiserver's compactions) may near it; 8 GB, as etcd
            # documents for large clusters, so that the alarm cannot end a run.
            etcd_args=("--quota-backend-bytes=8589934592",),
            start_timeout=180,
        )
    ).start()
    log(f"control plane up: {nodes} kwok nodes")
    runs: list[Result] = []
    failures: list[dict[str, Any]] = []
    profiled: dict[str, float] = {}
    try:
        kubectl = Kubectl(plane.kubeconfig)
        kubeconfigs = await setup(plane, kubectl)
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            b = Bench(api, kubectl, Audit(audit_log), kubeconfigs, cfg, work)
            for rep in range(cfg.first_rep, cfg.first_rep + cfg.reps):
                last = rep == cfg.first_rep + cfg.reps - 1
                live: Live = {}

                async def one(
                    impl: str, rep: int = rep, last: bool = last, live: Live = live, final: bool = False
                ) -> None:
                    loads.append(os.getloadavg()[0])
                    log(f"rep {rep}: {impl}")
                    try:
                        result, op = await one_run(b, impl, rep, keep=last and cfg.idle > 0)
                        runs.append(result)
                        partial = {"config": cfg.__dict__, "runs": runs, "failures": failures}
                        (work / "partial.json").write_text(json.dumps(partial))  # a look before the end
                        if op is not None:
                            live[impl] = (result, op)
                    except (RuntimeError, TimeoutError) as exc:  # reported as failed; the others go on
                        log(f"{impl} rep {rep} failed: {exc}")
                        failures.append({"impl": impl, "rep": rep, "error": str(exc)[-2000:]})
                    # The garbage collector's work on N AppServices' children, before the next run (none
                    # after the last: the control plane stops).
                    if not (last and cfg.idle > 0) and not final:
                        settle = cfg.settle if cfg.settle is not None else max(30.0, cfg.apps / 10)
                        await wait_gone(kubectl, Spread.of(cfg, impl, rep).namespaces, settle)

                if cfg.concurrent:
                    await asyncio.gather(*(one(impl) for impl in order(cfg, rep)))
                else:
                    impls = order(cfg, rep)
                    for impl in impls:
                        await one(impl, final=last and not cfg.profile and impl == impls[-1])
                try:
                    if live:
                        await steady_state(b, live)
                except RuntimeError as exc:
                    failures.append({"impl": "steady state", "rep": rep, "error": str(exc)[-2000:]})
                finally:
                    await asyncio.gather(*(asyncio.to_thread(op.stop) for _, op in live.values()))
            loads.append(os.getloadavg()[0])
            if cfg.profile:
                profiled = await profile_run(b)
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
        "knobs": KNOBS
        | ({"floor": f"{KNOBS['floor']}; the Events too (--floor-events)"} if cfg.floor_events else {}),
        "profile": profiled,
    }


async def profile_run(b: Bench) -> dict[str, float]:
    """One more kubeloop run, untimed, under cProfile (repetition 0): its own time by layer."""
    log("profile: kubeloop under cProfile")
    stats = b.work / "kubeloop.prof"
    try:
        await one_run(b, "kubeloop", 0, keep=False, profile=stats)
    except (RuntimeError, TimeoutError) as exc:
        log(f"profile run failed: {exc}")
        return {}
    return by_layer(stats)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from a run made in parts (each part its own repetitions, --first-rep apart, on a
    control plane of its own): the runs together, the parts' loads and minutes combined."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if len({p["config"]["apps"] for p in parts}) > 1:
        raise ValueError("the parts ran different numbers of AppServices")
    runs = [r for p in parts for r in p["runs"]]
    reps = len({r["rep"] for r in runs})
    kopf = len({r["rep"] for r in runs if r["impl"] == "kopf"})
    impls = [i for i in IMPLS if any(r["impl"] == i for r in runs)]
    idle = max(p["config"]["idle"] for p in parts)  # the part with the steady state
    return first | {
        "config": first["config"] | {"reps": reps, "kopf_reps": kopf, "impls": impls, "idle": idle},
        "runs": runs,
        "failures": [f for p in parts for f in p["failures"]],
        "minutes": sum(p["minutes"] for p in parts),
        "load": {
            "min": min(p["load"]["min"] for p in parts),
            "median": statistics.median(p["load"]["median"] for p in parts),
            "max": max(p["load"]["max"] for p in parts),
        },
        "profile": next((p["profile"] for p in parts if p.get("profile")), {}),
        "date": merged_date([p["date"] for p in parts]),
    }


def merged_date(dates: list[str]) -> str:
    """The span of a run in parts, from the first part's start to the last's end; a part that is
    itself a merge counts as its own parts (merging results merged before reads as one run)."""
    spans = [re.fullmatch(r"(.+?)(?: to (.+) in (\d+) parts)?", d) for d in dates]
    count = sum(int(m[3]) if m and m[3] else 1 for m in spans)
    start = spans[0][1] if spans[0] else dates[0]
    end = (spans[-1][2] or spans[-1][1]) if spans[-1] else dates[-1]
    return f"{start} to {end} in {count} parts"


def config(args: argparse.Namespace) -> Config:
    """The quick run (make bench-quick: a few minutes) or the full one, with what was given."""
    quick = args.quick
    reps = args.reps
    apps = args.apps or (50 if quick else 1000)
    return Config(
        apps=apps,
        reps=reps,
        idle=args.idle if args.idle is not None else (120.0 if quick else 600.0),
        latency=args.latency if args.latency is not None else (20 if quick else 50),
        timeout=args.timeout,
        impls=tuple(args.impls.split(",")),
        kopf_reps=min(reps, args.kopf_reps if args.kopf_reps is not None else (1 if quick else reps)),
        concurrent=args.concurrent,
        profile=args.profile,
        floor_events=args.floor_events,
        first_rep=args.first_rep,
        # Quick: a run's namespace is waited for at most 5 s, not 30: deleting 50 AppServices' children
        # is little work beside the next run, and the wait was 15-32 s after each of the 10 runs.
        settle=5.0 if quick else None,
        phases=tuple(p for p in args.phases.split(",") if p),
        # One namespace per 1,000 AppServices: the 1,000 runs as before, 10,000 over 10 namespaces.
        namespaces=args.namespaces or math.ceil(apps / 1000),
    )


def main() -> None:
    from report import render

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="50 apps, kopf once, 2 min steady state")
    parser.add_argument("--apps", type=int, default=None, help="AppServices (default 1000, quick 50)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--namespaces",
        type=int,
        default=None,
        help="namespaces a run's AppServices are spread over (default: one per 1,000)",
    )
    parser.add_argument("--kopf-reps", type=int, default=None, help="default: all (quick: 1)")
    parser.add_argument("--idle", type=float, default=None, help="seconds of steady state (600, quick 120)")
    parser.add_argument("--latency", type=int, default=None, help="latency samples per run (50, quick 20)")
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--profile", action="store_true", help="one more kubeloop run under cProfile")
    parser.add_argument(
        "--floor-events", action="store_true", help="the floor posts the Event the frameworks post (--events)"
    )
    parser.add_argument(
        "--concurrent", action="store_true", help="a repetition's implementations at once (smoke test only)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument(
        "--summary", type=Path, default=None, help="default: docs/benchmarks.md for the default --out"
    )
    parser.add_argument("--results", type=Path, default=HERE / "last_results.json", help="JSON written")
    parser.add_argument("--first-rep", type=int, default=1, help="number of the first repetition")
    parser.add_argument(
        "--phases",
        default="update,latency,cold",
        help="what follows each converge: update, latency, cold (a part at 10,000 AppServices: fewer)",
    )
    parser.add_argument("--render", type=Path, default=None, help="re-render a results JSON")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="render the runs of several results JSON as one"
    )
    parser.add_argument("--notes", type=Path, default=None, help="Markdown put under *Where the time goes*")
    parser.add_argument(
        "--scale",
        type=Path,
        default=None,
        help="results JSON of runs at another size (10,000): their own section",
    )
    args = parser.parse_args()
    if args.merge:  # the merged results are written too, for a later --render or --merge
        results = merge([json.loads(path.read_text()) for path in args.merge])
        args.results.write_text(json.dumps(results))
    elif args.render:
        results = json.loads(args.render.read_text())
    else:
        results = asyncio.run(run(config(args)))
        results["mode"] = "concurrent smoke" if args.concurrent else "quick" if args.quick else "full"
        args.results.write_text(json.dumps(results))
    if args.notes:
        results["notes"] = args.notes.read_text().strip()
    if args.scale:  # the runs at another size, a section of their own
        results["scale"] = json.loads(args.scale.read_text())
    default_out = args.out == parser.get_default("out")
    summary = args.summary or (ROOT / "docs" / "benchmarks.md" if default_out else None)
    render(results, args.out, summary)


if __name__ == "__main__":
    main()
