"""AppService end to end: with the CRDs installed in a real API server and the operator running,
the sample applied with kubectl becomes Ready."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubeloop.testing import ControlPlane, Kubectl, run_operator, until

from appservice_operator.operator import operator

SAMPLE = Path(__file__).parents[1] / "config" / "samples" / "app.example.com_v1_appservice.yaml"
RESOURCE = "appservices.app.example.com"


@pytest.mark.usefixtures("crds")
async def test_appservice_sample_becomes_ready(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    where = ["-n", namespace]
    async with run_operator(operator, control_plane.kubeconfig):
        kubectl("apply", *where, "-f", str(SAMPLE))
        name = yaml.safe_load(SAMPLE.read_text())["metadata"]["name"]

        def ready() -> bool:
            got = kubectl.json("get", RESOURCE, name, *where)
            conditions = (got.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        try:
            await until(ready, within=30, what=f"{RESOURCE} {name} Ready=True")
        finally:
            kubectl("delete", "--ignore-not-found", *where, "-f", str(SAMPLE))
