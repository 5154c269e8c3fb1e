"""The chaos suite's harness: the cluster, the operator as a separate process under its generated RBAC,
the workload of AppServices, the observers (deletions, the API server's request count, the operator's
metrics and logs) and the checks run after each scenario."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import ssl
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.client import AlreadyExistsError, Client, GoneError, NotFoundError
from kubeloop.errors import KubeloopError
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, wait_for_crds
from kubeloop.testing.process import ManagedProcess, free_port, http_ok

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "appservice"
CRD = EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"
APPS = "appservices.app.example.com"
APP_REF = "app.example.com/v1/AppService"
OPERATOR_NS = "kubeloop-system"
OPERATOR_SA = "appservice-operator"
FLOW_SCHEMA = "kubeloop-chaos-operator"
LEASE = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}  # kubeloop's defaults
IMAGES = ("nginx:1.27", "nginx:1.28")
PLANTED_SECRET = "planted-secret-value-3f9c1e7d5b"  # in a Secret of every scenario's namespace


@dataclass(frozen=True)
class Scale:
    """How big a run is: the full form (``make test-chaos``) or the short one inside ``make test``."""

    form: str
    apps: int
    resize_every: int  # every n-th app is resized (size + 1, and every other one a new image)
    delete_every: int  # every n-th app is deleted
    converge_within: float
    poll: float  # seconds between two checks of convergence
    pods_per_node: int = 110

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.apps * 2.5 / self.pods_per_node))


SHORT = Scale("short", apps=16, resize_every=3, delete_every=5, converge_within=90, poll=1.0)
# The full form checks every 5 s: listing 3,000 objects every second loaded the process that also
# runs the fault proxy.
FULL = Scale("full", apps=1000, resize_every=3, delete_every=5, converge_within=900, poll=5.0)


def scale_from_env() -> Scale:
    """``KUBELOOP_CHAOS=full`` picks the full form; anything else the short one."""
    return FULL if os.environ.get("KUBELOOP_CHAOS", "short") == "full" else SHORT


# -- the cluster --------------------------------------------------------------------------------------


@dataclass
class ChaosCluster:
    """A control plane with the AppService CRD, the operator's identity and what counts its requests."""

    plane: ControlPlane
    kubectl: Kubectl
    operator_kubeconfig: Path
    token: str
    scale: Scale

    @classmethod
    def start(cls, scale: Scale) -> ChaosCluster:
        # No watch cache for AppServices: their resumed watches reach etcd, where compaction answers 410
        # (scenario 5); every other resource keeps its cache, as in a real cluster.
        # A /16 service range: one ClusterIP per AppService. NodePorts 30000-39999: every AppService's
        # Service is a NodePort one, and the full form's runs follow each other faster than their
        # namespaces are deleted (the default 2,768 ports ran out in the third run: "range is full").
        plane = ControlPlane(
            ControlPlaneOptions(
                controller_manager=True,
                nodes=scale.nodes,
                service_cluster_ip_range="10.0.0.0/16",
                apiserver_args=(f"--watch-cache-sizes={APPS}#0", "--service-node-port-range=30000-39999"),
                start_timeout=120,
            )
        ).start()
        try:
            kubectl = Kubectl(plane.kubeconfig)
            kubectl("apply", "-f", str(CRD))
            wait_for_crds(kubectl, APPS)
            kubectl("create", "namespace", OPERATOR_NS)
            kubectl("apply", "-f", str(EXAMPLE / "config" / "rbac" / "role.yaml"))
            kubectl(
                "create",
                "clusterrolebinding",
                "chaos-manager-rolebinding",
                "--clusterrole=manager-role",
                f"--serviceaccount={OPERATOR_NS}:{OPERATOR_SA}",
            )
            kubectl("apply", "-f", "-", input=json.dumps(flow_schema()))
            kubeconfig = plane.service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA)
            token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
        except BaseException:
            plane.stop()
            raise
        return cls(plane, kubectl, kubeconfig, token, scale)

    def stop(self) -> None:
        logs = self.plane.log_dir
        self.plane.stop(keep_logs=True)  # the components' logs stay for a failed run
        print(f"control-plane logs: {logs}")

    def operator_requests(self) -> int:
        """The operator's requests kube-apiserver dispatched so far (its own FlowSchema's counter;
        ``apiserver_request_total`` has no user label). Resets when kube-apiserver restarts."""
        text = scrape(f"{self.plane.server}/metrics", self.plane.ssl_context())
        return int(
            sum(
                metric_values(
                    text, "apiserver_flowcontrol_dispatched_requests_total", flow_schema=FLOW_SCHEMA
                )
            )
        )


