"""EmbeddedServer: start time, kubeconfig, persistence across restarts, token auth, 401 without
credentials."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from kubeloop.apiserver import EmbeddedServer
from kubeloop.client import Client


async def test_starts_on_a_second_of_cpu_and_serves_version(tmp_path: Path) -> None:
    # The start's CPU (0.09 s, imports done), not its wall time, which a loaded machine stretches
    # (3.7 s at load 60); a new process's start to ready is the benchmark's (docs/benchmarks/apiserver.md).
    began = time.process_time()
    async with EmbeddedServer() as server:
        cpu = time.process_time() - began
        async with await Client.load(server.kubeconfig) as kube:
            version = await kube.server_version()
    assert cpu < 1.0
    assert version["major"] == "1"


async def test_kubeconfig_names_server_and_client_certificate() -> None:
    async with EmbeddedServer() as server:
        config = yaml.safe_load(server.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == server.url
        assert "client-certificate-data" in config["users"][0]["user"]


async def test_objects_and_versions_survive_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with EmbeddedServer(data) as server, await Client.load(server.kubeconfig) as kube:
        created = await kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kept", "namespace": "default"},
                "data": {"a": "1"},
            }
        )
        port = server.port
    async with EmbeddedServer(data, port=port) as server, await Client.load(server.kubeconfig) as kube:
        got = await kube.get("configmaps", "kept", namespace="default")
        assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        later = await kube.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": "default"}}
        )
        assert int(later["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_requests_without_credentials_are_anonymous_a_bad_token_unauthorized_and_the_token_admin() -> (
    None
):
    async with EmbeddedServer() as server:
        ctx = ssl.create_default_context(cafile=str(server.directory / "ca.crt"))
        url = f"{server.url}/api/v1/namespaces"
        async with aiohttp.ClientSession() as http:
            async with http.get(url, ssl=ctx) as resp:
                assert resp.status == 403
                assert (await resp.json())["message"] == (
                    'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
                    'in API group "" at the cluster scope'
                )
            async with http.get(f"{server.url}/healthz", ssl=ctx) as resp:
                assert resp.status == 200  # system:public-info-viewer
            async with http.get(url, ssl=ctx, headers={"Authorization": "Bearer nonsense"}) as resp:
                assert resp.status == 401
                assert (await resp.json())["reason"] == "Unauthorized"
            headers = {"Authorization": f"Bearer {server.token}"}
            async with http.get(url, ssl=ctx, headers=headers) as resp:
                assert resp.status == 200


def test_thread_variant_serves_until_stopped() -> None:
    with EmbeddedServer() as server:
        assert server.kubeconfig.exists()
        import urllib.request

        ctx = ssl.create_default_context(cafile=str(server.directory / "ca.crt"))
        with urllib.request.urlopen(f"{server.url}/healthz", context=ctx) as resp:
            assert resp.read() == b"ok"


async def test_a_generated_name_already_taken_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the embedded suite (session 12): among 5,240 generated names two drew the same five
    # characters and the create was a 409; the real server (RetryGenerateName) draws another.
    from kubeloop.apiserver.machinery import meta

    draws = iter(["w-taken", "w-taken", "w-fresh"])
    monkeypatch.setattr(meta, "generate_name", lambda prefix: next(draws))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "default"}}
    async with EmbeddedServer() as server, await Client.load(server.kubeconfig) as kube:
        first = await kube.create({**cm, "metadata": {**cm["metadata"], "generateName": "w-"}})
        second = await kube.create({**cm, "metadata": {**cm["metadata"], "generateName": "w-"}})
    assert (first["metadata"]["name"], second["metadata"]["name"]) == ("w-taken", "w-fresh")
