"""The chaos suite (issue 14): the AppService operator, as shipped, run as a separate process under its
generated RBAC with a service-account token, through one fault at a time while AppServices are
created, resized and partly deleted; after each, every AppService has converged to its spec (object by
object), no child is duplicated, orphaned or wrongly deleted, the operator has not exited on its own,
its requests at kube-apiserver stay within 2x of what the run asked of it (budget.py: the AppService
changes, the Deployments' ready-replica changes, the Lease over the run's time, and what the fault itself
asks for, such as a competing writer's corrections), and its metrics or logs say what happened. The
table of all runs is printed and written with its rows as JSON (build/chaos/ for the full form;
docs/reliability.md's results are published from those files).

``KUBELOOP_CHAOS=full`` (``make test-chaos``) runs 1,000 AppServices; otherwise a short form runs
inside ``make test`` (16 AppServices, every scenario but 1a, the gentler of 1a/1b).
``KUBELOOP_CHAOS_SCENARIOS=all`` runs every scenario at either size, a comma-separated list of ids the
ones named, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from budget import Asked
from harness import (
    APP_REF,
    FULL,
    LEASE,
    OPERATOR_SA,
    PLANTED_SECRET,
    SHORT,
    ApiErrorCount,
    ChaosCluster,
    OperatorProcess,
    RequestMeter,
    Scale,
    Witness,
    Workload,
    background,
    count_lines,
    divergences,
    duplicates_and_orphans,
    leaked_secrets,
    ready_condition,
    scale_from_env,
    snapshot,
)
from misbehaving_operator import BEHAVIOUR
from report import Row, write_report

from kubeloop.client import ApiError, Client, ClientSettings
from kubeloop.errors import ComponentError
from kubeloop.testing import FaultProxy, Faults

SCALE = scale_from_env()
pytestmark = pytest.mark.timeout(3600 if SCALE.form == "full" else 600)


@dataclass
class Run:
    """One scenario's run: its namespace, the proxy in front of the operator, the operator's replicas."""

    cluster: ChaosCluster
    scale: Scale
    namespace: str
    api: Client
    proxy: FaultProxy
    kubeconfig: Path
    logs: Path
    target: str | None = None
    lease: dict[str, float] = field(default_factory=lambda: dict(LEASE))
    operators: list[OperatorProcess] = field(default_factory=list)
    fault_over: asyncio.Event = field(default_factory=asyncio.Event)
    fault_over_at: float = 0.0
    workload_started: asyncio.Event = field(default_factory=asyncio.Event)
    failover_gap: float | None = None
    main: asyncio.Task[Any] | None = None  # the run's own task, cancelled when its fault fails
    fault_error: BaseException | None = None
    notes: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # what the run must show; checked at the end
    load: list[float] = field(default_factory=list)  # the machine's 1-minute load average, every 2 s
    demanded: int = 0  # requests the fault itself asks of the operator, added to its request budget

    async def start_operator(self) -> OperatorProcess:
        log = self.logs / f"operator-{len(self.operators)}.log"
        op = OperatorProcess(self.kubeconfig, self.namespace, log, self.target, self.lease)
        self.operators.append(op)
        op.start()
        return op

    def over(self) -> None:
        self.fault_over_at = time.monotonic()
        self.fault_over.set()

    def fault_failed(self, error: BaseException) -> None:
        """The fault could not be done (kube-apiserver did not come back from a restart, say): the run
        stops at once with the reason, instead of waiting for a convergence that cannot come."""
        self.fault_error = error
        if self.main is not None:
            self.main.cancel()

    async def scrape_all(self) -> None:
        await asyncio.gather(*(op.scrape() for op in self.operators if op.running))

    async def scrape_loop(self) -> None:
        while True:
            self.load.append(os.getloadavg()[0])
            await self.scrape_all()
            await asyncio.sleep(2.0)


Fault = Callable[[Run], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    fault: Fault
    replicas: int = 1
    target: str | None = None
    prepare: Callable[[Run, Workload], Awaitable[None]] | None = None
    check: Callable[[Run, Workload, dict[str, Any]], list[str]] | None = None
    lease: dict[str, float] = field(default_factory=lambda: dict(LEASE))


# -- the faults ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def no_fault(run: Run) -> AsyncIterator[None]:
    run.over()
    yield


def cut_every(seconds: float) -> Fault:
    @contextlib.asynccontextmanager
    async def fault(run: Run) -> AsyncIterator[None]:
        run.proxy.cut_every(seconds)
        run.over()  # it goes on while the operator converges
        try:
            yield
        finally:
            run.proxy.cut_every(None)
            run.notes.append(f"{run.proxy.stats.cuts} cuts, {run.proxy.stats.cut_connections} connections")

    return fault


@contextlib.asynccontextmanager
async def error_share(run: Run) -> AsyncIterator[None]:
    run.proxy.faults = Faults(error_share=0.2)
    run.over()
    try:
        yield
    finally:
        run.proxy.faults = Faults()
        answered = run.proxy.stats.errors
        run.notes.append(", ".join(f"{n}x{code}" for code, n in sorted(answered.items())) + " injected")


def bounded(
    count: int, gap: Callable[[Scale], float], action: Callable[[Run, int], Awaitable[None]]
) -> Fault:
    """A fault that happens ``count`` times, ``gap`` s apart, from the workload's start; then it is over."""

    @contextlib.asynccontextmanager
    async def fault(run: Run) -> AsyncIterator[None]:
        async def go() -> None:
            try:
                await run.workload_started.wait()
                for n in range(count):
                    await asyncio.sleep(gap(run.scale))
                    await action(run, n)
            except Exception as exc:
                run.fault_failed(exc)
            finally:
                run.over()

        async with background(go()):
            yield

    return fault


