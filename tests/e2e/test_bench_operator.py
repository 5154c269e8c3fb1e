"""The operator benchmark (bench/operator/run.py, make bench-quick) end to end at a small size: the
AppService operator as kubeloop, controller-runtime (built with the machine's Go), kopf and the floor,
each run for real through every scenario on the benchmark's own control plane (the four at once,
--concurrent, to fit make test's time), and the report written from what they did. No figure is
asserted (they are the benchmark's to report), only that each one converged, was measured and is in
the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
IMPLS = ("kubeloop", "controller-runtime", "kopf", "floor")
APPS = 10


def test_operator_benchmark_small(tmp_path: Path) -> None:
    results_path, out = tmp_path / "results.json", tmp_path / "report"
    argv = [
        sys.executable, str(ROOT / "bench" / "operator" / "run.py"), "--apps", str(APPS), "--reps", "1",
        "--idle", "2", "--latency", "3", "--timeout", "120", "--concurrent",
        "--out", str(out), "--results", str(results_path),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=480, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(results_path.read_text())
    assert results["failures"] == []
    runs = {r["impl"]: r for r in results["runs"]}
    assert sorted(runs) == sorted(IMPLS)
    for impl, r in runs.items():
        for phase in ("converge", "update"):
            assert r[phase]["curve"][-1][1] == APPS, (impl, phase)
            # Every implementation writes each AppService's status at least once per phase.
            writes = sum(n for k, n in r[phase]["requests"].items() if k.endswith("appservices/status"))
            assert writes >= APPS, (impl, phase, r[phase]["requests"])
        assert len(r["latency"]["samples"]) == 3, impl
        assert all(s > 0 for s in r["latency"]["samples"]), impl
        assert 0 < r["cold"]["first_s"] <= r["cold"]["synced_s"], impl
        assert r["idle"]["seconds"] == 2, impl
        assert r["peak_rss"] > 0, impl
    page = (out / "operator.md").read_text()
    for impl in IMPLS:
        assert f"| {impl} |" in page
    assert "## Latency and cold start" in page
    assert "## Steady state" in page
    for plot in ("operator_converge.png", "operator_rss.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"
