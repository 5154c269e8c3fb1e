"""A kubeconfig pointing at a server nobody answers on: one line naming the server and where it is set."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from kubeloop.client import Client, ClientSettings, RetryPolicy, TransportError


async def test_unreachable_server_error_names_the_server_the_context_and_the_file(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "dev",
            }
        )
    )
    settings = ClientSettings(retry=RetryPolicy(max_retries=0))
    async with await Client.load(kubeconfig, settings=settings) as client:
        with pytest.raises(TransportError) as err:
            await client.server_version()
    message = str(err.value)
    assert "\n" not in message
    assert f"cannot reach the API server https://127.0.0.1:{port}" in message
    assert f"(server of context 'dev' in {kubeconfig})" in message
    assert "connect call failed" in message or "refused" in message
