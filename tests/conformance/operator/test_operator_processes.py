"""Operators as separate processes (`kubeloop run`): leader election hands over after a SIGKILL
within the lease duration + 2 s, and SIGTERM lets an in-flight reconcile finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gadgets import gadget

from kubeloop.testing import Kubectl, eventually
from kubeloop.testing.fixtures import Cluster

pytestmark = pytest.mark.usefixtures("gadget_crd")

HERE = Path(__file__).parent
LEASE_DURATION = 4.0


@pytest.fixture
def start(cluster: Cluster, namespace: str) -> Iterator[object]:
    """Start `kubeloop run lease_operator:operator` processes; all are killed afterwards."""
    procs: list[subprocess.Popen[str]] = []

    def launch(*extra: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(HERE), "KUBECONFIG": str(cluster.kubeconfig)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeloop.cli.main",
                "run",
                "lease_operator:operator",
                "--namespace",
                namespace,
                "--metrics-bind-address",
                "0",
                "--health-probe-bind-address",
                "0",
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield launch
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def reconciled_by(kubectl: Kubectl, namespace: str, name: str) -> int | None:
    got = kubectl("get", "configmap", f"{name}-by", "-n", namespace, "-o", "json", check=False)
    return int(json.loads(got.stdout)["data"]["pid"]) if got.returncode == 0 else None


def test_only_the_leader_reconciles_and_a_killed_leader_is_replaced_within_the_lease(
    start, kubectl: Kubectl, namespace: str
) -> None:
    election = [
        "--leader-elect",
        "--leader-election-namespace",
        namespace,
        "--lease-duration",
        str(LEASE_DURATION),
        "--renew-deadline",
        "3",
        "--retry-period",
        "0.5",
    ]
    first, second = start(*election), start(*election)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(gadget("one")))
    eventually(lambda: reconciled_by(kubectl, namespace, "one") is not None, what="'one' reconciled")
    leader_pid = reconciled_by(kubectl, namespace, "one")
    assert leader_pid in (first.pid, second.pid)
    lease = kubectl.json("get", "lease", "lease-test-leader", "-n", namespace)
    assert lease["spec"]["holderIdentity"]
    leader, follower = (first, second) if leader_pid == first.pid else (second, first)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(gadget("two")))
    eventually(lambda: reconciled_by(kubectl, namespace, "two") is not None, what="'two' reconciled")
    assert reconciled_by(kubectl, namespace, "two") == leader.pid, "the follower does not reconcile"

    leader.kill()
    killed_at = time.monotonic()
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(gadget("three")))
    eventually(
        lambda: reconciled_by(kubectl, namespace, "three") == follower.pid,
        timeout=LEASE_DURATION + 10,
        what="the follower takes over",
    )
    took = time.monotonic() - killed_at
    print(f"takeover after SIGKILL took {took:.2f} s")
    assert took <= LEASE_DURATION + 2, f"takeover took {took:.1f} s"
    assert (
        kubectl.json("get", "lease", "lease-test-leader", "-n", namespace)["spec"]["holderIdentity"]
        != lease["spec"]["holderIdentity"]
    )


def test_sigterm_lets_the_running_reconcile_finish(start, kubectl: Kubectl, namespace: str) -> None:
    proc = start()
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(gadget("slow", message="sleep:3")))
    eventually(
        lambda: kubectl("get", "configmap", "slow-started", "-n", namespace, check=False).returncode == 0,
        what="reconcile started",
    )
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    output = proc.stdout.read() if proc.stdout else ""
    assert code == 0, output
    assert reconciled_by(kubectl, namespace, "slow") == proc.pid, "the in-flight reconcile completed"
    assert "shutting down" in output
