"""The documentation site built once for the tests of tests/docs (the strict build and the browser)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with ``mkdocs build --strict`` (mkdocs is a dependency of the tests: the docs extra)."""
    out = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(mkdocs, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr[-4000:]}"
    warnings = [line for line in built.stderr.splitlines() if line.startswith("WARNING")]
    assert not warnings, warnings
    return out
