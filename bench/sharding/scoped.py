"""Scoped caches (issue 17): the RSS of the AppService operator in a cluster full of objects it does
not need, before and after scoping its caches.

The operator (``scoped_operator.py``) is the shipped one that also reads each app's Pods and its
settings ConfigMap, as many operators do: ``ctx.list``/``ctx.get`` start a shared informer of each
kind on first use, which by default holds every Pod and ConfigMap of the cluster. On a control plane
of its own: ``--apps`` AppServices in the namespace ``apps``, each with a settings ConfigMap and a Pod
of its own (labelled ``app.kubernetes.io/managed-by: appservice-operator``), then ``--unrelated``
objects, half ConfigMaps and half Pods, in 10 other namespaces. One operator process per
configuration, measured once every app has been reconciled and the queue is empty (RSS; and the
peak, ``VmHWM``, which the first list sets):

- *no unrelated objects*: before they are created (the floor);
- *not scoped*: the defaults (every namespace, whole objects);
- *namespaces*: ``kubeloop run --namespace apps`` (``Operator(namespaces=...)``);
- *label selectors*: ``CacheScope(labels=...)`` for Pods and ConfigMaps;
- *metadata only*: ``CacheScope(metadata_only=True)`` for Pods and ConfigMaps, every namespace.

Writes the "Scoped caches" section of docs/benchmarks/sharding.md (between its markers; run.py keeps
it when it rewrites the page).

    .venv/bin/python bench/sharding/scoped.py [--apps 200] [--unrelated 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))

import run as bench

from kubeloop.client import AlreadyExistsError, Client, ClientSettings
from kubeloop.testing import ControlPlane, ControlPlaneOptions, Kubectl, wait_for_crds
from kubeloop.testing.process import free_port, http_ok, terminate

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "appservice"
APPS = "appservices.app.example.com"
MANAGED = {"app.kubernetes.io/managed-by": "appservice-operator"}
BEGIN, END = "<!-- scoped:begin -->", "<!-- scoped:end -->"
CONFIGURATIONS = [
    # (key, label, unrelated objects present, --namespace, $KUBELOOP_BENCH_SCOPE)
    ("floor", "no unrelated objects (not scoped)", False, None, "none"),
    ("none", "not scoped", True, None, "none"),
    ("namespaces", "namespaces (`--namespace apps`)", True, "apps", "none"),
    ("labels", "label selectors (`CacheScope(labels=...)`)", True, None, "labels"),
    ("metadata", "metadata only (`CacheScope(metadata_only=True)`)", True, None, "metadata"),
]


def pod(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Pod as a workload's would look before it is scheduled (~1.6 kB of JSON)."""
    env = [{"name": f"SETTING_{i}", "value": f"value-{i}-{name}"} for i in range(8)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, "pod-template-hash": "5d8f7c9b6"},
            "annotations": {"kubectl.kubernetes.io/default-container": "main"},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/team/service:1.4.2",
                    "args": ["--port=8080", "--log-level=info"],
                    "env": env,
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }
            ],
        },
    }


def config_map(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A ConfigMap of ~1 kB."""
    data = {f"key-{i}": f"{name}-{i}-" + "x" * 80 for i in range(10)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    }


async def create_all(api: Client, objects: list[dict[str, Any]], limit: int = 64) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(obj: dict[str, Any]) -> None:
        async with semaphore:
            with contextlib.suppress(AlreadyExistsError):
                await api.create(obj)

    await asyncio.gather(*(one(o) for o in objects))


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def peak_mib(pid: int) -> float:
    """The process's peak RSS (``VmHWM``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+)", status)
    return int(found.group(1)) / 1024 if found else 0.0


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(rf"{name}[{{ ]", line))


async def measure(
    kubeconfig: Path, apps: int, namespace: str | None, scope: str, log: Path
) -> dict[str, Any]:
    """One operator process until every app was reconciled and its queue is empty; its memory then."""
    metrics_port, probe_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "kubeloop.cli.main", "run", "scoped_operator:operator",
        "--kubeconfig", str(kubeconfig),
        *(["--namespace", namespace] if namespace else []),
        "--metrics-bind-address", f"127.0.0.1:{metrics_port}",
        "--health-probe-bind-address", f"127.0.0.1:{probe_port}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE / "src"), str(Path(__file__).parent)]),
        "KUBELOOP_BENCH_SCOPE": scope,
    }
    proc = start(argv, env, log)
    began = time.monotonic()
    try:
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{probe_port}/readyz"):
            if proc.poll() is not None:
                raise RuntimeError(f"the operator exited; see {log}")
            await asyncio.sleep(0.2)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        while True:
            text = await asyncio.to_thread(scrape, url)
            done = metric(text, "controller_runtime_reconcile_total")
            if done >= apps and metric(text, "workqueue_depth") == 0:
                break
            if time.monotonic() - began > 900:
                raise TimeoutError(f"{done:.0f} of {apps} reconciled")
            await asyncio.sleep(1)
        settled = time.monotonic() - began
        await asyncio.sleep(5)
        process = psutil.Process(proc.pid)
        samples = []
        for _ in range(3):
            samples.append(process.memory_info().rss / 2**20)
            await asyncio.sleep(1)
        return {"rss_mib": sorted(samples)[1], "peak_mib": peak_mib(proc.pid), "ready_s": settled}
    finally:
        terminate(proc, 60.0)


