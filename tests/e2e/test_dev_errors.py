"""`kubeloop dev` on the embedded server ends a failure it cannot get past with one line naming it
and exit code 1, not a Python traceback: here two CRDs of one operator whose names conflict, so the
server never marks the second Established (NamesAccepted=False, as the real naming controller).
And Ctrl-C (or SIGTERM) while it starts stops it then, not once everything is up, with the exit code a
shell reports for an interrupted command (130, 143): a control plane's start too, at once."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

OPERATOR = """
import kubeloop as kl
from kubeloop import crd


class Spec(crd.Model):
    size: int = 1


@crd.resource(group="devcrds.example.com", version="v1")
class Gadget(crd.CustomResource):
    spec: Spec


@crd.resource(group="devcrds.example.com", version="v1", short_names=["gadget"])
class Widget(crd.CustomResource):
    spec: Spec


operator = kl.Operator("conflicting")


@operator.reconcile(Gadget)
async def gadgets(gadget: Gadget, ctx: kl.Context) -> None:
    return None


@operator.reconcile(Widget)
async def widgets(widget: Widget, ctx: kl.Context) -> None:
    return None
"""

# `kubeloop dev` itself, with its wait for the CRDs cut from 30 s to 2 (CRD_WAIT: a module constant)
DEV = (
    "import sys; import kubeloop.cli.dev as dev; dev.CRD_WAIT = 2.0; from kubeloop.cli.main import main;"
    " sys.argv = ['kubeloop', 'dev', 'conflicting_operator:operator']; main()"
)


def test_a_crd_never_established_ends_dev_with_one_line_naming_it_and_why(tmp_path: Path) -> None:
    (tmp_path / "conflicting_operator.py").write_text(OPERATOR)
    done = subprocess.run(
        [sys.executable, "-c", DEV],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    # whichever CRD the server took second is the one whose names conflict (its singular, or its
    # short name, is the other's)
    assert re.fullmatch(
        r'Error: CRD (gadgets|widgets)\.devcrds\.example\.com \(NamesAccepted=False \(\w+Conflict: "gadget"'
        r" is already in use\); Established=False \(NotAccepted: not all names are accepted\)\)"
        r" not Established within 2 s",
        said,
    ), said
    assert "starting operator" not in done.stdout, "the operator does not start without its CRDs"


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_ctrl_c_while_it_starts_stops_it_then(tmp_path: Path, signum: signal.Signals, code: int) -> None:
    """A ConfigMap sample never reports Ready, so `kubeloop dev` waits (a minute) for it before its
    banner; Ctrl-C then stops it there (the old code: after the wait, the banner, then stopping),
    exiting 128 + the signal's number (the old code: 0, as if it had done its job)."""
    (tmp_path / "conflicting_operator.py").write_text(OPERATOR.replace('short_names=["gadget"]', ""))
    sample = tmp_path / "never-ready.yaml"
    sample.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: never-ready, namespace: default}\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeloop.cli.main",
            "dev",
            "conflicting_operator:operator",
            "--sample",
            str(sample),
        ],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("configmap/never-ready created"):
                break
        else:
            raise AssertionError("kubeloop dev ended before applying the sample:\n" + "".join(lines))
        proc.send_signal(signum)
        rest = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code, "".join(lines) + rest
    assert "stopping..." in rest
    assert "a local cluster is up" not in rest, "stopped where it was, before its banner"
    assert "Traceback" not in rest, rest


# An etcd that logs all along and never answers /health: a control plane's start would wait for it
# (while it progresses) up to start_limit, 300 s.
ENDLESS_ETCD = """
import os, sys, time
open(os.environ["ETCD_PID_FILE"], "w").write(str(os.getpid()))
while True:
    print("still starting", flush=True)
    time.sleep(0.1)
"""


def test_ctrl_c_while_a_control_plane_starts_stops_its_start_at_once(tmp_path: Path) -> None:
    """The start ran on in its thread until done (here: up to 300 s), and only then did dev exit."""
    etcd, pid_file = tmp_path / "etcd", tmp_path / "etcd.pid"
    etcd.write_text(f"#!{sys.executable}\n{ENDLESS_ETCD}")
    etcd.chmod(etcd.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "TEST_ASSET_ETCD": str(etcd), "ETCD_PID_FILE": str(pid_file)}
    argv = [sys.executable, "-m", "kubeloop.cli.main", "dev", "--cluster", "controlplane"]
    proc = subprocess.Popen(
        argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        while not pid_file.exists() or not pid_file.read_text():  # its etcd started, logging
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        said = proc.communicate(timeout=60)[0]  # the old code: until the start ended, up to 300 s
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, said
    assert "Traceback" not in said, said
    state = Path(f"/proc/{pid_file.read_text()}/stat")
    assert not state.exists() or state.read_text().rpartition(")")[2].split()[0] == "Z", "etcd stopped"