def flow_schema() -> dict[str, Any]:
    """A FlowSchema matching only the operator's service account, so its requests are counted apart."""
    everything = {
        "verbs": ["*"],
        "apiGroups": ["*"],
        "resources": ["*"],
        "clusterScope": True,
        "namespaces": ["*"],
    }
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": FLOW_SCHEMA},
        "spec": {
            "matchingPrecedence": 500,
            "priorityLevelConfiguration": {"name": "workload-low"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"name": OPERATOR_SA, "namespace": OPERATOR_NS},
                        }
                    ],
                    "resourceRules": [everything],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }


def scrape(url: str, context: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, timeout=10, context=context) as resp:
        return str(resp.read().decode())


LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def metric_values(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples of ``name`` whose labels include ``labels``, from Prometheus text."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name):
            continue  # kube-apiserver's metrics are megabytes: the regex only where it can match
        match = LINE.match(line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            found.append(float(match.group(3)))
    return found


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = LINE.match(line)
        if match and match.group(1) == name:
            samples.append(
                (dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or "")), float(match.group(3)))
            )
    return samples


class RequestMeter:
    """Counts the operator's requests at kube-apiserver through restarts: samples every second and adds
    up the increases (a counter that went down was reset by a restart)."""

    def __init__(self, cluster: ChaosCluster) -> None:
        self._cluster = cluster
        self._last: int | None = None
        self._began: float | None = None
        self.total = 0

    @property
    def seconds(self) -> float:
        """Seconds since the first sample."""
        return 0.0 if self._began is None else time.monotonic() - self._began

    async def sample(self) -> None:
        if self._began is None:
            self._began = time.monotonic()
        try:
            now = await asyncio.to_thread(self._cluster.operator_requests)
        except OSError:
            return  # kube-apiserver is down: the next sample catches up
        if self._last is not None:
            self.total += now - self._last if now >= self._last else now
        self._last = now

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(1.0)


# -- the operator, as a user runs it ------------------------------------------------------------------


class OperatorProcess:
    """One replica of the operator: ``python -m appservice_operator`` (or ``kubeloop run <target>``)
    with the service account's kubeconfig, run by a ManagedProcess (its own session, SIGKILLed if this
    process dies) with its output in ``log``."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log: Path,
        target: str | None = None,
        lease: dict[str, float] | None = None,
    ) -> None:
        self.lease = lease or LEASE
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log = log
        self.target = target
        self.metrics_port = free_port()
        self.probe_port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(EXAMPLE / "src"), str(Path(__file__).parent)]),
        }
        env.pop("KUBECONFIG", None)
        self.proc = ManagedProcess("operator", self.argv(), log, env)
        self.ended_by_us = False
        self.last_metrics = ""

    def argv(self) -> list[str]:
        command = (
            [sys.executable, "-m", "appservice_operator"]
            if self.target is None
            else [sys.executable, "-m", "kubeloop.cli.main", "run", self.target]
        )
        return [
            *command,
            "--kubeconfig",
            str(self.kubeconfig),
            "--namespace",
            self.namespace,
            "--leader-elect",
            "--leader-election-namespace",
            self.namespace,
            "--lease-duration",
            str(self.lease["lease_duration"]),
            "--renew-deadline",
            str(self.lease["renew_deadline"]),
            "--retry-period",
            str(self.lease["retry_period"]),
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics_port}",
            "--health-probe-bind-address",
            f"127.0.0.1:{self.probe_port}",
        ]

    def start(self) -> None:
        self.proc.start()
        self.ended_by_us = False

    @property
    def running(self) -> bool:
        return self.proc.pid is not None and not self.proc.exited

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{self.probe_port}/readyz"):
            if self.proc.exited:
                raise AssertionError(
                    f"the operator exited with {self.proc.returncode} at start: {self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the operator not ready within {within:.0f} s: {self.tail()}")
            await asyncio.sleep(0.2)

    def tail(self, lines: int = 15) -> str:
        return self.proc.tail(lines)

    async def scrape(self) -> None:
        with contextlib.suppress(OSError):
            self.last_metrics = await asyncio.to_thread(
                scrape, f"http://127.0.0.1:{self.metrics_port}/metrics"
            )

    def leading(self) -> bool:
        return any(v == 1.0 for v in metric_values(self.last_metrics, "leader_election_master_status"))

    def kill(self) -> None:
        """SIGKILL it (a crash) and reap it."""
        self.ended_by_us = True
        self.proc.kill()

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM and wait ``grace`` s, then SIGKILL; the exit code (None if it had to be killed).
        Idempotent."""
        if self.running:
            self.ended_by_us = True
        return self.proc.stop(grace)

    def exited_on_its_own(self) -> bool:
        return self.proc.exited and not self.ended_by_us


# -- the workload -------------------------------------------------------------------------------------


def app_manifest(
    name: str, namespace: str, size: int, image: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "app.example.com/v1",
        "kind": "AppService",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"size": size, "image": image, "ports": [{"port": 80, "targetPort": 80}]},
    }