RESTART_WITHIN = 300.0  # a crashed start is started again until then (see ControlPlane.restart)


async def restart_apiserver(run: Run, n: int) -> None:
    await asyncio.to_thread(run.cluster.plane.restart_apiserver, within=RESTART_WITHIN)


async def restart_etcd(run: Run, n: int) -> None:
    await asyncio.to_thread(run.cluster.plane.restart_etcd, within=RESTART_WITHIN)


OPERATOR_WATCHES = 3  # AppServices, Deployments, Services


async def compact(run: Run, n: int) -> None:
    """Compact etcd and cut the operator's connections: each of its watches resumes from a compacted
    resourceVersion, so each asks for three requests (the watch answered 410, a list, a new watch),
    added to its request budget."""
    await asyncio.to_thread(run.cluster.plane.compact_etcd)
    run.proxy.cut()  # the operator's watches resume from their last resourceVersion, now compacted
    run.demanded += 3 * OPERATOR_WATCHES


async def kill_and_restart(run: Run, n: int) -> None:
    victim = run.operators[-1]
    victim.kill()
    replacement = await run.start_operator()
    await replacement.wait_ready()


async def leases(run: Run) -> dict[str, Any]:
    found = await run.api.list("leases.coordination.k8s.io", namespace=run.namespace)
    return {item["metadata"]["name"]: item["spec"] for item in found["items"]}


async def kill_leader(run: Run, n: int) -> None:
    await run.scrape_all()
    leaders = [op for op in run.operators if op.leading()]
    assert len(leaders) == 1, f"{len(leaders)} replicas lead"
    before = {name: spec.get("holderIdentity") for name, spec in (await leases(run)).items()}
    leaders[0].kill()
    killed_at = time.monotonic()
    while True:
        now = {name: spec.get("holderIdentity") for name, spec in (await leases(run)).items()}
        if any(now.get(name) not in (None, holder) for name, holder in before.items()):
            break
        if time.monotonic() - killed_at > 60:
            raise AssertionError("no replica took the lease over within 60 s")
        await asyncio.sleep(0.1)
    run.failover_gap = time.monotonic() - killed_at


