"""The Ansible and Helm operator benchmark (bench/plugins/run.py, make bench-plugins) end to end at a
small size: kubeloop's operators of the AppService role and chart, each run for real through create,
resize and an idle change on the benchmark's own control plane, and the report written from what they
did. operator-sdk's operators are left out (their Go build takes minutes cold); no figure is asserted
(they are the benchmark's to report), only that each converged, was measured and is in the report.
About 3 minutes on a loaded machine: make test-long runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
APPS = 2


@pytest.mark.long
def test_plugins_benchmark_small(tmp_path: Path) -> None:
    results_path, out, summary = tmp_path / "results.json", tmp_path / "report", tmp_path / "benchmarks.md"
    summary.write_text("# Benchmarks\n")
    argv = [
        sys.executable, str(ROOT / "bench" / "plugins" / "run.py"), "--apps", str(APPS), "--latency", "1",
        "--floor-runs", "1", "--impls", "kubeloop", "--results", str(results_path), "--out", str(out),
        "--summary", str(summary),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(results_path.read_text())
    runs = {r["plugin"]: r for r in results["runs"]}
    assert sorted(runs) == ["ansible", "helm"]
    for plugin, r in runs.items():
        assert r["impl"] == "kubeloop"
        for phase in ("create", "resize"):
            assert len(r[phase]["latencies"]) == APPS, (plugin, phase)
            assert r[phase]["seconds"] > 0, (plugin, phase)
            assert r[phase]["cpu"] > 0, (plugin, phase)
        assert len(r["latency"]) == 1, plugin
        assert r["latency"][0] > 0, plugin
        assert r["rss_mib"] > 0, plugin
    # Each app's role ran at least once per change (more for its children's events).
    assert runs["ansible"]["create"]["runs"] >= APPS
    assert runs["ansible"]["resize"]["runs"] >= APPS
    assert all(w > 0 and c > 0 for w, c in results["floors"].values())
    page = (out / "plugins.md").read_text()
    for plugin in ("ansible", "helm"):
        assert f"| kubeloop {plugin} | {APPS} |" in page
    assert "## Where the time goes" in page
    assert "<!-- plugins:begin -->" in summary.read_text()