async def persist(what: str, call: Callable[[], Awaitable[Any]], within: float = 120.0) -> Any:
    """Do one write of the test driver through control-plane faults: retry until it is done."""
    deadline = time.monotonic() + within
    delay = 0.2
    while True:
        try:
            return await call()
        except (AlreadyExistsError, NotFoundError):
            return None  # a retry of a create or delete that had gone through
        except KubeloopError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {within:.0f} s: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def limited(calls: Iterable[Awaitable[Any]], concurrency: int = 16) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


@dataclass
class Workload:
    """The AppServices of one run: what each should look like at the end, and which were deleted."""

    namespace: str
    expected: dict[str, tuple[int, str]] = field(default_factory=dict)  # name → (size, image)
    uids: dict[str, str] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    excluded: dict[str, str] = field(default_factory=dict)  # name → why it is not expected to converge
    changes: int = 0  # creates, resizes and deletes: each asks the operator for a pass (budget.py)

    async def create(
        self, api: Client, name: str, size: int, annotations: dict[str, str] | None = None
    ) -> None:
        image = IMAGES[0]
        created = await persist(
            f"create {name}", lambda: api.create(app_manifest(name, self.namespace, size, image, annotations))
        )
        if created is None:
            created = await persist(f"get {name}", lambda: api.get(APP_REF, name, namespace=self.namespace))
        self.uids[name] = created["metadata"]["uid"]
        self.expected[name] = (size, image)
        self.changes += 1

    async def resize(self, api: Client, name: str, index: int) -> None:
        size, image = self.expected[name]
        size += 1
        image = IMAGES[1] if index % 2 else image
        patch = {"spec": {"size": size, "image": image}}
        await persist(f"resize {name}", lambda: api.patch(APP_REF, name, patch, namespace=self.namespace))
        self.expected[name] = (size, image)
        self.changes += 1

    async def delete(self, api: Client, name: str) -> None:
        self.deleted.add(name)
        self.expected.pop(name, None)
        await persist(f"delete {name}", lambda: api.delete(APP_REF, name, namespace=self.namespace))
        self.changes += 1

    async def run(self, api: Client, scale: Scale, prefix: str = "app") -> None:
        names = [f"{prefix}-{i:04d}" for i in range(scale.apps)]
        await limited(self.create(api, name, 1 + i % 2) for i, name in enumerate(names))
        resized = [(i, n) for i, n in enumerate(names) if i % scale.resize_every == 1]
        await limited(self.resize(api, n, i) for i, n in resized)
        doomed = [n for i, n in enumerate(names) if i % scale.delete_every == 0]
        await limited(self.delete(api, n) for n in doomed)


# -- observing ----------------------------------------------------------------------------------------


@dataclass
class Witness:
    """What an independent watch of the namespace saw: every Deployment, Service and AppService
    deleted, and each change of a Deployment's ready replicas (each asks the operator for a status
    write; see budget.py). A relist after a broken watch finds what it missed."""

    children: list[tuple[str, str, str | None]] = field(default_factory=list)  # (kind, name, owner uid)
    apps: list[tuple[str, str]] = field(default_factory=list)  # (name, uid)
    ready_changes: int = 0
    _ready: dict[str, int] = field(default_factory=dict)  # Deployment uid → status.readyReplicas

    async def watch(self, api: Client, namespace: str, ref: Any, kind: str) -> None:
        known: dict[str, dict[str, Any]] = {}
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    listed = await api.list(ref, namespace=namespace)
                    current = {o["metadata"]["name"]: o for o in listed["items"]}
                    for name in known.keys() - current.keys():
                        self._record(kind, known[name])
                    for obj in current.values():
                        self._seen(kind, obj)
                    known, rv = current, listed["metadata"]["resourceVersion"]
                async with aclosing(api.watch(ref, namespace=namespace, resource_version=rv)) as events:
                    async for event in events:
                        rv = event.resource_version or rv
                        if event.type == "BOOKMARK":
                            continue
                        name = event.object["metadata"]["name"]
                        if event.type == "DELETED":
                            self._record(kind, event.object)
                            known.pop(name, None)
                        else:
                            known[name] = event.object
                            self._seen(kind, event.object)
            except GoneError:
                rv = None
            except KubeloopError:
                rv = None
                await asyncio.sleep(0.5)

    def _seen(self, kind: str, obj: dict[str, Any]) -> None:
        if kind != "Deployment":
            return
        uid, ready = obj["metadata"]["uid"], (obj.get("status") or {}).get("readyReplicas") or 0
        if self._ready.setdefault(uid, 0) != ready:
            self._ready[uid] = ready
            self.ready_changes += 1

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if kind == "AppService":
            self.apps.append((meta["name"], meta["uid"]))
            return
        owner = next((o["uid"] for o in meta.get("ownerReferences") or () if o.get("controller")), None)
        self.children.append((kind, meta["name"], owner))