@contextlib.asynccontextmanager
async def competing_writer(run: Run) -> AsyncIterator[None]:
    """Another writer edits the operator's Deployments: plain updates, an update from a stale
    resourceVersion (409 for it), server-side apply of spec.replicas without force (a field-manager
    conflict) and with force (it takes the field over), and annotations on the AppServices. Each edit
    that lands asks the operator for two requests (the write that puts the Deployment back, the Event
    saying so): they are added to its request budget, so that only fighting beyond that fails."""
    conflicts = {"stale update": 0, "apply without force": 0}
    edits = 0

    async def one(dep: dict[str, Any]) -> None:
        nonlocal edits
        name, ns = dep["metadata"]["name"], run.namespace
        with contextlib.suppress(ApiError):
            await run.api.patch("deployments.apps", name, {"spec": {"replicas": 5}}, namespace=ns)
            edits += 1
        try:
            stale = {**dep, "apiVersion": "apps/v1", "kind": "Deployment"}  # a list's items carry neither
            await run.api.replace({**stale, "spec": {**dep["spec"], "replicas": 4}})
            edits += 1
        except ApiError as exc:
            if exc.code == 409:
                conflicts["stale update"] += 1
        apply = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 3},
        }
        try:
            await run.api.apply(apply, field_manager="competitor")
            edits += 1
        except ApiError as exc:
            if exc.code == 409:
                conflicts["apply without force"] += 1
        with contextlib.suppress(ApiError):
            await run.api.apply(apply, field_manager="competitor", force=True)
            edits += 1
        with contextlib.suppress(ApiError):
            await run.api.patch(
                APP_REF, name, {"metadata": {"annotations": {"chaos/poke": str(edits)}}}, namespace=ns
            )

    async def go() -> None:
        try:
            await run.workload_started.wait()
            ends = time.monotonic() + (60 if run.scale.form == "full" else 10)
            while time.monotonic() < ends:
                deps = (await run.api.list("deployments.apps", namespace=run.namespace))["items"]
                for dep in deps[::3]:
                    await one(dep)
                await asyncio.sleep(0.5 if run.scale.form == "full" else 2.0)  # 16 apps: passes are quick
        except Exception as exc:
            run.fault_failed(exc)
            return
        finally:
            run.demanded = 2 * edits
            run.over()
        run.notes.append(
            f"{edits} competing edits ({run.demanded} requests asked of the operator); 409s: "
            + ", ".join(f"{k} {v}" for k, v in conflicts.items())
        )
        for what, n in conflicts.items():
            if not n:
                run.evidence.append(f"the competing writer's {what} never met a 409")

    async with background(go()):
        yield


# -- scenario 9: misbehaving reconciles and refused objects beside healthy ones ----------------------


