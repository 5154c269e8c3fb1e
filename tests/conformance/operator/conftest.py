"""The Gadget CRD, installed once for the operator runtime tests."""

from __future__ import annotations

import pytest
from gadgets import LooseGadget

from kubeloop import crd
from kubeloop.testing import Kubectl


@pytest.fixture(scope="module")
def gadget_crd(kubectl: Kubectl) -> str:
    """Install the (loose) Gadget CRD; returns its name."""
    name = LooseGadget.resource_info().crd_name
    kubectl("apply", "-f", "-", input=crd.to_yaml([LooseGadget]))
    kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=30s")
    return name
