"""Warm start time of the test control plane: from `start()` to healthy, and to stopped.

Run: .venv/bin/python bench/controlplane_start.py [--runs N]; writes docs/benchmarks/controlplane.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kubeloop.testing import ControlPlane, ControlPlaneOptions
from kubeloop.testing.versions import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION

SHAPES = {
    "etcd + kube-apiserver": ControlPlaneOptions(),
    "+ controller manager, scheduler, kwok (1 Ready node)": ControlPlaneOptions(
        controller_manager=True, nodes=1
    ),
}


def measure(options: ControlPlaneOptions, runs: int) -> tuple[list[float], list[float]]:
    """Seconds to healthy and seconds to stop, per run."""
    up, down = [], []
    for _ in range(runs):
        plane = ControlPlane(options)
        t0 = time.perf_counter()
        plane.start()
        t1 = time.perf_counter()
        plane.stop()
        t2 = time.perf_counter()
        up.append(t1 - t0)
        down.append(t2 - t1)
    return up, down


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/controlplane.md"))
    args = parser.parse_args()
    rows = []
    for name, options in SHAPES.items():
        up, down = measure(options, args.runs)
        rows.append(
            f"| {name} | {statistics.median(up):.2f} | {max(up):.2f} | {statistics.median(down):.2f} |"
        )
        print(rows[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Control-plane start time (warm, binaries cached)\n\n"
        f"Kubernetes {KUBERNETES_VERSION}, etcd {ETCD_VERSION}, kwok {KWOK_VERSION}; {args.runs} runs each,"
        " measured by `bench/controlplane_start.py` on the CI machine kind (2 cores).\n"
        "Start is from `ControlPlane.start()` to every component healthy (kube-apiserver `/readyz`,"
        " nodes Ready).\n\n"
        "| components | start median (s) | start max (s) | stop median (s) |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


if __name__ == "__main__":
    main()
