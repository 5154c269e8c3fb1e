"""What bounds a converge on the cluster side (issue 16): runs a command (bench/operator/run.py, itself
unchanged) and watches the processes under it. Every second, the CPU seconds of each one (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, kwok, the operator, the harness) and of the
whole machine; every ``--every`` seconds, the components' /metrics (kube-apiserver's requests and
latency by resource; kube-controller-manager's work queues; each Go client's requests and its
rate limiter's waits), histogram buckets left out. When the command ends, each converge and update
storm that run.py logged gets its figures: DIR/cluster.json and the table DIR/cluster.md.

    .venv/bin/python bench/operator/cluster.py --out DIR -- .venv/bin/python bench/operator/run.py ...
    .venv/bin/python bench/operator/cluster.py --report DIR     # the table again from DIR
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

TICK = os.sysconf("SC_CLK_TCK")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
CLUSTER = COMPONENTS  # the processes of the control plane, what every implementation's run shares
OPERATORS = (("kopf", " kopf "), ("floor", "floor.py"), ("controller-runtime", "appservice-kubebuilder"),
             ("kubeloop", "appservice_operator"))  # fmt: skip
PHASE = re.compile(r"\] (?P<impl>\S+) rep (?P<rep>\d+) (?P<phase>converge|update): (?P<seconds>[\d.]+) s$")
QUEUES = ("deployment", "replicaset")  # kube-controller-manager's, with their --concurrent-*-syncs
WORKERS_FLAG = {"deployment": "--concurrent-deployment-syncs", "replicaset": "--concurrent-replicaset-syncs"}
Sample = dict[str, Any]


def processes(root: int) -> list[int]:
    """``root`` and every process under it, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def argv_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def role(pid: int, harness: int) -> str:
    """What a process is: a control-plane component, ``operator:<impl>``, the harness, or other."""
    if pid == harness:
        return "harness"
    argv = argv_of(pid)
    base = os.path.basename(argv[0]) if argv else "?"
    if base in COMPONENTS:
        return base
    text = f" {' '.join(argv)} "
    return next((f"operator:{impl}" for impl, marker in OPERATORS if marker in text), f"other:{base}")


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def flag(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def client_context(kubeconfig: Path) -> ssl.SSLContext:
    """The kubeconfig's client certificate (the control plane's admin), the server's not verified
    (loopback, a certificate the control plane made)."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(cert, key)
    return context


class Watcher:
    """Samples the tree under the command every second and scrapes the components' /metrics."""

    def __init__(self, out: Path, every: float) -> None:
        self.out, self.every = out, every
        self.metrics = out / "metrics"
        self.metrics.mkdir(parents=True, exist_ok=True)
        self.urls: dict[str, str] = {}  # one control plane at a time: a new one replaces the old
        self.context: ssl.SSLContext | None = None
        self.kubeconfig: str | None = None  # the admin kubeconfig the context was made from
        self.workers: dict[str, int] = {}

    def find(self, pids: list[int]) -> None:
        for pid in pids:
            argv = argv_of(pid)
            base = os.path.basename(argv[0]) if argv else ""
            if base == "kwok" and (address := flag(argv, "--server-address")):
                self.urls[base] = f"http://{address}/metrics"
            elif base in COMPONENTS[1:] and (port := flag(argv, "--secure-port")):
                self.urls[base] = f"https://127.0.0.1:{port}/metrics"
                config = flag(argv, "--kubeconfig")
                if base != "kube-apiserver" and config and config != self.kubeconfig:  # a new plane
                    self.context, self.kubeconfig = client_context(Path(config)), config
                if base == "kube-controller-manager":
                    self.workers = {q: int(flag(argv, f) or 5) for q, f in WORKERS_FLAG.items()}

    def scrape(self, stamp: float) -> None:
        for component, url in self.urls.items():
            try:
                with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
                    text = response.read().decode()
            except OSError as exc:  # not up yet, or gone with its control plane: the next scrape tells
                with (self.out / "scrape-errors.txt").open("a") as errors:
                    errors.write(f"{stamp:.1f} {component}: {exc}\n")
                continue
            kept = (ln for ln in text.splitlines() if ln and ln[0] != "#" and "_bucket{" not in ln)
            with gzip.open(self.metrics / f"{stamp:.1f}-{component}.txt.gz", "wt") as f:
                f.write("\n".join(kept))

    def run(self, root: int, done: threading.Event) -> None:
        next_scrape = 0.0
        with (self.out / "cpu.jsonl").open("a") as log:
            while not done.is_set():
                stamp = time.time()
                pids = processes(root)
                cpu = {pid: [role(pid, root), s] for pid in pids if (s := cpu_seconds(pid)) is not None}
                machine = [
                    int(v) / TICK for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
                ]
                load = float(Path("/proc/loadavg").read_text().split()[0])
                log.write(json.dumps({"t": stamp, "load": load, "cpu": cpu, "machine": machine}) + "\n")
                log.flush()
                if stamp >= next_scrape:
                    self.find(pids)
                    self.scrape(stamp)
                    next_scrape = stamp + self.every
                done.wait(max(0.0, 1.0 - (time.time() - stamp)))
        (self.out / "workers.json").write_text(json.dumps(self.workers))


def run(command: list[str], out: Path, every: float) -> int:
    """``command`` with its output timestamped into out/run.log (and echoed), watched until it ends."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()
    watcher = threading.Thread(target=Watcher(out, every).run, args=(proc.pid, done))
    watcher.start()
    assert proc.stdout is not None
    try:
        with (out / "run.log").open("a") as log:
            for line in proc.stdout:
                log.write(f"{time.time():.3f} {line}")
                log.flush()
                sys.stdout.write(line)
    except KeyboardInterrupt:  # the command got it too (same process group): its phases so far count
        pass
    code = proc.wait()
    done.set()
    watcher.join()
    return code


# -- the report ------------------------------------------------------------------------------------


def read_metrics(path: Path) -> dict[str, float]:
    values = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            key, _, value = line.rpartition(" ")
            try:
                values[key] = float(value)
            except ValueError:
                continue
    return values


def label(key: str, name: str) -> str:
    found = re.search(name + r'="([^"]*)"', key)
    return found.group(1) if found else ""


def resource(key: str) -> str:
    sub = label(key, "subresource")
    return f"{label(key, 'verb')} {label(key, 'resource')}" + (f"/{sub}" if sub else "")


class Scrapes:
    """A component's scrapes in time order: the change of a counter between two moments."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = sorted(paths, key=lambda p: float(p.name.split("-", 1)[0]))
        self.times = [float(p.name.split("-", 1)[0]) for p in self.paths]
        self.cache: dict[int, dict[str, float]] = {}

    def at(self, t: float) -> tuple[float, dict[str, float]]:
        i = min(range(len(self.times)), key=lambda j: abs(self.times[j] - t))
        if i not in self.cache:
            self.cache[i] = read_metrics(self.paths[i])
        return self.times[i], self.cache[i]

    def change(self, t0: float, t1: float, prefix: str) -> tuple[dict[str, float], float]:
        (a_t, a), (b_t, b) = self.at(t0), self.at(t1)
        return {k: v - a.get(k, 0.0) for k, v in b.items() if k.startswith(prefix)}, b_t - a_t

    def values(self, t0: float, t1: float, key: str) -> list[float]:
        return [self.at(t)[1].get(key, 0.0) for t in self.times if t0 <= t <= t1]


def phases(out: Path) -> list[dict[str, Any]]:
    found = []
    for line in (out / "run.log").read_text().splitlines():
        stamp, _, text = line.partition(" ")
        if m := PHASE.search(text):
            end = float(stamp)
            found.append(m.groupdict() | {"t0": end - float(m["seconds"]), "t1": end})
    return found


def report(out: Path) -> list[dict[str, Any]]:
    """Each converge and update storm of the run: where the CPU went and how the queues stood."""
    samples = [json.loads(ln) for ln in (out / "cpu.jsonl").read_text().splitlines() if ln.strip()]
    scrapes = {c: Scrapes(list((out / "metrics").glob(f"*-{c}.txt.gz"))) for c in COMPONENTS[1:]}
    workers = json.loads((out / "workers.json").read_text()) if (out / "workers.json").exists() else {}
    rows = []
    for p in phases(out):
        t0, t1 = p["t0"], p["t1"]
        seconds = t1 - t0
        a = min(samples, key=lambda s: abs(s["t"] - t0))
        b = min(samples, key=lambda s: abs(s["t"] - t1))
        end = dict(b["cpu"])
        inside = max((s for s in samples if s["t"] <= t1), key=lambda s: s["t"], default=a)
        for pid, (name, cpu) in inside["cpu"].items():  # a process the harness was stopping at b: gone,
            if pid not in end or end[pid][0].startswith("other:"):  # or "other:" (its cmdline empty)
                end[pid] = [name, cpu]
        spent: dict[str, float] = defaultdict(float)
        for pid, (name, cpu) in end.items():
            spent[name] += cpu - a["cpu"].get(pid, [name, 0.0])[1]  # a process started since: all of it
        loads = [s["load"] for s in samples if t0 <= s["t"] <= t1]
        busy = [b["machine"][i] - a["machine"][i] for i in range(8)]
        idle = busy[3] + busy[4]  # idle, iowait
        total = sum(busy)  # 0 when a phase shorter than the sampling falls between the same samples
        row: dict[str, Any] = {
            **{k: p[k] for k in ("impl", "rep", "phase")},
            "seconds": seconds,
            "load": [min(loads, default=a["load"]), max(loads, default=a["load"])],
            "machine_busy": 1 - idle / total if total else None,
            "cpu_s": {k: round(v, 2) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.05},
        }
        row["cores"] = sum(row["cpu_s"].values()) / seconds
        api = scrapes["kube-apiserver"]
        if api.paths:
            counts, span = api.change(t0, t1, "apiserver_request_total{")
            sums, _ = api.change(t0, t1, "apiserver_request_duration_seconds_sum{")
            ns, _ = api.change(t0, t1, "apiserver_request_duration_seconds_count{")
            by: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            for k, v in counts.items():
                by[resource(k)][0] += v
            for k, v in sums.items():
                by[resource(k)][1] += v
            for k, v in ns.items():
                by[resource(k)][2] += v
            top = sorted(by.items(), key=lambda kv: -kv[1][0])[:12]
            row["apiserver"] = {
                "requests_per_s": sum(v[0] for v in by.values()) / span if span else 0.0,
                "top": {k: {"n": v[0], "mean_ms": 1000 * v[1] / v[2] if v[2] else None} for k, v in top},
            }
        kcm = scrapes["kube-controller-manager"]
        if kcm.paths:
            row["queues"] = {}
            for q in QUEUES:
                change, _ = kcm.change(t0, t1, "workqueue_")
                n = change.get(f'workqueue_work_duration_seconds_count{{name="{q}"}}', 0.0)
                work = change.get(f'workqueue_work_duration_seconds_sum{{name="{q}"}}', 0.0)
                waited = change.get(f'workqueue_queue_duration_seconds_sum{{name="{q}"}}', 0.0)
                row["queues"][q] = {
                    "workers": workers.get(q, 5),
                    "busy": work / workers.get(q, 5) / seconds,
                    "work_ms": 1000 * work / n if n else None,
                    "queued_ms": 1000 * waited / n if n else None,
                    "depth_max": max(kcm.values(t0, t1, f'workqueue_depth{{name="{q}"}}'), default=0.0),
                }
        row["rate_limited"] = {}
        for component in ("kube-controller-manager", "kube-scheduler"):
            if scrapes[component].paths:
                change, _ = scrapes[component].change(t0, t1, "rest_client_")
                row["rate_limited"][component] = {
                    "requests": sum(
                        v for k, v in change.items() if k.startswith("rest_client_requests_total")
                    ),
                    "waited_s": sum(
                        v
                        for k, v in change.items()
                        if k.startswith("rest_client_rate_limiter_duration_seconds_sum")
                    ),
                }
        rows.append(row)
    return rows


DASH = "\u2013"


def workers_busy(row: dict[str, Any], queue: str) -> str:
    """A queue's workers busy (their work time over the phase; over 100 % is the scrapes' 10 s
    grain) and its deepest depth."""
    s = row.get("queues", {}).get(queue)
    if s is None:
        return DASH
    return f"{min(s['busy'], 1.0):.0%} of {s['workers']} ({s['depth_max']:.0f})"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: a row per phase, the cluster's share of the CPU beside the operator's."""
    lines = [
        "| run | phase | s | load | cores used | CPU s: all | cluster | of it kube-apiserver | operator "
        "| harness | KCM deployment workers busy (depth max) | replicaset workers busy | client rate-limiter "
        "waits (KCM, scheduler) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = r["cpu_s"]
        total = sum(cpu.values())
        cluster = sum(cpu.get(c, 0.0) for c in CLUSTER)
        operator = sum(v for k, v in cpu.items() if k.startswith("operator:"))
        waits = ", ".join(f"{v['waited_s']:.2f} s" for v in r["rate_limited"].values()) or DASH
        cells = [
            f"{r['impl']} {r['rep']}",
            r["phase"],
            f"{r['seconds']:.1f}",
            f"{r['load'][0]:.0f}-{r['load'][1]:.0f}",
            f"{r['cores']:.2f} of 2",
            f"{total:.0f}",
            # nothing spent: a phase shorter than the sampling, between the same two samples
            f"{cluster:.0f} ({cluster / total:.0%})" if total else DASH,
            f"{cpu.get('kube-apiserver', 0.0):.0f}",
            f"{operator:.1f}",
            f"{cpu.get('harness', 0.0):.1f}",
            workers_busy(r, "deployment"),
            workers_busy(r, "replicaset"),
            waits,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(out: Path) -> None:
    rows = report(out)
    (out / "cluster.json").write_text(json.dumps(rows, indent=1))
    (out / "cluster.md").write_text(table(rows) + "\n")
    print(f"wrote {out / 'cluster.md'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, help="directory of the samples, scrapes and report")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between /metrics scrapes")
    parser.add_argument("--report", type=Path, default=None, help="only the report, from this directory")
    parser.add_argument("command", nargs="*", help="the command to run and watch (after --)")
    args = parser.parse_args()
    if args.report:
        write_report(args.report)
        return
    if not args.out or not args.command:
        parser.error("--out and a command are needed (or --report DIR)")
    code = run(args.command, args.out, args.every)
    write_report(args.out)
    sys.exit(code)


if __name__ == "__main__":
    main()