async def misbehaving_apps(run: Run, workload: Workload) -> None:
    refused = max(2, run.scale.apps // 10)
    run.proxy.faults = Faults(
        error_share=1.0,
        error_codes=(500,),
        only=rf"^PATCH /api/v1/namespaces/{run.namespace}/services/refused-",
    )
    for behaviour in ("hang", "cancel"):
        name = f"{behaviour}-0"
        await workload.create(run.api, name, 1, {BEHAVIOUR: behaviour})
        workload.excluded[name] = behaviour
    for i in range(2):
        name = f"early-return-{i}"
        await workload.create(run.api, name, 1, {BEHAVIOUR: "early-return"})
    for i in range(refused):
        name = f"refused-{i:04d}"
        await workload.create(run.api, name, 1)
        workload.excluded[name] = "its Service refused with 500"

    async def children_of_early_returners() -> bool:
        deps = (await run.api.list("deployments.apps", namespace=run.namespace))["items"]
        return sum(1 for d in deps if d["metadata"]["name"].startswith("early-return-")) == 2

    deadline = time.monotonic() + run.scale.converge_within
    while not await children_of_early_returners():
        if time.monotonic() > deadline:
            run.evidence.append("the early-returning apps never got their first children")
            return
        await asyncio.sleep(0.5)
    for i in range(2):  # a new generation: the reconcile now returns early, its children present
        name = f"early-return-{i}"
        await workload.resize(run.api, name, 0)
        workload.excluded[name] = "returns early by design"


def refused_report_why(run: Run, workload: Workload, apps: dict[str, Any]) -> list[str]:
    problems = []
    for name in (n for n in workload.excluded if n.startswith("refused-")):
        cond = ready_condition(apps.get(name) or {}) or {}
        if cond.get("status") != "False" or (
            "500" not in json.dumps(cond) and "injected" not in json.dumps(cond)
        ):
            problems.append(f"{name}: Ready condition does not say why: {cond}")
    return problems


QUICK_LEASE = {"lease_duration": 6.0, "renew_deadline": 4.0, "retry_period": 1.0}
SCENARIOS = [
    Scenario("1a-cut-5s", "watches and connections cut every 5 s", cut_every(5.0)),
    Scenario("1b-cut-1s", "watches and connections cut every 1 s", cut_every(1.0)),
    Scenario("2-errors", "20 % of requests answered 429/500/503/504", error_share),
    Scenario(
        "3-apiserver-restarts",
        "kube-apiserver restarted three times (once in the short form)",
        bounded(
            3 if SCALE.form == "full" else 1, lambda s: 20.0 if s.form == "full" else 4.0, restart_apiserver
        ),
    ),
    Scenario(
        "4-etcd-restart",
        "etcd restarted once",
        bounded(1, lambda s: 20.0 if s.form == "full" else 3.0, restart_etcd),
    ),
    Scenario(
        "5-compaction",
        "etcd compacted repeatedly, watches resumed (410, relist)",
        bounded(5, lambda s: 10.0 if s.form == "full" else 2.0, compact),
    ),
    Scenario(
        "6-leader-failover",
        "two replicas, the leader SIGKILLed",
        bounded(1, lambda s: 15.0 if s.form == "full" else 3.0, kill_leader),
        replicas=2,  # kubeloop's default timing (LEASE): the gap must stay within lease + 2 s
    ),
    Scenario(
        "7-kill-restart",
        "the operator SIGKILLed and restarted",
        bounded(1, lambda s: 15.0 if s.form == "full" else 3.0, kill_and_restart),
        # The replacement waits out the killed one's lease before it leads; at kubeloop's default 15 s
        # that is most of the short form's run and proves nothing here (6 holds a failover to the
        # default timing).
        lease=LEASE if SCALE.form == "full" else QUICK_LEASE,
    ),
    Scenario("8-competing-writer", "a competing writer on the same Deployments", competing_writer),
    Scenario(
        "9-misbehaving",
        "a reconcile hanging, one raising CancelledError, one returning early; refused objects",
        no_fault,
        target="misbehaving_operator:operator",
        prepare=misbehaving_apps,
        check=refused_report_why,
    ),
]
FAULT_FREE = Scenario("0-fault-free", "no fault (the reference)", no_fault)

# What each run's logs or metrics must show: (pattern in the operator's logs, or a metric check).
LOG_EVIDENCE = {
    "1a-cut-5s": r"retrying in|relisting",
    "1b-cut-1s": r"retrying in|relisting",
    "3-apiserver-restarts": r"retrying in|relisting",
    "4-etcd-restart": r"retrying in|relisting|Internal|unavailable|timed out",
    "5-compaction": r"relisting",
    "6-leader-failover": r"acquired lease",
    "7-kill-restart": r"acquired lease",
}


# -- running one scenario -----------------------------------------------------------------------------


async def converge(run: Run, workload: Workload, started: float) -> tuple[float | None, list[str]]:
    """Seconds from ``started`` until every AppService matches its spec, or None and what still differs."""
    deadline = started + run.scale.converge_within
    problems: list[str] = ["not checked"]
    while time.monotonic() < deadline:
        try:
            problems = divergences(workload, *await snapshot(run.api, run.namespace))
        except ApiError as exc:
            problems = [f"listing failed: {exc}"]
        if not problems:
            return time.monotonic() - started, []
        await asyncio.sleep(run.scale.poll)
    return None, problems


async def pods_and_nodes(api: Client, namespace: str) -> str:
    """Where the pods are, for a run that did not converge: phases and Ready, ReplicaSets' count of
    ready pods, the nodes' Ready."""
    pods = (await api.list("pods", namespace=namespace))["items"]
    phases = Counter(
        (
            p["status"].get("phase"),
            next((c["status"] for c in p["status"].get("conditions") or () if c["type"] == "Ready"), "?"),
        )
        for p in pods
    )
    sets = (await api.list("replicasets.apps", namespace=namespace))["items"]
    ready_in_sets = sum((r.get("status") or {}).get("readyReplicas") or 0 for r in sets)
    nodes = {
        n["metadata"]["name"]: next(
            (c["status"] for c in n["status"].get("conditions") or () if c["type"] == "Ready"), "?"
        )
        for n in (await api.list("nodes"))["items"]
    }
    return (
        f"pods (phase, Ready): {dict(phases)}; ReplicaSets count {ready_in_sets} ready; nodes Ready: {nodes}"
    )


async def run_scenario(cluster: ChaosCluster, scenario: Scenario, logs: Path) -> tuple[Row, list[str]]:
    scale = cluster.scale
    began = dt.datetime.now(dt.UTC)
    ns = f"chaos-{scenario.id}"
    kubectl = cluster.kubectl
    for component in ("etcd", "kube-apiserver"):  # one that an earlier run left down fails this one only
        if await asyncio.to_thread(cluster.plane.ensure_running, component, within=RESTART_WITHIN):
            print(f"\n{component} was down after the previous run: started again", flush=True)
    await asyncio.to_thread(kubectl, "create", "namespace", ns)
    await asyncio.to_thread(
        kubectl, "create", "secret", "generic", "planted", "-n", ns, f"--from-literal=token={PLANTED_SECRET}"
    )
    leader_role = Path(__file__).parents[2] / "examples/appservice/config/rbac/leader_election_role.yaml"
    await asyncio.to_thread(kubectl, "apply", "-n", ns, "-f", str(leader_role))
    await asyncio.to_thread(
        kubectl,
        "create",
        "rolebinding",
        "leader-election",
        "-n",
        ns,
        "--role=leader-election-role",
        f"--serviceaccount=kubeloop-system:{OPERATOR_SA}",
    )
    problems: list[str] = []
    settings = ClientSettings(qps=None)
    async with await Client.load(cluster.plane.kubeconfig, settings=settings) as api:
        proxy = FaultProxy(cluster.operator_kubeconfig, seed=14).start()
        run = Run(
            cluster,
            scale,
            ns,
            api,
            proxy,
            proxy.kubeconfig(cluster.operator_kubeconfig, logs / "operator.kubeconfig"),
            logs,
            scenario.target,
            dict(scenario.lease),
        )
        run.main = asyncio.current_task()
        try:
            for _ in range(scenario.replicas):
                await run.start_operator()
            await asyncio.gather(*(op.wait_ready() for op in run.operators))
            meter = RequestMeter(cluster)
            await meter.sample()
            witness = Witness()
            workload = Workload(ns)
            watchers = [
                witness.watch(api, ns, "deployments.apps", "Deployment"),
                witness.watch(api, ns, "services", "Service"),
                witness.watch(api, ns, APP_REF, "AppService"),
            ]
            async with background(meter.run(), run.scrape_loop(), *watchers):
                async with scenario.fault(run):
                    if scenario.prepare is not None:
                        await scenario.prepare(run, workload)
                    run.workload_started.set()
                    await workload.run(api, scale)
                    workload_done = time.monotonic()
                    await asyncio.wait_for(run.fault_over.wait(), scale.converge_within + 600)
                    started = max(workload_done, run.fault_over_at)
                    converge_seconds, diverged = await converge(run, workload, started)
                    await meter.sample()  # requests up to convergence: waiting for garbage collection is not
                    requests = meter.total  # the fault's doing
                    asked = Asked(
                        workload.changes,
                        witness.ready_changes,
                        meter.seconds,
                        scenario.replicas,
                        run.lease["retry_period"],
                        run.demanded,
                    )
                if diverged:
                    problems.append(f"not converged within {scale.converge_within:.0f} s: {diverged[:8]}")
                    problems.append(await pods_and_nodes(api, ns))
                # once the fault is over: children of deleted apps garbage-collected, none duplicated
                deadline = time.monotonic() + 60
                while True:
                    apps, deps, svcs = await snapshot(api, ns)
                    duplicates, orphans = duplicates_and_orphans(apps, deps, svcs)
                    if not orphans or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(1.0)
                problems += [f"duplicated: {d}" for d in duplicates] + [f"orphaned: {o}" for o in orphans]
                if scenario.check is not None:
                    problems += scenario.check(run, workload, apps)
                await meter.sample()
                await run.scrape_all()
            proxy.stop()
            exited = [op for op in run.operators if op.exited_on_its_own()]
            problems += [
                f"the operator exited on its own with {op.proc.returncode}: {op.tail(5)}" for op in exited
            ]
            for op in run.operators:
                if not op.ended_by_us and (code := op.stop()) != 0:
                    problems.append(f"the operator ended with {code} on SIGTERM: {op.tail(5)}")
        except asyncio.CancelledError:
            if run.fault_error is None:
                raise
            assert run.main is not None
            run.main.uncancel()
            raise AssertionError(f"{scenario.id}: the fault failed: {run.fault_error}") from run.fault_error
        finally:  # however the run ends, no process it started outlives it
            proxy.stop()
            for op in run.operators:
                op.stop(grace=10)

    deleted_uids = {workload.uids[n] for n in workload.deleted if n in workload.uids}
    lost_children = [
        f"{kind} {name}"
        for kind, name, owner in witness.children
        if owner is not None and owner not in deleted_uids
    ]
    lost_apps = [n for n, _ in witness.apps if n not in workload.deleted]
    lost_apps += [n for n in workload.expected if n not in apps and n not in lost_apps]
    lost = lost_children + [f"AppService {n}" for n in lost_apps]
    problems += [f"lost: {what}" for what in lost]

    op_logs = [op.log for op in run.operators]
    relists = count_lines(op_logs, r"relisting")
    failed, reconcile_errors = (
        sum(x) for x in zip(*(ApiErrorCount.of(op.last_metrics) for op in run.operators), strict=True)
    )
    pattern = LOG_EVIDENCE.get(scenario.id)
    if pattern and not count_lines(op_logs, pattern):
        problems.append(f"no log line of the operator matches {pattern!r}")
    if scenario.id == "2-errors" and not failed:
        problems.append("the operator's metrics count no failed request")
    if scenario.id == "9-misbehaving" and not reconcile_errors:
        problems.append("the operator's metrics count no reconcile error")
    if scenario.id == "6-leader-failover":
        limit = scenario.lease["lease_duration"] + 2
        if run.failover_gap is None or run.failover_gap > limit:
            problems.append(f"failover took {run.failover_gap} s, more than lease duration + 2 s ({limit} s)")
    problems += run.evidence
    if over := asked.over(requests):
        problems.append(over)
    secrets = [PLANTED_SECRET, cluster.token]
    problems += leaked_secrets([*op_logs, *sorted(cluster.plane.log_dir.glob("*.log"))], secrets)
    await asyncio.to_thread(kubectl, "delete", "namespace", ns, "--wait=false")

    row = Row(
        scenario=scenario.id,
        title=scenario.title,
        converge_seconds=converge_seconds,
        requests=requests,
        relists=relists,
        failed_requests=failed,
        reconcile_errors=reconcile_errors,
        failover_gap=run.failover_gap,
        objects_lost=len(lost),
        notes="; ".join(run.notes),
        demanded=run.demanded,
        asked=asked.requests,
        load=sum(run.load) / len(run.load) if run.load else None,
        started=f"{began:%Y-%m-%d %H:%M:%S}",
        ended=f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}",
    )
    print(f"\n{row.scenario} ({row.started} - {row.ended} UTC): " + " | ".join(row.cells()[1:]), flush=True)
    print(f"{row.scenario} budget: {requests} of {asked.budget} requests ({asked})", flush=True)
    if row.notes:
        print(f"{row.scenario} notes: {row.notes}", flush=True)
    return row, problems


