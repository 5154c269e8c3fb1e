"""``HelmServer``'s handling of its process, with a stand-in for helm-server speaking the same JSON
lines (the Helm operations themselves are tested against the API server in tests/conformance/helm):
answers matched to requests by id, a process that dies failing only the requests in flight and
started again for the next, a request that outlasts the timeout ending the process."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kubeloop.helm import HelmError, HelmServer

STAND_IN = """
import json, os, sys, threading, time

def serve(request):
    name = request["name"]
    if name == "dies":
        os._exit(3)
    if name == "hangs":
        return
    if name.startswith("slow"):
        time.sleep(0.3)
    if name == "fails":
        answer = {"error": "INSTALLATION FAILED: values don't meet the specifications"}
    else:
        release = {"name": name, "namespace": request["namespace"], "version": 1, "manifest": ""}
        release |= {"info": {"status": "deployed"}, "config": request["values"]}
        answer = {"release": release}
    line = json.dumps({"id": request["id"], **answer}) + "\\n"
    with lock:
        sys.stdout.write(line)
        sys.stdout.flush()

lock = threading.Lock()
for line in sys.stdin:
    threading.Thread(target=serve, args=(json.loads(line),)).start()
"""


@pytest.fixture
def server(tmp_path: Path) -> HelmServer:
    binary = tmp_path / "helm-server"
    binary.write_text(f"#!{sys.executable}\n{STAND_IN}")
    binary.chmod(0o755)
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("name: c\nversion: 0.1.0\n")

    @asynccontextmanager
    async def session(directory: Path) -> AsyncIterator[Path]:
        yield directory / "kubeconfig"

    return HelmServer(binary, session, tmp_path / "server", timeout=1.0)


async def install(server: HelmServer, name: str) -> str:
    chart = server.directory.parent / "chart"
    release = await server.install(Path("kubeconfig"), name, "ns", chart, {"size": 1})
    return release.name


async def test_answers_reach_their_requests_with_many_in_flight_on_one_process(server: HelmServer) -> None:
    async with server:
        names = [f"slow-{i}" for i in range(6)]
        assert await asyncio.gather(*(install(server, n) for n in names)) == names
        pid = server.pid
        assert await install(server, "quick") == "quick"
        assert server.pid == pid


async def test_a_failed_operation_is_a_helm_error_with_its_message(server: HelmServer) -> None:
    async with server:
        with pytest.raises(HelmError, match="values don't meet the specifications"):
            await install(server, "fails")


async def test_a_process_that_dies_fails_the_requests_in_flight_and_the_next_starts_another(
    server: HelmServer,
) -> None:
    async with server:
        assert await install(server, "first") == "first"
        dead = server.pid
        both = install(server, "slow"), install(server, "dies")
        results = await asyncio.gather(*both, return_exceptions=True)
        assert all(isinstance(r, HelmError) and "the helm server ended" in str(r) for r in results)
        assert await install(server, "after") == "after"
        assert server.pid not in (None, dead)


async def test_a_request_that_outlasts_the_timeout_ends_the_process(server: HelmServer) -> None:
    async with server:
        assert await install(server, "first") == "first"
        hung = server.pid
        with pytest.raises(HelmError, match="timed out after 1 s"):
            await install(server, "hangs")
        assert server.pid is None
        assert await install(server, "after") == "after"
        assert server.pid not in (None, hung)
    assert server.pid is None  # closed with the context


async def test_a_process_that_keeps_dying_young_is_started_again_after_longer_waits(
    server: HelmServer,
) -> None:
    async with server:
        took = []
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(HelmError, match="the helm server ended"):
                await install(server, "dies")
            took.append(time.monotonic() - started)
        # The first start waits for nothing; then RESTART_BACKOFF's first wait, doubled.
        assert took[1] >= 0.5
        assert took[2] >= 1.0
