"""The chaos suite's table: printed at the end of the run and written, with its rows as JSON, to
build/chaos/ (full form) or the temporary directory (short form). docs/reliability.md's results are
edited by hand from those files: a full run is often done in parts (each locked run at most 30 min), each
part with its own fault-free reference, and the doc keeps every session's table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import Scale

from kubeloop.testing.versions import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION

ROOT = Path(__file__).parents[2]
FULL_OUT = ROOT / "build" / "chaos"


@dataclass
class Row:
    """One run of the table."""

    scenario: str
    title: str
    converge_seconds: float | None
    requests: int
    relists: int
    failed_requests: int
    reconcile_errors: int
    failover_gap: float | None
    objects_lost: int
    notes: str = ""
    baseline_requests: int = 0
    load: float | None = None  # the machine's mean 1-minute load average during the run
    started: str = ""  # UTC, ISO 8601: when the run began and ended
    ended: str = ""
    demanded: int = 0  # requests the fault itself asked of the operator (a competing writer's edits)
    asked: int = 0  # the requests the run asked of the operator, all told (budget.py): at most 2x that

    def cells(self) -> list[str]:
        ratio = f" ({self.requests / self.baseline_requests:.2f}x)" if self.baseline_requests else ""
        return [
            f"{self.scenario}: {self.title}",
            f"{self.converge_seconds:.1f} s" if self.converge_seconds is not None else "did not converge",
            f"{self.requests}{ratio}",
            str(self.relists),
            f"{self.failed_requests} / {self.reconcile_errors}",
            f"{self.failover_gap:.1f} s" if self.failover_gap is not None else "",
            str(self.objects_lost),
            f"{self.load:.1f}" if self.load is not None else "",
        ]


HEADER = [
    "scenario",
    "converge time",
    "requests (x fault-free)",
    "relists",
    "errors seen (failed requests / reconcile errors)",
    "failover gap",
    "objects lost",
    "load avg",
]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in sorted(rows, key=lambda r: r.scenario)]
    return "\n".join(lines)


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}"


def kubeloop_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(scale: Scale, rows: list[Row], out_dir: Path | None = None) -> Path:
    """Print the table and write it (``<form>-<UTC time>.md``) and its rows (``.json``) to ``out_dir``:
    build/chaos/ for the full form, the temporary directory for the short one. Nothing is overwritten,
    so that the parts of a full run can be published together."""
    now = dt.datetime.now(dt.UTC)
    commit = kubeloop_commit()
    ordered = sorted(rows, key=lambda r: r.scenario)
    notes = "\n".join(f"- {r.scenario}: {r.notes}" for r in ordered if r.notes)
    times = "\n".join(f"- {r.scenario}: {r.started} - {r.ended} UTC" for r in ordered if r.started)
    body = f"""## {scale.form} form, {scale.apps} AppServices per run

Run {now:%Y-%m-%d %H:%M} UTC on {machine()}; kubeloop {commit},
Python {sys.version.split()[0]}, Kubernetes {KUBERNETES_VERSION}, etcd {ETCD_VERSION}, kwok {KWOK_VERSION}
({scale.nodes} fake nodes).

{table(rows)}

{notes}

{times}
"""
    print("\n" + body)
    if out_dir is None:
        out_dir = FULL_OUT if scale.form == "full" else Path(tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"kubeloop-chaos-{scale.form}-{now:%Y%m%d-%H%M%S}.md"
    out.write_text(body)
    record = {"form": scale.form, "apps": scale.apps, "commit": commit, "written": now.isoformat()}
    record["rows"] = [dataclasses.asdict(r) for r in ordered]
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"(written to {out} and {out.with_suffix('.json').name})")
    return out
