"""The Makefile's own process handling, run with stand-ins for pytest, python and kubeloop: the
differential chunks it starts in the background still stop on SIGINT."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).parents[2] / "Makefile"
SIGINT_IGNORED = (
    "import signal; print('ignored' if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else 'default')"
)


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    """A bin directory whose pytest prints whether SIGINT is ignored, and whose kubeloop and python do
    nothing; an installed-venv stamp newer than the pyproject.toml it is made from."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {
        "pytest": f'exec {sys.executable} -c "{SIGINT_IGNORED}"',
        "kubeloop": "exit 0",
        "python": "exit 0",
    }.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "stamp").touch()
    return bin_dir


def test_the_differential_chunks_started_in_the_background_do_not_ignore_sigint(
    stand_ins: Path, tmp_path: Path
) -> None:
    args = [f"BIN={stand_ins}", f"STAMP={tmp_path / 'stamp'}", "DIFFERENTIAL_CHUNKS=2", "DIFFERENTIAL_SEED=0"]
    subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "-C", str(tmp_path), "test-differential", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )
    said = [(tmp_path / "build" / f"differential-{seed}.log").read_text().strip() for seed in (1, 2)]
    assert said == ["default", "default"]
