"""Reading the banner a ``kubeloop dev`` process (or ``make run``) prints before it serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def read_until_kubeconfig(proc: subprocess.Popen[str], what: str) -> tuple[list[str], Path]:
    """``proc``'s output lines up to its ``kubeconfig:`` line, and that path; fails the test (naming
    ``what`` and showing the output) if the process ends before printing one."""
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip().startswith("kubeconfig:"):
            return lines, Path(line.split(":", 1)[1].strip())
    pytest.fail(f"{what} ended before printing a kubeconfig:\n" + "".join(lines))
