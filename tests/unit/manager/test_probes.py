"""The /healthz, /readyz and /metrics servers, on loopback with a free port."""

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kubeloop.errors import ComponentError
from kubeloop.manager import Metrics, MetricsServer, ProbeServer, parse_bind_address


@pytest.fixture
async def probes() -> AsyncIterator[ProbeServer]:
    server = ProbeServer("127.0.0.1:0", check_timeout=0.2)
    await server.start()
    yield server
    await server.stop()


async def fetch(port: int | None, path: str, accept: str | None = None) -> tuple[int, str, str]:
    assert port is not None
    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response,
    ):
        return response.status, await response.text(), response.headers["Content-Type"]


async def test_no_checks_means_healthy_and_ready(probes: ProbeServer):
    assert await fetch(probes.port, "/healthz") == (200, "ok", "text/plain; charset=utf-8")
    assert (await fetch(probes.port, "/readyz"))[:2] == (200, "ok")


async def test_passing_plain_and_async_checks_answer_ok_and_verbose_lists_them(probes: ProbeServer):
    async def informers_synced() -> bool:
        await asyncio.sleep(0)
        return True

    probes.add_healthz_check("ping", lambda: None)
    probes.add_healthz_check("informers", informers_synced)
    assert (await fetch(probes.port, "/healthz"))[:2] == (200, "ok")
    status, body, _ = await fetch(probes.port, "/healthz?verbose")
    assert status == 200
    assert body == "[+]ping ok\n[+]informers ok\nhealthz check passed\n"


async def test_a_raising_check_fails_with_500_naming_it_and_withholding_the_reason(probes: ProbeServer):
    def broken() -> None:
        raise RuntimeError("cache for apps/v1 Deployment not synced")

    probes.add_readyz_check("ping", lambda: True)
    probes.add_readyz_check("cache-sync", broken)
    status, body, _ = await fetch(probes.port, "/readyz")
    assert status == 500
    assert body == "[+]ping ok\n[-]cache-sync failed: reason withheld\nreadyz check failed\n"
    status, body, _ = await fetch(probes.port, "/readyz?verbose")
    assert status == 500
    assert "[-]cache-sync failed: cache for apps/v1 Deployment not synced\n" in body


async def test_a_check_returning_false_fails(probes: ProbeServer):
    probes.add_healthz_check("leader", lambda: False)
    status, body, _ = await fetch(probes.port, "/healthz?verbose")
    assert status == 500
    assert "[-]leader failed: check returned false" in body


async def test_a_check_that_hangs_fails_after_the_check_timeout(probes: ProbeServer):
    async def hangs() -> None:
        await asyncio.Event().wait()

    probes.add_healthz_check("stuck", hangs)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body, _ = await fetch(probes.port, "/healthz?verbose")
    assert status == 500
    assert "[-]stuck failed: timed out after 0.2s" in body
    assert loop.time() - started < 2


async def test_exclude_skips_a_check(probes: ProbeServer):
    probes.add_healthz_check("ping", lambda: True)
    probes.add_healthz_check("flaky", lambda: False)
    assert (await fetch(probes.port, "/healthz?exclude=flaky"))[:2] == (200, "ok")
    status, body, _ = await fetch(probes.port, "/healthz?exclude=flaky&verbose")
    assert (status, body) == (200, "[+]ping ok\n[+]flaky excluded: ok\nhealthz check passed\n")


async def test_one_check_by_path_and_404_for_an_unknown_one(probes: ProbeServer):
    probes.add_readyz_check("good", lambda: True)
    probes.add_readyz_check("bad", lambda: False)
    assert (await fetch(probes.port, "/readyz/good"))[:2] == (200, "ok")
    assert (await fetch(probes.port, "/readyz/bad"))[0] == 500
    assert (await fetch(probes.port, "/readyz/nope"))[0] == 404


async def test_healthz_and_readyz_checks_are_separate(probes: ProbeServer):
    probes.add_readyz_check("cache-sync", lambda: False)
    assert (await fetch(probes.port, "/healthz"))[0] == 200
    assert (await fetch(probes.port, "/readyz"))[0] == 500


def test_a_check_name_is_unique_per_endpoint():
    server = ProbeServer("0")
    server.add_healthz_check("ping", lambda: True)
    server.add_readyz_check("ping", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        server.add_healthz_check("ping", lambda: True)


async def test_metrics_server_serves_the_registry_in_prometheus_text_format():
    metrics = Metrics(process_collectors=False)
    metrics.controller_started("appservice", 2)
    async with MetricsServer(metrics, "127.0.0.1:0") as server:
        status, body, content_type = await fetch(server.port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'controller_runtime_max_concurrent_reconciles{controller="appservice"} 2.0' in body


async def test_bind_address_zero_disables_a_server():
    server = MetricsServer(Metrics(process_collectors=False), "0")
    await server.start()
    assert (server.enabled, server.port) == (False, None)
    await server.stop()


async def test_two_servers_get_distinct_free_ports_and_stop_frees_them():
    async with ProbeServer("127.0.0.1:0") as one, ProbeServer("127.0.0.1:0") as two:
        assert one.port
        assert two.port
        assert one.port != two.port
        port = one.port
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(port, "/healthz")


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        (":8080", (None, 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("0", None),
        ("", None),
    ],
    ids=["all-interfaces", "loopback-free-port", "ipv6", "zero-disables", "empty-disables"],
)
def test_parse_bind_address(address: str, parsed: tuple[str | None, int] | None):
    assert parse_bind_address(address) == parsed


def test_parse_bind_address_rejects_a_missing_port():
    with pytest.raises(ValueError, match="host:port"):
        parse_bind_address("localhost")


async def test_an_address_in_use_is_named_in_one_line_with_what_to_do():
    """`kubeloop run` binds :8080 for metrics by default, often taken on a developer's machine: one
    line (the CLI's error), not an OSError's traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        server = MetricsServer(Metrics(), address)
        with pytest.raises(ComponentError) as raised:
            await server.start()
    assert str(raised.value) == (
        f"MetricsServer: cannot listen on {address}: address already in use; give it another bind"
        " address, or '0' to turn it off"
    )
    assert server.port is None