def controller_uid(obj: dict[str, Any]) -> str | None:
    return next((o["uid"] for o in obj["metadata"].get("ownerReferences") or () if o.get("controller")), None)


def ready_condition(app: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (app.get("status") or {}).get("conditions") or ():
        if cond["type"] == "Ready":
            return dict(cond)
    return None


async def snapshot(
    api: Client, namespace: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    apps = {a["metadata"]["name"]: a for a in (await api.list(APP_REF, namespace=namespace))["items"]}
    deployments = (await api.list("deployments.apps", namespace=namespace))["items"]
    services = (await api.list("services", namespace=namespace))["items"]
    return apps, deployments, services


def divergences(
    workload: Workload, apps: dict[str, Any], deployments: list[Any], services: list[Any]
) -> list[str]:
    """What differs from the spec, object by object (empty when every AppService has converged)."""
    problems = []
    by_name = {("Deployment", d["metadata"]["name"]): d for d in deployments}
    by_name.update({("Service", s["metadata"]["name"]): s for s in services})
    for name, (size, image) in sorted(workload.expected.items()):
        if name in workload.excluded:
            continue
        app = apps.get(name)
        if app is None:
            problems.append(f"{name}: AppService missing")
            continue
        uid = app["metadata"]["uid"]
        dep, svc = by_name.get(("Deployment", name)), by_name.get(("Service", name))
        if dep is None or controller_uid(dep) != uid:
            problems.append(f"{name}: no Deployment of its own")
        else:
            spec = dep["spec"]
            got = (spec.get("replicas"), spec["template"]["spec"]["containers"][0]["image"])
            if got != (size, image):
                problems.append(f"{name}: Deployment has {got}, wants {(size, image)}")
        if svc is None or controller_uid(svc) != uid:
            problems.append(f"{name}: no Service of its own")
        elif [(p["port"], p.get("targetPort")) for p in svc["spec"]["ports"]] != [(80, 80)]:
            problems.append(f"{name}: Service ports {svc['spec']['ports']}")
        status = app.get("status") or {}
        cond = ready_condition(app) or {}
        if status.get("readyReplicas") != size:
            seen = ((dep or {}).get("status") or {}).get("readyReplicas")
            ready = status.get("readyReplicas")
            problems.append(f"{name}: readyReplicas {ready} (its Deployment: {seen}), wants {size}")
        elif cond.get("status") != "True" or cond.get("observedGeneration") != app["metadata"]["generation"]:
            problems.append(
                f"{name}: Ready {cond.get('status')} for generation {cond.get('observedGeneration')}"
            )
    return problems


def duplicates_and_orphans(
    apps: dict[str, Any], deployments: list[Any], services: list[Any]
) -> tuple[list[str], list[str]]:
    live = {a["metadata"]["uid"] for a in apps.values()}
    duplicates, orphans = [], []
    for kind, children in (("Deployment", deployments), ("Service", services)):
        owners: dict[str, list[str]] = {}
        for child in children:
            owner = controller_uid(child)
            if owner is None:
                continue
            owners.setdefault(owner, []).append(child["metadata"]["name"])
            if owner not in live:
                orphans.append(f"{kind} {child['metadata']['name']}")
        duplicates += [f"{kind}s {names}" for names in owners.values() if len(names) > 1]
    return duplicates, orphans


@contextlib.asynccontextmanager
async def background(*coros: Awaitable[Any]) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def count_lines(logs: Iterable[Path], pattern: str) -> int:
    rx = re.compile(pattern)
    return sum(
        1
        for log in logs
        if log.exists()
        for line in log.read_text(errors="replace").splitlines()
        if rx.search(line)
    )


def leaked_secrets(logs: Iterable[Path], secrets: Iterable[str]) -> list[str]:
    """Log files holding any of ``secrets`` or anything shaped like a bearer token."""
    leaks = []
    jwt = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for secret in secrets:
            if secret and secret in text:
                leaks.append(f"{log.name}: holds a planted secret ({secret[:6]}…)")
        if jwt.search(text) or re.search(r"(?i)authorization:\s*bearer", text):
            leaks.append(f"{log.name}: holds a bearer token")
    return leaks


class ApiErrorCount:
    """The operator's failed requests and reconcile errors, from its own metrics."""

    @staticmethod
    def of(metrics: str) -> tuple[int, int]:
        failed = sum(
            v
            for labels, v in metric_samples(metrics, "rest_client_requests_total")
            if not labels.get("code", "").startswith(("2", "1"))
        )
        reconcile = sum(metric_values(metrics, "controller_runtime_reconcile_errors_total"))
        return int(failed), int(reconcile)
