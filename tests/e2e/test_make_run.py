"""`make run`, the README's first command: the AppService demo comes up on the embedded API server,
kubectl can use it, and Ctrl-C takes everything down; `kubeloop dev --cluster controlplane` does the
same on the locally built control plane, where the pods really run on a kwok node."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from banner import read_until_kubeconfig

from kubeloop.testing import Kubectl

ROOT = Path(__file__).parents[2]


DEV_ON_CONTROL_PLANE = [
    ".venv/bin/kubeloop",
    "dev",
    "appservice_operator.operator:operator",
    "--cluster",
    "controlplane",
    "--sample",
    "examples/appservice/config/samples/app.example.com_v1_appservice.yaml",
]


@pytest.mark.parametrize(
    "command",
    [["make", "-s", "run"], DEV_ON_CONTROL_PLANE],
    ids=["make-run-embedded", "dev-on-control-plane"],
)
def test_demo_comes_up_serves_kubectl_and_stops_cleanly(command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "examples/appservice/src")}
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output = ""
    try:
        lines, kubeconfig = read_until_kubeconfig(proc, "make run")
        output = "".join(lines)
        assert "every sample is Ready" in output
        assert "deployment.apps/nginx-app   2/2" in output
        assert "80:30002/TCP" in output
        kubectl = Kubectl(kubeconfig)
        app = kubectl.json("get", "appservices.app.example.com", "nginx-app")
        assert app["status"]["readyReplicas"] == 2
        if command is DEV_ON_CONTROL_PLANE:
            pods = kubectl.json("get", "pods", "-l", "app.kubernetes.io/name=nginx-app")["items"]
            assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
        data_dir = kubeconfig.parent
        assert data_dir.exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole process group
        proc.wait(timeout=60)
    rest = proc.stdout.read()
    assert "stopping..." in rest
    assert "Traceback" not in output + rest, "nothing logged a traceback, from start to Ctrl-C"
    assert not data_dir.exists(), "the cluster's data is removed on Ctrl-C"
