"""Ansible and Helm operator benchmark (issue 21): the AppService operator as a role
(examples/appservice-ansible) and as a chart (examples/appservice-helm), run by kubeloop (``kubeloop
run watches.yaml``, as its image runs it) and by operator-sdk's own ansible-operator and helm-operator
(built from their Go modules, bench/plugins/sdk.py) on the same watches file, role and chart, each a
process of its own on one control plane, each in a namespace of its own. Per operator: the time from
creating N AppServices to all of them reconciled, then after every app's size changed (with each
app's latency from its change to its reconcile seen), then the latency of one change to an idle
operator; the operator's CPU with its children's (ansible-runner and ansible-playbook, helm) and the
peak RSS of its process tree; and the floors that bound a reconcile: one ansible-runner run of an
empty role, one ``helm template`` of the chart. Writes docs/benchmarks/plugins.md.

    .venv/bin/python bench/plugins/run.py [--apps 100] [--workers 4] [--plugins ansible,helm]
        [--impls kubeloop,operator-sdk] [--merge] [--out docs/benchmarks]

``--merge`` keeps the results of the last runs (bench/plugins/results.json, committed) for the operators not
measured now, so that each can be measured in a locked run of its own and all reported as one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))

import sdk

from kubeloop.ansible import run_ansible
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, until, wait_for_crds
from kubeloop.testing.assets import find_binary
from kubeloop.testing.process import terminate

ROOT = Path(__file__).parents[2]
RESULTS = Path(__file__).with_name("results.json")  # committed: --merge in a fresh clone keeps the rows
LOGS = ROOT / "build" / "bench-plugins"  # each operator's log of the last run
APPS = "app.example.com/v1/AppService"
DEPLOYMENTS = "apps/v1/Deployment"
IMPLS = ("kubeloop", "operator-sdk")
PLUGINS = ("ansible", "helm")
# The log line of each Ansible run (kubeloop's, and ansible-operator's after a run that succeeded).
RUN_LINE = {"kubeloop": "ansible run ", "operator-sdk": "Ansible-runner exited successfully"}


@dataclass
class Phase:
    seconds: float
    cpu: float
    latencies: list[float]
    """Each app's time from its change sent to its reconcile seen (polled every 0.5 s)."""
    runs: int = 0
    """Ansible runs (the role runs again for events of the children it created)."""


@dataclass
class Run:
    impl: str
    plugin: str
    apps: int
    workers: int
    create: Phase
    resize: Phase | None
    """None: not measured (``--no-resize``)."""
    latency: list[float]
    """One change (a size) of one app, the operator otherwise idle: to its reconcile seen (0.1 s)."""
    rss_mib: float
    load: list[float] = field(default_factory=list)
    minutes: float = 0.0


