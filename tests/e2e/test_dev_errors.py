"""`kubeloop dev` on the embedded server ends a failure it cannot get past with one line naming it
and exit code 1, not a Python traceback: here two CRDs of one operator whose names conflict, so the
server never marks the second Established (NamesAccepted=False, as the real naming controller).
And Ctrl-C while it starts stops it then, not once everything is up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

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


def test_ctrl_c_while_it_starts_stops_it_then(tmp_path: Path) -> None:
    """A ConfigMap sample never reports Ready, so `kubeloop dev` waits (a minute) for it before its
    banner; Ctrl-C then stops it there (the old code: after the wait, the banner, then stopping)."""
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
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "stopping..." in rest
    assert "a local cluster is up" not in rest, "stopped where it was, before its banner"
    assert "Traceback" not in rest, rest
