"""The conformance suite on either server: ``KUBELOOP_CLUSTER=embedded`` (``make test-embedded``) runs it
on the embedded API server, the default on the real control plane.

Tests take the session's server from the ``cluster`` fixture (with ``kubectl``, ``namespace`` and
``client`` bound to it). A test that needs the real control plane itself (etcd, restarting
kube-apiserver, comparing the two servers' answers) asks for ``control_plane`` and carries
``@pytest.mark.controlplane_only("why")``, the why naming the known difference of docs/apiserver.md it
rests on: with ``KUBELOOP_CLUSTER=embedded`` it is skipped with that reason, and a test that asks for
``control_plane`` without the marker fails rather than quietly using the real server beside the
embedded one. The suites that already run each test on both servers (``tests/conformance/apiserver``'s
``api`` fixture, ``tests/conformance/operator``'s ``kubeconfig``) keep only their embedded case there;
a test that takes both servers at once (``twin``, ``tns``, or ``control_plane`` with the embedded
server) compares them, so it is real-control-plane only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.testing.fixtures import chosen_cluster

HERE = Path(__file__).resolve().parent
# Parametrized fixtures that pick a server per case: the id of the real control plane's case.
REAL_CASES = {"api": "real", "kubeconfig": "controlplane"}
TWIN = (
    "compares the embedded server's answers with the real kube-apiserver's "
    "(docs/apiserver.md, Tests: twin and the tests that take both servers)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chosen_cluster(config) != "embedded":
        return
    kept, dropped = [], []
    for item in items:
        if not Path(str(item.path)).is_relative_to(HERE):
            kept.append(item)
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(params.get(name) == real for name, real in REAL_CASES.items()):
            dropped.append(item)  # the same test's real-server case: not this run's server
            continue
        kept.append(item)
        fixtures = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("controlplane_only")
        both = "control_plane" in fixtures and bool(fixtures & {"embedded_server", "embedded_api_server"})
        if marker is None and (both or fixtures & {"twin", "tns"}):
            item.add_marker(pytest.mark.controlplane_only(TWIN))
            marker = item.get_closest_marker("controlplane_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"real control plane only: {reason}"))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    if (
        chosen_cluster(item.config) == "embedded"
        and Path(str(item.path)).is_relative_to(HERE)
        and "control_plane" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("controlplane_only") is None
    ):
        pytest.fail(
            "KUBELOOP_CLUSTER=embedded: this test asks for control_plane without "
            "@pytest.mark.controlplane_only(reason); take the server from the cluster fixture",
            pytrace=False,
        )