def tree_cpu(proc: psutil.Process) -> float:
    """The process's CPU and that of the children it has waited for (ansible-runner, helm)."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


class RssSampler(threading.Thread):
    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.stop = proc, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            total = 0
            try:
                for p in [self.proc, *self.proc.children(recursive=True)]:
                    total += p.memory_info().rss
            except psutil.Error:
                continue
            self.peak = max(self.peak, total)


def stamp(text: str) -> datetime:
    """An ansible-runner event time (kubeloop: ``2026-12-05T22:01:02.123456``; ansible-operator:
    ``...02.1234567+00:00``), naive UTC."""
    text = text.removesuffix("Z").split("+")[0]
    whole, _, fraction = text.partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}")


async def reconciled(
    client: Client, namespace: str, plugin: str, size: int, since: datetime, names: set[str] | None = None
) -> set[str]:
    """The apps reconciled to ``size`` since ``since``: the Deployment has ``size`` replicas and the
    status says so (Ansible: its last run was Successful and completed after ``since``; Helm: Deployed
    is True). Both operators write the same conditions; the Deployment tells a Helm release upgraded
    by either (helm-operator's Deployed condition has no observedGeneration)."""
    apps = (await client.list(APPS, namespace=namespace))["items"]
    deployments = (await client.list(DEPLOYMENTS, namespace=namespace))["items"]
    sized = {d["metadata"]["name"] for d in deployments if d["spec"].get("replicas") == size}
    done = set()
    for app in apps:
        name = app["metadata"]["name"]
        if name not in sized or (names is not None and name not in names):
            continue
        conds = {c["type"]: c for c in (app.get("status") or {}).get("conditions") or ()}
        if plugin == "ansible":
            running = conds.get("Running", {})
            completion = str((running.get("ansibleResult") or {}).get("completion") or "")
            if running.get("reason") == "Successful" and completion and stamp(completion) > since:
                done.add(name)
        elif conds.get("Deployed", {}).get("status") == "True":
            done.add(name)
    return done


def runs(log: Path, impl: str) -> int:
    """The Ansible runs the operator logged so far."""
    return sum(1 for line in log.read_text(errors="replace").splitlines() if RUN_LINE[impl] in line)


async def converge(
    client: Client,
    proc: psutil.Process,
    namespace: str,
    plugin: str,
    apps: int,
    size: int,
    change: Callable[[dict[str, float]], Awaitable[None]],
    within: float,
) -> Phase:
    since = datetime.now(UTC).replace(tzinfo=None)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    cpu0, t0 = tree_cpu(proc), time.monotonic()
    await change(sent)
    while len(seen) < apps:
        if time.monotonic() - t0 > within:
            raise TimeoutError(f"{len(seen)} of {apps} apps reconciled after {within:.0f} s")
        now = time.monotonic()
        for name in await reconciled(client, namespace, plugin, size, since):
            seen.setdefault(name, now)
        await asyncio.sleep(0.5)
    seconds, cpu = max(seen.values()) - t0, tree_cpu(proc) - cpu0
    return Phase(seconds, cpu, sorted(seen[n] - sent[n] for n in seen))


def command(
    impl: str, plugin: str, example: Path, namespace: str, workers: int, scratch: Path
) -> tuple[list[str], dict[str, str]]:
    """How the operator is started (in ``example``) and its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBELOOP_")}
    env["TMPDIR"] = str(scratch)
    if impl == "kubeloop":
        helm = find_binary("helm")
        if helm is not None:
            env["PATH"] = f"{helm.parent}{os.pathsep}{env['PATH']}"
        return [
            sys.executable, "-m", "kubeloop.cli.main", "run", str(example / "watches.yaml"),
            "--name", f"appservice-{plugin}", "--namespace", namespace,
            "--max-concurrent-reconciles", str(workers),
            "--metrics-bind-address=0", "--health-probe-bind-address=0",
        ], env  # fmt: skip
    env["WATCH_NAMESPACE"] = namespace
    argv = [
        str(sdk.binary(plugin)), "run", "--watches-file", str(example / "watches.yaml"),
        "--max-concurrent-reconciles", str(workers), "--leader-elect=false",
        "--metrics-bind-address=0", "--health-probe-bind-address=0",
    ]  # fmt: skip
    if plugin == "ansible":
        venv = sdk.runner_env()
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        env["ANSIBLE_COLLECTIONS_PATH"] = sdk.collections_path()
        # kubeloop's default verbosity; ansible-operator's is 2 (more output for it to read).
        # Its proxy stays on 8888: the runs' kubeconfig names http://localhost:8888 whatever
        # --proxy-port says (internal/ansible/controller/reconcile.go).
        argv += ["--ansible-verbosity", "0"]
    return argv, env


async def bench(
    plane: ControlPlane,
    impl: str,
    plugin: str,
    apps: int,
    workers: int,
    scratch: Path,
    latency: int,
    resizing: bool = True,
) -> Run:
    example = ROOT / "examples" / f"appservice-{plugin}"
    kubectl = Kubectl(plane.kubeconfig)
    kubectl("apply", "-f", str(example / "config/crd/bases/app.example.com_appservices.yaml"))
    wait_for_crds(
        kubectl, "appservices.app.example.com"
    )  # served, not only Established: the operator lists it at once
    namespace = f"bench-{plugin}-{impl}"
    kubectl("create", "namespace", namespace)
    argv, env = command(impl, plugin, example, namespace, workers, scratch)
    env["KUBECONFIG"] = str(plane.kubeconfig)
    if impl == "operator-sdk":
        shutil.rmtree("/tmp/ansible-operator/runner/app.example.com", ignore_errors=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{plugin}-{impl}.log"
    log = log_path.open("wb")  # a new log each run
    load, started = [os.getloadavg()[0]], time.monotonic()
    operator = await asyncio.to_thread(
        subprocess.Popen, argv, cwd=example, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    proc = psutil.Process(operator.pid)
    sampler = RssSampler(proc)
    sampler.start()
    timeout = 60 + 20 * apps
    try:
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=0)) as client:

            async def create(sent: dict[str, float]) -> None:
                for i in range(apps):
                    body = {
                        "apiVersion": "app.example.com/v1",
                        "kind": "AppService",
                        "metadata": {"name": f"app-{i}"},
                        "spec": {"size": 1, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 80}]},
                    }
                    await client.create(body, namespace=namespace)
                    sent[f"app-{i}"] = time.monotonic()

            async def resize(sent: dict[str, float]) -> None:
                for i in range(apps):
                    await client.patch(APPS, f"app-{i}", {"spec": {"size": 2}}, namespace=namespace)
                    sent[f"app-{i}"] = time.monotonic()

            created = await converge(client, proc, namespace, plugin, apps, 1, create, timeout)
            created.runs = runs(log_path, impl) if plugin == "ansible" else 0
            resized = None
            if resizing:
                resized = await converge(client, proc, namespace, plugin, apps, 2, resize, timeout)
                resized.runs = runs(log_path, impl) - created.runs if plugin == "ansible" else 0
            samples = []
            for k in range(latency):
                await asyncio.sleep(3)  # the resize's dependent events settle
                name, size = f"app-{k % apps}", 3 + k
                since, t0 = datetime.now(UTC).replace(tzinfo=None), time.monotonic()
                await client.patch(APPS, name, {"spec": {"size": size}}, namespace=namespace)

                async def changed(name: str = name, size: int = size, since: datetime = since) -> bool:
                    return bool(await reconciled(client, namespace, plugin, size, since, {name}))

                await until(
                    changed,
                    within=300,
                    what=f"{name} reconciled",
                    interval=0.1,
                )
                samples.append(time.monotonic() - t0)
    finally:
        sampler.stop.set()
        terminate(operator, 30.0)
        log.close()
    load.append(os.getloadavg()[0])
    kubectl("delete", "namespace", namespace, "--wait=false")
    minutes = (time.monotonic() - started) / 60
    return Run(impl, plugin, apps, workers, created, resized, samples, sampler.peak / 2**20, load, minutes)


async def ansible_floor(scratch: Path, runs: int = 5) -> tuple[float, float]:
    """Median wall time and CPU of one ansible-runner run of an empty role (the cost of any reconcile)."""
    role = scratch / "roles" / "empty"
    (role / "tasks").mkdir(parents=True, exist_ok=True)
    (role / "tasks" / "main.yml").write_text("- ansible.builtin.meta: noop\n")
    walls, cpus = [], []
    for i in range(runs):
        before = psutil.Process().cpu_times()
        t0 = time.monotonic()
        result = await run_ansible(
            scratch / f"floor-{i}",
            role=role,
            playbook=None,
            extravars={},
            env={},
            timeout=120,
            max_artifacts=1,
        )
        walls.append(time.monotonic() - t0)
        after = psutil.Process().cpu_times()
        cpus.append(
            after.children_user + after.children_system - before.children_user - before.children_system
        )
        assert result.successful, result.message
    return statistics.median(walls), statistics.median(cpus)


def helm_floor(runs: int = 5) -> tuple[float, float]:
    """Median wall time and CPU of one ``helm template`` of the AppService chart (rendering alone)."""
    helm = find_binary("helm")
    assert helm is not None, "kubeloop controlplane build helm"
    chart = ROOT / "examples/appservice-helm/helm-charts/appservice"
    walls, cpus = [], []
    for _ in range(runs):
        before = psutil.Process().cpu_times()
        t0 = time.monotonic()
        subprocess.run([str(helm), "template", "x", str(chart)], check=True, capture_output=True)
        walls.append(time.monotonic() - t0)
        after = psutil.Process().cpu_times()
        cpus.append(
            after.children_user + after.children_system - before.children_user - before.children_system
        )
    return statistics.median(walls), statistics.median(cpus)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(results: dict[str, Any]) -> tuple[str, str]:
    """The page (docs/benchmarks/plugins.md) and its summary for docs/benchmarks.md."""
    runs_by = {(r["impl"], r["plugin"]): r for r in results["runs"]}
    floors = results["floors"]
    loads = [x for r in results["runs"] for x in r["load"]]
    sdk_note = (
        "operator-sdk's operators beside kubeloop's: ansible-operator from "
        f"{results['sdk']['ansible']} and helm-operator from {results['sdk']['helm']}, built from their Go "
        "modules with the machine's Go (bench/plugins/sdk.py), run on the same watches file, role and "
        "chart with the same workers (`--max-concurrent-reconciles`) and Ansible verbosity (0, kubeloop's "
        "default; ansible-operator's is 2); ansible-operator's runs use ansible-runner-http (its event "
        "plugin, and the image's kubernetes client 31 and urllib3 1.26 that it needs) beside the same "
        "ansible-core and ansible-runner as kubeloop's. The Go module proxy refuses operator-sdk's own "
        "module (403 for its version list and for v1.39.2), where its helm-operator's `main` lives; "
        "helm-operator-plugins is operator-framework's Helm operator module, with the same `run "
        "--watches-file`."
        if any(r["impl"] == "operator-sdk" for r in results["runs"])
        else "operator-sdk's operators are not in this run (`--impls kubeloop`)."
    )
    out = [
        "# Ansible and Helm operators",
        "",
        f"From `bench/plugins/run.py` ({results['day']}): the AppService operator as a role "
        "(examples/appservice-ansible) and as a chart (examples/appservice-helm), each operator a process "
        "of its own in a namespace of its own on one kube-apiserver + etcd on loopback; "
        f"{results['machine']}, {os.cpu_count()} cores shared with the server and other work; load average "
        f"during the runs: {min(loads):.1f}-{max(loads):.1f}; the operators ran "
        f"{sum(r['minutes'] for r in results['runs']):.0f} minutes in all.",
        "",
        sdk_note,
        "",
        "Create: N AppServices created, until every one is reconciled (its Deployment of `size` replicas "
        "and the status: the Ansible run Successful after the change, Helm's Deployed True); resize: every "
        "app's size 1 → 2, the same; latency: each app's time from its change sent to its reconcile seen "
        "(polled every 0.5 s; the burst's queue included); idle: one app's change with the operator "
        "otherwise idle (polled every 0.1 s), median of the samples. CPU counts the operator process and "
        "the children it waited for (ansible-runner, ansible-playbook and its workers; helm); RSS sums "
        "the process tree, sampled every 0.2 s.",
        "",
        "| operator | apps | create → all | CPU per app | latency p50 / p90 | resize → all | CPU per app "
        "| latency p50 / p90 | ansible runs | idle change | peak RSS (tree) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for plugin in PLUGINS:
        for impl in IMPLS:
            r = runs_by.get((impl, plugin))
            if r is None:
                continue
            c, z = r["create"], r["resize"]
            n = r["apps"]
            ansible_runs = f"{c['runs']} + {z['runs'] if z else '-'}" if plugin == "ansible" else "-"
            idle = f"{statistics.median(r['latency']):.2f} s" if r["latency"] else "-"
            resized = (
                f"{z['seconds']:.1f} s | {z['cpu'] / n:.2f} s"
                f" | {pct(z['latencies'], 0.5):.1f} / {pct(z['latencies'], 0.9):.1f} s"
                if z
                else "- | - | -"
            )
            out.append(
                f"| {impl} {plugin} | {n} | {c['seconds']:.1f} s | {c['cpu'] / n:.2f} s"
                f" | {pct(c['latencies'], 0.5):.1f} / {pct(c['latencies'], 0.9):.1f} s"
                f" | {resized} | {ansible_runs} | {idle} | {r['rss_mib']:.0f} MiB |"
            )
        k, s = runs_by.get(("kubeloop", plugin)), runs_by.get(("operator-sdk", plugin))
        if k and s:
            idle_ratio = (
                ratio(statistics.median(k["latency"]), statistics.median(s["latency"]))
                if k["latency"] and s["latency"]
                else "-"
            )
            kz, sz = k["resize"], s["resize"]
            resized = (
                f"{ratio(kz['seconds'], sz['seconds'])} | {ratio(kz['cpu'], sz['cpu'])}"
                f" | {ratio(pct(kz['latencies'], 0.5), pct(sz['latencies'], 0.5))} (p50)"
                if kz and sz
                else "- | - | -"
            )
            out.append(
                f"| *kubeloop / operator-sdk* | | {ratio(k['create']['seconds'], s['create']['seconds'])}"
                f" | {ratio(k['create']['cpu'], s['create']['cpu'])}"
                f" | {ratio(pct(k['create']['latencies'], 0.5), pct(s['create']['latencies'], 0.5))} (p50)"
                f" | {resized} | | {idle_ratio} | {ratio(k['rss_mib'], s['rss_mib'])} |"
            )
    goals = goal_lines(runs_by)
    where = where_the_time_goes(floors)
    out += ["", "Goal (issue 21): no slower than operator-sdk's (a ratio of at most 1).", "", *goals]
    out += ["", "## Where the time goes", "", *where]
    if results.get("notes"):
        out += ["", results["notes"].strip()]
    out += [
        "",
        "Rerun: `make bench-plugins` (three locked runs of `bench/plugins/run.py`: `--plugins ansible "
        "--impls kubeloop`, `--plugins ansible --impls operator-sdk --merge`, `--plugins helm --merge`); "
        "needs the ansible extra, the cached control plane with helm, and Go.",
        "",
    ]
    page = "\n".join(out)
    table = out[
        out.index(
            "| operator | apps | create → all | CPU per app | latency p50 / p90 | resize → all | "
            "CPU per app | latency p50 / p90 | ansible runs | idle change | peak RSS (tree) |"
        ) :
    ]
    table = table[: table.index("")]
    summary = [
        SUMMARY_BEGIN,
        "## Ansible and Helm operators: kubeloop vs operator-sdk",
        "",
        f"From `bench/plugins/run.py` ({results['day']}): the AppService role and chart run by kubeloop "
        f"and by operator-sdk's ansible-operator ({results['sdk']['ansible']}) and helm-operator "
        f"({results['sdk']['helm']}), {table_apps(results)} AppServices created (then resized); load "
        f"{min(loads):.1f}-{max(loads):.1f}. Full report: [benchmarks/plugins.md](benchmarks/plugins.md).",
        "",
        *table,
        "",
        *goals,
        "",
        "Where the time goes:",
        "",
        *[line.replace("](runtime.md)", "](benchmarks/runtime.md)") for line in where],
        SUMMARY_END,
    ]
    return page, "\n".join(summary)


SUMMARY_BEGIN, SUMMARY_END = "<!-- plugins:begin -->", "<!-- plugins:end -->"


def table_apps(results: dict[str, Any]) -> str:
    return "/".join(sorted({str(r["apps"]) for r in results["runs"]}))


def goal_lines(runs_by: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """kubeloop against operator-sdk, per plugin: reconcile latency (one change, idle), CPU per
    reconcile (per app changed, create and resize), and the time until 100 changes are reconciled."""
    lines = []
    for plugin in PLUGINS:
        k, s = runs_by.get(("kubeloop", plugin)), runs_by.get(("operator-sdk", plugin))
        if not (k and s):
            continue
        phases = ["create", "resize"] if k["resize"] and s["resize"] else ["create"]
        pairs = [
            ("reconcile latency (one change, idle)", statistics.median(k["latency"] or [0.0]),
             statistics.median(s["latency"] or [0.0]), "s"),
            (f"CPU per reconcile ({' + '.join(phases)}, per app)",
             sum(k[p]["cpu"] for p in phases) / (len(phases) * k["apps"]),
             sum(s[p]["cpu"] for p in phases) / (len(phases) * s["apps"]), "s"),
            (f"time to {k['apps']} reconciled ({' + '.join(phases)})",
             sum(k[p]["seconds"] for p in phases), sum(s[p]["seconds"] for p in phases), "s"),
        ]  # fmt: skip
        if len(phases) > 1:  # each phase alone as well: a sum can hide one phase missing the goal
            for p in phases:
                pairs += [
                    (f"CPU per reconcile ({p} alone, per app)", k[p]["cpu"] / k["apps"],
                     s[p]["cpu"] / s["apps"], "s"),
                    (f"time to {k['apps']} reconciled ({p} alone)", k[p]["seconds"], s[p]["seconds"], "s"),
                ]  # fmt: skip
        for what, a, b, unit in pairs:
            verdict = "**met**" if b and a / b <= 1.0 else "**missed**"
            lines.append(
                f"- {plugin}: {what} ≤ 1.0x operator-sdk's: {ratio(a, b)} ({a:.2f} vs {b:.2f} {unit}): "
                f"{verdict}"
            )
    return lines


def where_the_time_goes(floors: dict[str, Any]) -> list[str]:
    wall, cpu = floors["ansible"]
    hwall, hcpu = floors["helm"]
    return [
        f"- **ansible-runner start-up**: one run of an empty role takes {wall:.2f} s and {cpu:.2f} s of CPU "
        "(ansible-runner, then ansible-playbook loading ansible-core, the inventory and the play): the "
        "floor of every Ansible reconcile, whatever the role does, and the same for both operators (both "
        "start ansible-runner per reconcile). The AppService role's two `kubernetes.core.k8s` tasks add a "
        "module run each (AnsiballZ, the kubernetes client, discovery through the operator's proxy).",
        f"- **rendering**: one `helm template` of the chart (a process start, the chart loaded and "
        f"rendered) takes {hwall:.2f} s and {hcpu:.2f} s of CPU. kubeloop's Helm operator reads the "
        "release from its Secret and makes one helm operation only for a reconcile that changes "
        "something (an install or an upgrade: the render and the writes, served by helm-server, one "
        "long-lived process linking Helm's packages that keeps discovery, capabilities and the chart "
        "between releases; none when the chart and values are those of the release, docs/helm.md); "
        "helm-operator links Helm's packages too and renders in its own process, every reconcile.",
        "- kubeloop's own work per reconcile (cache, queue, status write, the proxy's forwarding) is small "
        "beside these: [runtime.md](runtime.md) has the framework's cost per reconcile.",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=int, default=3, help="idle single-change samples")
    parser.add_argument("--floor-runs", type=int, default=5, help="runs of each floor (median)")
    parser.add_argument("--plugins", default=",".join(PLUGINS))
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--merge", action="store_true", help="keep the last results of the others")
    parser.add_argument("--no-resize", action="store_true", help="the create phase only")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--notes", type=Path, help="a reading of the run, under Where the time goes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--summary", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    plugins, impls = args.plugins.split(","), args.impls.split(",")
    if "operator-sdk" in impls:  # built (and cached) before anything is timed
        for plugin in plugins:
            sdk.binary(plugin)
        if "ansible" in plugins:
            sdk.runner_env()
    base: list[dict[str, Any]] = []
    notes = args.notes.read_text() if args.notes else ""
    if args.merge and args.results.is_file():
        last = json.loads(args.results.read_text())
        base, notes = last["runs"], notes or last.get("notes", "")
    runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        ControlPlane(ControlPlaneOptions(controller_manager=False, nodes=0)) as plane,
    ):
        scratch = Path(tmp)
        floors = {
            "ansible": await ansible_floor(scratch, args.floor_runs),
            "helm": helm_floor(args.floor_runs),
        }
        for plugin in plugins:
            for impl in impls:
                run = await bench(
                    plane, impl, plugin, args.apps, args.workers, scratch, args.latency, not args.no_resize
                )
                runs.append(run)
                print(json.dumps(asdict(run))[:400], flush=True)
                text = save(args, base, runs, floors, notes)  # each run kept as soon as measured
    print(text)


def save(
    args: argparse.Namespace, base: list[dict[str, Any]], runs: list[Run], floors: dict[str, Any], notes: str
) -> str:
    """Write the results (``base``, the last results kept by ``--merge``, less the operators measured
    now, and ``runs``), the page and the summary; return the page."""
    measured = {(r.impl, r.plugin) for r in runs}
    results: dict[str, Any] = {
        "runs": [r for r in base if (r["impl"], r["plugin"]) not in measured] + [asdict(r) for r in runs],
        "day": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "floors": floors,
        "sdk": {p: sdk.version(p) for p in PLUGINS},
        "notes": notes,
    }
    results["runs"].sort(key=lambda r: (PLUGINS.index(r["plugin"]), IMPLS.index(r["impl"])))
    args.results.write_text(json.dumps(results, indent=1))
    text, summary = report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "plugins.md").write_text(re.sub(r"\n{3,}", "\n\n", text))
    if args.summary.is_file():
        doc = args.summary.read_text()
        if SUMMARY_BEGIN in doc:
            doc = doc[: doc.index(SUMMARY_BEGIN)] + summary + doc[doc.index(SUMMARY_END) + len(SUMMARY_END) :]
        else:
            doc = doc.rstrip("\n") + "\n\n" + summary + "\n"
        args.summary.write_text(doc)
    return text


if __name__ == "__main__":
    asyncio.run(main())