# -- the tests ----------------------------------------------------------------------------------------

ROWS: dict[str, Row] = {}


@pytest.fixture(scope="module")
def cluster() -> Iterator[ChaosCluster]:
    started = ChaosCluster.start(SCALE)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if ROWS:
        write_report(SCALE, list(ROWS.values()))


def reference_row(path: Path) -> Row:
    """The fault-free row of an earlier part's rows (``KUBELOOP_CHAOS_REFERENCE=build/chaos/....json``),
    so that a later part of the same full run, at the same commit, spends its locked time on faults;
    the table shows it as that part's reference row."""
    record = json.loads(path.read_text())
    if record["form"] != SCALE.form:
        raise ValueError(f"{path}: the reference of a {record['form']} run, not of this {SCALE.form} one")
    row = Row(**next(r for r in record["rows"] if r["scenario"] == FAULT_FREE.id))
    row.notes = f"from {path.name} (kubeloop {record['commit']})"
    return row


@pytest.fixture(scope="module")
async def fault_free(cluster: ChaosCluster, tmp_path_factory: pytest.TempPathFactory) -> Row:
    if reference := os.environ.get("KUBELOOP_CHAOS_REFERENCE"):
        ROWS[FAULT_FREE.id] = row = reference_row(Path(reference))
        return row
    row, problems = await run_scenario(cluster, FAULT_FREE, tmp_path_factory.mktemp(FAULT_FREE.id))
    ROWS[row.scenario] = row
    assert not problems, problems
    return row


