"""The Gadget CRD, installed once for the operator runtime tests; ``kubeconfig`` runs a test on the
real API server and on the embedded one, with the CRD installed, ``ns`` and ``api`` in that server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from gadgets import LooseGadget

from kubeloop import crd
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import Kubectl, temporary_namespace, wait_for_crds


@pytest.fixture(scope="module")
def gadget_crd(kubectl: Kubectl) -> str:
    """Install the (loose) Gadget CRD; returns its name."""
    name = LooseGadget.resource_info().crd_name
    kubectl("apply", "-f", "-", input=crd.to_yaml([LooseGadget]))
    wait_for_crds(kubectl, name)
    return name


@pytest.fixture(params=["controlplane", "embedded"])
def kubeconfig(request: pytest.FixtureRequest) -> Path:
    """The admin kubeconfig of the real control plane or of the embedded API server, Gadget CRD installed."""
    server = "control_plane" if request.param == "controlplane" else "embedded_api_server"
    path: Path = request.getfixturevalue(server).kubeconfig
    kubectl = Kubectl(path)
    kubectl("apply", "-f", "-", input=crd.to_yaml([LooseGadget]))
    wait_for_crds(kubectl, LooseGadget.resource_info().crd_name)
    return path


@pytest.fixture
def ns(kubeconfig: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    with temporary_namespace(Kubectl(kubeconfig), request.node.originalname) as name:
        yield name


@pytest.fixture
async def api(kubeconfig: Path) -> AsyncIterator[Client]:
    async with await Client.load(kubeconfig, settings=ClientSettings(qps=None)) as client:
        yield client
