"""Fixtures of the API-server conformance suite: every test runs against the real kube-apiserver and the
embedded one (``kubeloop.apiserver``) with the same assertions.

- ``api``: the kubeconfig path of the backend under test (ids ``real`` and ``embedded``);
- ``kctl``: real kubectl bound to it; ``ns``: a fresh namespace on it; ``kube``: a ``Client`` on it.
- ``twin``: both servers at once (``apiserver_twin.Twin``), for tests that compare the embedded server's
  answers with the real one's; ``tns``: a namespace of the same name on both.

The embedded server is ``kubeloop.testing``'s session fixture ``embedded_api_server`` (its own thread,
so blocking kubectl calls from tests never stall it); ``embedded_server`` is kept as its alias here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from apiserver_twin import Raw, Twin

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client, ClientSettings
from kubeloop.testing import ControlPlane, Kubectl, temporary_namespace
from kubeloop.testing._namespaces import NamespaceApi


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


@pytest.fixture(scope="session")
def twin(
    control_plane: ControlPlane, embedded_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Twin:
    """The real kube-apiserver and the embedded server side by side (tests that compare answers)."""
    tmp = tmp_path_factory.mktemp("twin")
    return Twin(
        Raw(Path(control_plane.kubeconfig), tmp / "real"), Raw(embedded_server.kubeconfig, tmp / "emb")
    )


@pytest.fixture
def tns(
    control_plane: ControlPlane, embedded_server: EmbeddedServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A namespace of the same name on both servers of ``twin`` (so messages naming it are equal)."""
    real, embedded = (
        Kubectl(control_plane.kubeconfig),
        NamespaceApi.for_kubeconfig(embedded_server.kubeconfig),
    )
    assert embedded is not None  # the admin's client certificate: one request each way, not kubectl
    with temporary_namespace(real, request.node.originalname) as name:
        embedded.create(name)
        try:
            yield name
        finally:
            embedded.delete(name)