async def test_the_operator_runs_as_its_service_account_with_only_the_generated_role(
    cluster: ChaosCluster,
) -> None:
    from kubeloop.testing import Kubectl

    as_operator = Kubectl(cluster.operator_kubeconfig)
    who = await asyncio.to_thread(as_operator.json, "auth", "whoami")
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:kubeloop-system:{OPERATOR_SA}"
    for verb, resource in (
        ("get", "secrets"),
        ("list", "secrets"),
        ("create", "pods"),
        ("delete", "appservices.app.example.com"),
    ):
        answer = await asyncio.to_thread(as_operator, "auth", "can-i", verb, resource, "-A", check=False)
        assert answer.stdout.strip() == "no", (verb, resource)


async def test_a_run_whose_fault_fails_stops_at_once_with_the_reason_and_leaves_no_process_behind(
    cluster: ChaosCluster, tmp_path: Path
) -> None:
    started: list[OperatorProcess] = []

    async def broken(run: Run, n: int) -> None:  # as ControlPlane.restart fails
        started.extend(run.operators)
        raise ComponentError("kube-apiserver", "not healthy again after 3 start(s)", details="F1205 ...")

    failing = Scenario("x-fault-fails", "a fault that cannot be done", bounded(1, lambda s: 0.0, broken))
    began = time.monotonic()
    try:
        with pytest.raises(AssertionError, match="the fault failed: kube-apiserver: not healthy again"):
            await run_scenario(cluster, failing, tmp_path)
        assert time.monotonic() - began < cluster.scale.converge_within, "it waited for convergence"
        assert started
        assert [op.proc.exited for op in started] == [True] * len(started)
    finally:
        for op in started:
            op.proc.kill()
        await asyncio.to_thread(cluster.kubectl, "delete", "namespace", f"chaos-{failing.id}", "--wait=false")


