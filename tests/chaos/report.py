"""The chaos suite's table: printed at the end of the run and written to docs/reliability.md (full form)
or a file in the temporary directory (short form)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import Scale

from kubeloop.testing.versions import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION

DOC = Path(__file__).parents[2] / "docs" / "reliability.md"


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
            cwd=DOC.parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(scale: Scale, rows: list[Row]) -> Path:
    notes = "\n".join(f"- {r.scenario}: {r.notes}" for r in sorted(rows, key=lambda r: r.scenario) if r.notes)
    body = f"""## {scale.form} form, {scale.apps} AppServices per run

Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; kubeloop {kubeloop_commit()},
Python {sys.version.split()[0]}, Kubernetes {KUBERNETES_VERSION}, etcd {ETCD_VERSION}, kwok {KWOK_VERSION}
({scale.nodes} fake nodes).

{table(rows)}

{notes}
"""
    print("\n" + body)
    if scale.form == "full":
        text = DOC.read_text()
        marker = "<!-- chaos-table -->"
        head = text.split(marker)[0] if marker in text else text
        DOC.write_text(head.rstrip() + f"\n\n{marker}\n\n" + body)
        return DOC
    out = Path(tempfile.gettempdir()) / "kubeloop-chaos-short.md"
    out.write_text(body)
    print(f"(written to {out})")
    return out
