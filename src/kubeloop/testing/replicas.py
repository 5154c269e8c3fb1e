"""Replicas of an operator as processes of their own (``kubeloop run TARGET``), as pods would run
them: started, made ready, SIGKILLed or stopped, their logs and their reconcile records read back.

Shared by the sharding test (tests/e2e/test_sharding.py) and benchmarks (bench/sharding). A
replica's servers ask for port 0; the ports they bound are read from its own log (a port picked free
beforehand could be taken by another process meanwhile, which would answer for it). The records are
what tests/e2e/recorded_operator.py writes to ``$KUBELOOP_RECORD``: one JSON line per reconcile's
start and end (``key``, ``replica``, ``what``, ``at``: wall time); from every replica's records
``overlaps`` proves that no object was reconciled by two at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import re
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeloop.testing.process import ManagedProcess, http_ok

__all__ = ["Replica", "adoption", "first_starts", "logged_at", "overlaps"]


@dataclass
class Replica:
    """One operator process: ``kubeloop run target`` with ``kubeconfig`` (a service account's, as a
    pod has), watching ``namespace`` and keeping its Leases there, plus ``args``; ``env`` added to
    this process's environment (no ``KUBECONFIG``). Its output goes to ``directory/<identity>.log``
    (appended across starts), its identity to ``$KUBELOOP_SHARD_IDENTITY``. A ManagedProcess runs it:
    in a session of its own, SIGKILLed if this process dies."""

    identity: str
    target: str
    kubeconfig: Path
    namespace: str
    directory: Path
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    """The ports its servers bound this start, by server (``Probe``, ``Metrics``), from its log."""
    killed_at: float | None = None
    """Wall time of its SIGKILL, if it had one."""
    proc: ManagedProcess = field(init=False)
    """The process that runs it (its ``pid`` once started)."""

    def __post_init__(self) -> None:
        argv = [
            sys.executable, "-m", "kubeloop.cli.main", "run", self.target,
            "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace,
            "--leader-election-namespace", self.namespace,
            "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0",
            *self.args,
        ]  # fmt: skip
        env = {**os.environ, **self.env, "KUBELOOP_SHARD_IDENTITY": self.identity}
        env.pop("KUBECONFIG", None)
        self.proc = ManagedProcess(self.identity, argv, self.log, env)

    @property
    def log(self) -> Path:
        return self.directory / f"{self.identity}.log"

    @property
    def record(self) -> Path:
        """Where it records its reconciles (pass it as ``$KUBELOOP_RECORD`` in ``env``)."""
        return self.directory / f"{self.identity}.jsonl"

    def start(self) -> None:
        self.ports = {}
        self.killed_at = None
        self.proc.start()

    async def wait_ready(self, within: float = 60.0) -> None:
        """Until its /readyz answers 200; AssertionError (with its log's tail) if it exits first or
        is not ready ``within`` seconds."""
        deadline = time.monotonic() + within
        while not {"Probe", "Metrics"} <= self.ports.keys() or not await asyncio.to_thread(
            http_ok, f"http://127.0.0.1:{self.ports['Probe']}/readyz"
        ):
            found = re.findall(r"(\w+)Server serving on \S+ \(port (\d+)\)", self.proc.output())
            self.ports = {server: int(port) for server, port in found}
            assert self.proc.pid is not None
            assert not self.proc.exited, f"{self.identity} exited: {self.tail()}"
            assert time.monotonic() < deadline, f"{self.identity} not ready: {self.tail()}"
            await asyncio.sleep(0.2)

    def metric(self, name: str) -> float:
        """The sum of ``name``'s samples (all label sets) on its /metrics now."""
        url = f"http://127.0.0.1:{self.ports['Metrics']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(rf"{name}[{{ ]", line)
        )

    def rss(self) -> int:
        """Its resident set size now, in bytes."""
        assert self.proc.pid is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert found is not None, status
        return int(found.group(1)) * 1024

    def kill(self) -> None:
        """SIGKILL it (a crash: no reconcile finishes, no Lease is released) and note when."""
        assert self.proc.pid is not None
        self.proc.kill()
        self.killed_at = time.time()

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM it and wait ``grace`` seconds, then SIGKILL: its exit code (None if it had to be
        killed or never started). Idempotent."""
        return self.proc.stop(grace)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def logged(self, text: str, since: int = 0) -> str | None:
        """The first line of its log after its byte ``since`` that contains ``text``."""
        return next((line for line in self.proc.output(since).splitlines() if text in line), None)

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of its log this start."""
        return self.proc.tail(lines)

    def records(self) -> Iterator[dict[str, Any]]:
        """Its reconcile records, in the order written."""
        if self.record.exists():
            for line in self.record.read_text().splitlines():
                yield json.loads(line)


def logged_at(line: str) -> float:
    """The wall time of a replica's log line (``2026-12-06 04:50:35,123 INFO ...``: local time, to the ms)."""
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def adoption(replicas: Sequence[Replica], shard: str, since: Mapping[str, int]) -> tuple[int, float] | None:
    """Whether one of ``replicas`` adopted ``shard`` (a stopped replica's) in what it logged after its
    byte ``since[identity]``: the number of objects it queued as that shard's (known to its sharder,
    or listed under the shard's label) and when it logged so (it then held the shard's Lease by a
    write of its own), else None."""
    for replica in replicas:
        line = replica.logged(f"adopted shard {shard}:", since.get(replica.identity, 0))
        if line is not None:
            found = re.search(r"adopted shard \S+: (\d+) object", line)
            assert found is not None, line
            return int(found.group(1)), logged_at(line)
    return None


def first_starts(replicas: Sequence[Replica], keys: set[str], after: float) -> dict[str, float]:
    """Each of ``keys`` that one of ``replicas`` started reconciling after ``after``: when it first did."""
    first: dict[str, float] = {}
    for replica in replicas:
        for event in replica.records():
            if event["what"] == "start" and event["key"] in keys and event["at"] > after:
                first[event["key"]] = min(event["at"], first.get(event["key"], event["at"]))
    return first


def overlaps(replicas: Sequence[Replica]) -> tuple[int, list[str]]:
    """Every reconcile's interval per object from all records (one of a killed replica that has no
    end lasted until the kill, of a live one until now), and the pairs of intervals of one object
    that overlap: the reconciles counted, and the overlaps described."""
    intervals: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    count = 0
    for replica in replicas:
        open_: dict[str, float] = {}
        for event in replica.records():
            if event["what"] == "start":
                open_[event["key"]] = event["at"]
            else:
                intervals[event["key"]].append((open_.pop(event["key"]), event["at"], replica.identity))
                count += 1
        for key, started in open_.items():
            intervals[key].append((started, replica.killed_at or time.time(), replica.identity))
    found = []
    for key, spans in intervals.items():
        spans.sort()
        for (s1, e1, r1), (s2, e2, r2) in itertools.pairwise(spans):
            if s2 < e1:
                found.append(f"{key}: {r1} [{s1:.3f}, {e1:.3f}] and {r2} [{s2:.3f}, {e2:.3f}]")
    return count, found