# The short form (inside make test, about 7 minutes on 2 cores) runs every scenario, the harsher of the
# pair 1a/1b, and kube-apiserver restarted once instead of three times (each restart costs ~40 s).
SHORT_FORM = {
    "1b-cut-1s",
    "2-errors",
    "3-apiserver-restarts",
    "4-etcd-restart",
    "5-compaction",
    "6-leader-failover",
    "7-kill-restart",
    "8-competing-writer",
    "9-misbehaving",
}


def chosen() -> list[Scenario]:
    """The scenarios to run: ``KUBELOOP_CHAOS_SCENARIOS=all``, or ids in the order to run them
    (``6-leader-failover,1b-cut-1s``); by default every one in the full form, the short form's nine
    otherwise."""
    wanted = os.environ.get("KUBELOOP_CHAOS_SCENARIOS", "")
    if wanted == "all" or (not wanted and SCALE.form == "full"):
        return SCENARIOS
    if not wanted:
        return [s for s in SCENARIOS if s.id in SHORT_FORM]
    by_id = {s.id: s for s in SCENARIOS}
    unknown = [w for w in wanted.split(",") if w not in by_id]
    if unknown:
        raise ValueError(f"KUBELOOP_CHAOS_SCENARIOS: no scenario {unknown}; there are {sorted(by_id)}")
    return [by_id[w] for w in wanted.split(",")]


RUN = chosen()


@pytest.mark.parametrize("scenario", RUN, ids=[s.id for s in RUN])
async def test_scenario(scenario: Scenario, cluster: ChaosCluster, fault_free: Row, tmp_path: Path) -> None:
    row, problems = await run_scenario(cluster, scenario, tmp_path)
    row.baseline_requests = fault_free.requests
    ROWS[row.scenario] = row
    reference, took = fault_free.converge_seconds, row.converge_seconds
    if (
        scenario.id == "9-misbehaving"
        and reference is not None
        and took is not None
        and took > 2 * reference + 10
    ):
        problems.append(f"healthy apps converged in {took:.1f} s, fault-free in {reference:.1f} s")
    assert not problems, "\n".join(problems)


