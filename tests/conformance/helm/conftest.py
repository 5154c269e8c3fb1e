"""The helm and helm-server binaries the Helm operator's conformance tests run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.testing import Kubectl, wait_for_crds
from kubeloop.testing.assets import find_binary


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_binary("helm")
    assert found is not None, "no helm in the kubeloop cache: run `kubeloop controlplane build helm`"
    return found


@pytest.fixture(scope="module")
def helm_server() -> Path:
    found = find_binary("helm-server")
    assert found is not None, (
        "no helm-server in the kubeloop cache: run `kubeloop controlplane build helm-server`"
    )
    return found


@pytest.fixture
def pins_crd(kubectl: Kubectl) -> None:
    """The tests' kind, Pin (``pins.helm.kubeloop.test``), installed and established."""
    kubectl("apply", "-f", str(Path(__file__).parent / "crd.yaml"))
    wait_for_crds(kubectl, "pins.helm.kubeloop.test")