def section(
    results: list[dict[str, Any]], args: argparse.Namespace, loads: tuple[float, float], minutes: float
) -> str:
    floor = next(r for r in results if r["key"] == "floor")
    rows = [
        "| cache scope | RSS (MiB) | over the floor | peak RSS (MiB) | every app reconciled after |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        extra = r["rss_mib"] - floor["rss_mib"]
        over = "" if r["key"] == "floor" else f"{extra:+.1f} MiB"
        rows.append(
            f"| {r['label']} | {r['rss_mib']:.0f} | {over} | {r['peak_mib']:.0f} | {r['ready_s']:.0f} s |"
        )
    best = min((r for r in results if r["key"] in ("namespaces", "labels")), key=lambda r: r["rss_mib"])
    worst = max(r["rss_mib"] - floor["rss_mib"] for r in results if r["key"] in ("namespaces", "labels"))
    met = worst <= 0.05 * floor["rss_mib"]
    unscoped = next(r for r in results if r["key"] == "none")
    return "\n".join(
        [
            BEGIN,
            "## Scoped caches",
            "",
            f"`bench/sharding/scoped.py --apps {args.apps} --unrelated {args.unrelated}`: the AppService "
            "operator that also reads each app's Pods and settings ConfigMap "
            "(`bench/sharding/scoped_operator.py`: "
            "`ctx.list`/`ctx.get` start a shared informer of each kind), one process per configuration, "
            f"{args.apps} AppServices in `apps` (each with a Pod and a ConfigMap of its own) and "
            f"{args.unrelated:,} unrelated objects (half Pods of ~1.6 kB, half ConfigMaps of ~1 kB) in 10 "
            "other namespaces, on a control plane of its own. Memory once every app was reconciled and the "
            "queue was empty (RSS: the median of 3 samples 1 s apart; peak: `VmHWM`). "
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, under the benchmark lock; "
            f"{minutes:.0f} min; load average {loads[0]:.1f} before, {loads[1]:.1f} after.",
            "",
            *rows,
            "",
            "Goal: unrelated objects cost nothing once the caches are scoped: "
            f"**{'met' if met else 'missed'}** (namespaces and label selectors: {worst:+.1f} MiB "
            "from the floor at most, "
            f"{100 * worst / floor['rss_mib']:+.1f}%; the bound taken: 5%). Not scoped, the "
            f"{args.unrelated:,} unrelated objects cost {unscoped['rss_mib'] - floor['rss_mib']:.0f} MiB "
            f"({1024 * (unscoped['rss_mib'] - floor['rss_mib']) / args.unrelated:.1f} kB each); the best "
            f"scope here: {best['label'].split(' (')[0]}. Metadata only still holds every object's "
            "metadata (labels, annotations, owners, managers): it cuts the cost, it does not remove it.",
            END,
        ]
    )


def write_section(page: Path, text: str) -> None:
    current = page.read_text() if page.exists() else "# Sharding across replicas\n"
    if BEGIN in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    page.write_text(current)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--unrelated", type=int, default=20000)
    parser.add_argument("--only", default="", help="comma-separated keys of the configurations to run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "sharding.md")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    plane = ControlPlane(
        ControlPlaneOptions(service_cluster_ip_range="10.0.0.0/16", start_timeout=120)
    ).start()
    results = []
    try:
        kubectl = Kubectl(plane.kubeconfig)
        kubectl("apply", "-f", str(EXAMPLE / "config" / "crd" / "bases" / "app.example.com_appservices.yaml"))
        wait_for_crds(kubectl, APPS)  # served, not only Established: the replicas list it at once
        work = Path(plane.directory) / "bench-scoped"
        work.mkdir(exist_ok=True)
        others = [f"other-{i}" for i in range(10)]
        async with await Client.load(plane.kubeconfig, settings=ClientSettings(qps=None)) as api:
            for ns in ["apps", *others]:
                kubectl("create", "namespace", ns)
                await create_all(
                    api,
                    [
                        {
                            "apiVersion": "v1",
                            "kind": "ServiceAccount",
                            "metadata": {"name": "default", "namespace": ns},
                        }
                    ],
                )
            mine = []
            for i in range(args.apps):
                name = f"app-{i}"
                labels = {**MANAGED, "app.kubernetes.io/name": name}
                spec = {"size": 0, "image": "nginx:1.27", "ports": [{"port": 80, "targetPort": 80}]}
                mine += [
                    {
                        "apiVersion": "app.example.com/v1",
                        "kind": "AppService",
                        "metadata": {"name": name, "namespace": "apps"},
                        "spec": spec,
                    },
                    config_map(f"{name}-settings", "apps", MANAGED),
                    pod(f"{name}-0", "apps", labels),
                ]
            await create_all(api, mine)
            unrelated_created = False
            for key, label, unrelated, namespace, scope in CONFIGURATIONS:
                if only and key not in only and key != "floor":
                    continue
                if unrelated and not unrelated_created:
                    t = time.monotonic()
                    half = args.unrelated // 2
                    objs = []
                    for i in range(half):
                        ns = others[i % len(others)]
                        objs.append(config_map(f"cm-{i}", ns, {"team": f"t{i % 40}"}))
                        objs.append(pod(f"pod-{i}", ns, {"app": f"svc-{i % 200}"}))
                    await create_all(api, objs)
                    unrelated_created = True
                    print(
                        f"created {len(objs)} unrelated objects in {time.monotonic() - t:.0f} s", flush=True
                    )
                result = await measure(plane.kubeconfig, args.apps, namespace, scope, work / f"{key}.log")
                result.update(key=key, label=label)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        plane.stop()
    text = section(results, args, (load_before, os.getloadavg()[0]), (time.monotonic() - began) / 60)
    print(text)
    if not only:
        write_section(args.out, text)


if __name__ == "__main__":
    asyncio.run(bench.until_terminated(main))
