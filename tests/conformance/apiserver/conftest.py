"""Fixtures of the API-server conformance suite: every test runs against the real kube-apiserver and the
embedded one (``kubeloop.apiserver``) with the same assertions.

- ``api``: the kubeconfig path of the backend under test (ids ``real`` and ``embedded``);
- ``kctl``: real kubectl bound to it; ``ns``: a fresh namespace on it; ``kube``: a ``Client`` on it.

The embedded server is ``kubeloop.testing``'s session fixture ``embedded_api_server`` (its own thread,
so blocking kubectl calls from tests never stall it); ``embedded_server`` is kept as its alias here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import Kubectl, temporary_namespace


@pytest.fixture(scope="session")
def embedded_server(embedded_api_server: EmbeddedServer) -> EmbeddedServer:
    return embedded_api_server


@pytest.fixture(scope="session", params=["real", "embedded"])
def api(request: pytest.FixtureRequest) -> Path:
    if request.param == "real":
        return Path(request.getfixturevalue("control_plane").kubeconfig)
    return request.getfixturevalue("embedded_server").kubeconfig


@pytest.fixture(scope="session")
def kctl(api: Path) -> Kubectl:
    return Kubectl(api)


@pytest.fixture
def ns(kctl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    with temporary_namespace(kctl, request.node.originalname) as name:
        yield name


@pytest.fixture
async def kube(api: Path) -> AsyncIterator[Client]:
    async with await Client.load(api, settings=ClientSettings(qps=None)) as c:
        yield c
