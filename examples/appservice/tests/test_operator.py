"""The manager starts against a real API server (the CRDs installed) and answers its probes."""

from __future__ import annotations

import aiohttp
import pytest
from kubeloop.testing import ControlPlane, run_operator

from appservice_operator.operator import operator


@pytest.mark.usefixtures("crds")
async def test_manager_starts_and_reports_healthy_and_ready(control_plane: ControlPlane) -> None:
    async with run_operator(operator, control_plane.kubeconfig) as manager, aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz"):
            async with http.get(f"http://127.0.0.1:{manager.probes.port}{path}") as response:
                assert response.status == 200, f"{path}: {response.status}"
