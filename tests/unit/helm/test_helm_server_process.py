"""``HelmServer``'s handling of its process, with a stand-in for helm-server speaking the same JSON
lines (the Helm operations themselves are tested against the API server in tests/conformance/helm):
answers matched to requests by id, a process that dies failing only the requests in flight and
started again for the next, a request that outlasts the timeout ending the process.

Order is made by the stand-in and by waiting on the server's state, not by wall time: the timeout is a
generous bound (a loaded machine starts the stand-in slowly) except where a test is about it."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kubeloop.helm import HelmError, HelmServer

HELD = 6
"""Requests named ``held-*`` are answered only once this many have arrived, the last first."""
BOUND = 60.0
"""The server's timeout where a test is not about it: a bound on a hang, never reached otherwise."""

STAND_IN = f"""
import json, os, sys, threading

HELD = {HELD}

def reply(request, answer):
    line = json.dumps({{"id": request["id"], **answer}}) + "\\n"
    with lock:
        sys.stdout.write(line)
        sys.stdout.flush()

def hold(request):
    # Answer when all HELD have arrived, in the reverse order of their arrival.
    with held:
        stack.append(request)
        held.notify_all()
        held.wait_for(lambda: len(stack) + len(answered) == HELD and stack[-1] is request)
        stack.pop()
        answered.append(request)
        release(request)
        held.notify_all()

def release(request):
    release = {{"name": request["name"], "namespace": request["namespace"], "version": 1, "manifest": ""}}
    release |= {{"info": {{"status": "deployed"}}, "config": request["values"]}}
    reply(request, {{"release": release}})

def serve(request):
    name = request["name"]
    if name == "dies":
        os._exit(3)
    elif name == "dies-after-a-hang":  # once a request that hangs is in flight
        with held:
            held.wait_for(lambda: hanging)
        os._exit(3)
    elif name == "hangs":
        with held:
            hanging.append(request)
            held.notify_all()
    elif name.startswith("held-"):
        hold(request)
    elif name == "fails":
        reply(request, {{"error": "INSTALLATION FAILED: values don't meet the specifications"}})
    else:
        release(request)

lock = threading.Lock()
held = threading.Condition()
stack, answered, hanging = [], [], []
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

    return HelmServer(binary, session, tmp_path / "server", timeout=BOUND)


async def install(server: HelmServer, name: str) -> str:
    chart = server.directory.parent / "chart"
    release = await server.install(Path("kubeconfig"), name, "ns", chart, {"size": 1})
    return release.name


async def test_answers_reach_their_requests_with_many_in_flight_on_one_process(server: HelmServer) -> None:
    async with server:
        # The stand-in holds them until all are in flight, then answers the last to arrive first.
        names = [f"held-{i}" for i in range(HELD)]
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
        both = install(server, "hangs"), install(server, "dies-after-a-hang")
        results = await asyncio.gather(*both, return_exceptions=True)
        assert all(isinstance(r, HelmError) and "the helm server ended" in str(r) for r in results)
        assert await install(server, "after") == "after"
        assert server.pid not in (None, dead)


async def test_a_request_that_outlasts_the_timeout_ends_the_process(server: HelmServer) -> None:
    async with server:
        assert await install(server, "first") == "first"
        hung = server.pid
        server.timeout = 0.2  # only the hang meets it: the process is running and answers the others
        with pytest.raises(HelmError, match=r"timed out after 0\.2 s"):
            await install(server, "hangs")
        assert server.pid is None
        server.timeout = BOUND
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
        # The first start waits for nothing; then RESTART_BACKOFF's first wait, doubled (lower bounds:
        # a loaded machine only lengthens them).
        assert took[1] >= 0.5
        assert took[2] >= 1.0


async def test_a_request_that_timed_out_leaves_no_exception_unretrieved(server: HelmServer) -> None:
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()  # the session's loop: put back after
    loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
    try:
        async with server:
            assert await install(server, "first") == "first"
            server.timeout = 0.2
            with pytest.raises(HelmError, match="timed out"):
                await install(server, "hangs")
        gc.collect()  # a future's unretrieved exception is reported when it is freed
    finally:
        loop.set_exception_handler(handler)
    assert seen == []
