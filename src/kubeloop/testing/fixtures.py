"""pytest fixtures (a plugin loaded automatically once kubeloop is installed).

- ``control_plane``: one real control plane for the test session (etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler and kwok with one fake node by default; the ini
  options ``kubeloop_controller_manager`` and ``kubeloop_nodes`` trim it).
- ``embedded_api_server``: one embedded API server (``kubeloop.apiserver.EmbeddedServer``, in memory,
  free loopback port) for the test session, in its own thread so blocking calls from tests (kubectl)
  never stall it; ``.kubeconfig`` is its admin kubeconfig. No Go build, starts in well under a second,
  but no nodes: workloads are reported ready without pods (see ``docs/apiserver.md``). Use it as
  ``Kubectl(embedded_api_server.kubeconfig)`` / ``Client.load(embedded_api_server.kubeconfig)`` /
  ``run_operator(operator, embedded_api_server.kubeconfig)``.
- ``cluster``: the session's cluster the tests below use: the embedded API server or the real control
  plane, chosen by the environment variable ``KUBELOOP_CLUSTER`` (``embedded`` or ``controlplane``),
  else by the ini option ``kubeloop_cluster`` (default ``controlplane``; projects made by
  ``kubeloop init`` set ``embedded``). Either has ``.kubeconfig`` (admin), ``.user_kubeconfig(user,
  groups)`` and ``.service_account_kubeconfig(namespace, name)``.
- ``namespace``: a fresh namespace per test, deleted afterwards.
- ``kubectl``: the machine's kubectl bound to the cluster's admin kubeconfig.
- ``client``: a ``kubeloop.client.Client`` with the admin kubeconfig (no client-side rate limit).

A control plane that cannot start fails the tests that need it; it is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, TypeAlias

import pytest

from kubeloop.client import Client, ClientSettings
from kubeloop.testing.controlplane import ControlPlane, ControlPlaneOptions
from kubeloop.testing.kubectl import Kubectl, temporary_namespace

if TYPE_CHECKING:
    from kubeloop.apiserver import EmbeddedServer

__all__ = [
    "CLUSTERS",
    "Cluster",
    "chosen_cluster",
    "client",
    "cluster",
    "control_plane",
    "embedded_api_server",
    "kubectl",
    "namespace",
]

Cluster: TypeAlias = "ControlPlane | EmbeddedServer"
CLUSTERS = ("embedded", "controlplane")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ini options that shape the session control plane."""
    parser.addini(
        "kubeloop_controller_manager",
        "run kube-controller-manager in the session control plane",
        type="bool",
        default=True,
    )
    parser.addini("kubeloop_nodes", "fake kwok nodes in the session control plane", default="1")
    parser.addini(
        "kubeloop_cluster",
        "the cluster of the cluster/kubectl/namespace/client fixtures: embedded or controlplane "
        "(the environment variable KUBELOOP_CLUSTER overrides it)",
        default="controlplane",
    )


@pytest.fixture(scope="session")
def control_plane(pytestconfig: pytest.Config) -> Iterator[ControlPlane]:
    """A real control plane shared by the whole session."""
    options = ControlPlaneOptions(
        controller_manager=bool(pytestconfig.getini("kubeloop_controller_manager")),
        nodes=int(pytestconfig.getini("kubeloop_nodes")),
    )
    with ControlPlane(options) as plane:
        yield plane


@pytest.fixture(scope="session")
def embedded_api_server() -> Iterator[EmbeddedServer]:
    """An embedded API server shared by the whole session (its own thread and event loop)."""
    from kubeloop.apiserver import EmbeddedServer  # imported on use: the plugin loads in every session

    with EmbeddedServer() as server:
        yield server


def chosen_cluster(config: pytest.Config) -> str:
    """``embedded`` or ``controlplane``: the environment variable ``KUBELOOP_CLUSTER``, else the ini
    option ``kubeloop_cluster``."""
    which = os.environ.get("KUBELOOP_CLUSTER") or str(config.getini("kubeloop_cluster"))
    if which not in CLUSTERS:
        raise pytest.UsageError(f"KUBELOOP_CLUSTER / kubeloop_cluster: {which!r} is not one of {CLUSTERS}")
    return which


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Cluster:
    """The embedded API server or the real control plane (``KUBELOOP_CLUSTER``, else ``kubeloop_cluster``)."""
    which = chosen_cluster(pytestconfig)
    chosen: Cluster = request.getfixturevalue(
        "embedded_api_server" if which == "embedded" else "control_plane"
    )
    return chosen


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> Kubectl:
    """kubectl bound to the session's cluster."""
    return Kubectl(cluster.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace created for this test and deleted after it (not waiting), in ``kubectl``'s cluster."""
    with temporary_namespace(kubectl, request.node.name) as name:
        yield name


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[Client]:
    """An API client of the session's cluster, closed after the test."""
    async with await Client.load(cluster.kubeconfig, settings=ClientSettings(qps=None)) as api:
        yield api