def test_the_request_budget_counts_what_the_run_asked() -> None:
    """Scenario 4 of a short form at load 21 (2026-12-07 03:14 UTC): 389 requests, over the old bound
    (2x the fault-free run's 149) but within twice what it asked for; a run that asks the same and
    makes more than twice that is over."""
    asked = Asked(app_changes=25, ready_changes=21, seconds=57.0, replicas=1, retry_period=2.0, demanded=0)
    assert asked.requests == 25 * 4 + 21 * 2 + 57 + 0
    assert asked.over(389) is None
    assert asked.over(2040) == (
        "2040 requests, more than 2x the 199 the run asked for (25 AppService changes x 4, 21"
        " ready-replica changes x 2, 57 s of 1 replica(s) with the Lease every 2 s x 2, 0 the fault"
        " asked for)"
    )
    assert Asked(25, 21, 57.0, 2, 1.0, demanded=45).requests == 100 + 42 + 228 + 45


@pytest.mark.long  # one more run (make test-long); how fast it loops depends on the CPU it gets
async def test_an_operator_that_loops_goes_over_its_request_budget(
    cluster: ChaosCluster, tmp_path: Path
) -> None:
    """The budget still catches an operator that loops: each pass of this one changes its children,
    which brings the next pass."""
    looping = Scenario(
        "x-looping", "every pass changes its children", no_fault, target="looping_operator:operator"
    )
    row, problems = await run_scenario(cluster, looping, tmp_path)
    over = [p for p in problems if "requests, more than 2x the" in p]
    assert over, f"{row.requests} requests within the budget of {2 * row.asked}: {problems}"


def test_the_report_keeps_every_part_and_its_rows(tmp_path: Path) -> None:
    """A full run done in parts: each part's table and rows are written beside the others' (the full
    form rewrote docs/reliability.md below a marker, dropping every earlier session's table)."""
    doc = Path(__file__).parents[2] / "docs" / "reliability.md"
    before = doc.read_text()
    rows = [
        Row("0-fault-free", "no fault", 12.5, 200, 0, 1, 0, None, 0, load=3.0, started="2026-12-05 22:00:00"),
        Row("1b-cut-1s", "cut", None, 250, 2, 9, 1, None, 0, "17 cuts", 200, 4.0),
    ]
    first = write_report(FULL, rows, tmp_path)
    time.sleep(1.1)
    second = write_report(FULL, rows[:1], tmp_path)
    assert first != second
    assert first.exists()
    assert second.exists()
    assert "| 1b-cut-1s: cut | did not converge | 250 (1.25x) | 2 | 9 / 1 |  | 0 | 4.0 |" in first.read_text()
    record = json.loads(first.with_suffix(".json").read_text())
    assert record["form"] == "full"
    assert record["apps"] == 1000
    assert [r["scenario"] for r in record["rows"]] == ["0-fault-free", "1b-cut-1s"]
    assert record["rows"][0]["started"] == "2026-12-05 22:00:00"
    assert record["rows"][1]["notes"] == "17 cuts"
    assert doc.read_text() == before


def test_a_part_can_take_its_reference_from_an_earlier_part(tmp_path: Path) -> None:
    row = Row("0-fault-free", "no fault", 248.9, 5246, 0, 4, 0, None, 0, load=9.3, started="x")
    written = write_report(SCALE, [row], tmp_path)
    run_rows = dict(ROWS)
    again = reference_row(written.with_suffix(".json"))
    assert run_rows == ROWS  # the run's own table keeps its reference (it printed this one's 248.9 s)
    assert again.requests == 5246
    assert again.converge_seconds == 248.9
    assert again.notes.startswith(f"from {written.with_suffix('.json').name}")
    other = FULL if SCALE.form == "short" else SHORT
    written = write_report(other, [row], tmp_path / "other")
    with pytest.raises(ValueError, match="reference of a"):
        reference_row(written.with_suffix(".json"))
