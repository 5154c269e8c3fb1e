"""`kubeloop dev` with an operator's webhooks on the embedded server: they are served on loopback and
installed, so real kubectl's apply of a bad object is denied by the operator's validating webhook (its
message as kubectl prints it) and a good one is stored with the defaulting webhook's values."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from banner import read_until_kubeconfig

from kubeloop.testing import Kubectl

ROOT = Path(__file__).parents[2]

OPERATOR = """
import kubeloop as kl
from kubeloop import crd
from kubeloop.webhook import AdmissionRequest, FieldError, Invalid


class GadgetSpec(crd.Model):
    size: int = 1
    color: str = ""


@crd.resource(group="devhooks.example.com", version="v1")
class Gadget(crd.CustomResource):
    spec: GadgetSpec


operator = kl.Operator("gadgets")


@operator.reconcile(Gadget)
async def reconcile(gadget: Gadget, ctx: kl.Context) -> None:
    return None


@operator.default(Gadget)
def default(gadget: Gadget, request: AdmissionRequest) -> None:
    gadget.spec.color = gadget.spec.color or "blue"


@operator.validate(Gadget)
def validate(gadget: Gadget, request: AdmissionRequest) -> None:
    if gadget.spec.size > 10:
        raise Invalid(FieldError("spec.size", "must be at most 10", value=gadget.spec.size))
"""


def gadget(name: str, size: int) -> str:
    return (
        "apiVersion: devhooks.example.com/v1\nkind: Gadget\n"
        f"metadata: {{name: {name}, namespace: default}}\nspec: {{size: {size}}}\n"
    )


def test_dev_serves_and_installs_the_operators_webhooks(tmp_path: Path) -> None:
    (tmp_path / "gadgets_operator.py").write_text(OPERATOR)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/kubeloop"), "dev", "gadgets_operator:operator"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        lines, kubeconfig = read_until_kubeconfig(proc, "kubeloop dev")
        assert "serving its webhooks on loopback" in "".join(lines)
        kubectl = Kubectl(kubeconfig)
        deadline = time.monotonic() + 30
        while True:
            refused = kubectl("apply", "-f", "-", input=gadget("big", 11), check=False)
            if refused.returncode != 0 or time.monotonic() > deadline:
                break
            kubectl("delete", "gadget", "big", "-n", "default", "--ignore-not-found")
            time.sleep(0.2)
        assert (
            'The Gadget "big" is invalid: spec.size: Invalid value: 11: must be at most 10' in refused.stderr
        )
        kubectl("apply", "-f", "-", input=gadget("small", 2))
        stored = kubectl.json("get", "gadget", "small", "-n", "default")
        assert stored["spec"] == {"size": 2, "color": "blue"}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    rest = proc.stdout.read()
    assert "Traceback" not in "".join(lines) + rest
