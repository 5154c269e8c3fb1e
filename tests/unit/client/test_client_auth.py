"""Credentials: exec plugin caching until expiry, plugin failures, token-file re-reads; on a fake clock."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from kubeloop.client import ClientConfig, CredentialError, ExecConfig
from kubeloop.client.auth import Authenticator
from kubeloop.clock import InstantClock


def plugin(tmp_path: Path, body: dict | str, *, exit_code: int = 0) -> ExecConfig:
    script = tmp_path / "plugin.py"
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    script.write_text(
        "import os, sys\n"
        f"open({str(tmp_path / 'runs')!r}, 'a').write(os.environ.get('KUBERNETES_EXEC_INFO', '') + '\\n')\n"
        f"sys.stdout.write({text!r})\n"
        "sys.stderr.write('plugin says no\\n')\n"
        f"sys.exit({exit_code})\n"
    )
    return ExecConfig(command=sys.executable, args=(str(script),), env=(("EXTRA", "1"),))


def credential(token: str, expires_in: float | None = None) -> dict:
    status: dict = {"token": token}
    if expires_in is not None:
        stamp = datetime.fromtimestamp(time.time() + expires_in, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status["expirationTimestamp"] = stamp
    return {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}


def runs(tmp_path: Path) -> int:
    return len((tmp_path / "runs").read_text().splitlines())


async def test_exec_credentials_are_cached_until_shortly_before_expiry(tmp_path: Path) -> None:
    clock = InstantClock()
    auth = Authenticator(
        ClientConfig(server="https://x", exec=plugin(tmp_path, credential("t", 120))), clock=clock
    )
    assert (await auth.credentials()).headers() == {"Authorization": "Bearer t"}
    clock.advance(100)
    await auth.credentials()
    assert runs(tmp_path) == 1
    clock.advance(15)  # within the 10 s renewal margin of the 120 s expiry
    await auth.credentials()
    assert runs(tmp_path) == 2


async def test_exec_credentials_without_expiry_are_kept_until_invalidated(tmp_path: Path) -> None:
    clock = InstantClock()
    auth = Authenticator(
        ClientConfig(server="https://x", exec=plugin(tmp_path, credential("t"))), clock=clock
    )
    await auth.credentials()
    clock.advance(10**6)
    await auth.credentials()
    assert runs(tmp_path) == 1
    auth.invalidate()
    await auth.credentials()
    assert runs(tmp_path) == 2


async def test_exec_info_is_passed_in_the_environment(tmp_path: Path) -> None:
    spec = plugin(tmp_path, credential("t"))
    config = ClientConfig(
        server="https://api:6443",
        ca_data=b"CA",
        exec=ExecConfig(**{**spec.__dict__, "provide_cluster_info": True}),
    )
    await Authenticator(config).credentials()
    info = orjson.loads((tmp_path / "runs").read_text().splitlines()[0])
    assert info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == "https://api:6443"
    assert info["spec"]["cluster"]["certificate-authority-data"] == "Q0E="


@pytest.mark.parametrize(
    ("body", "exit_code", "message"),
    [
        pytest.param(credential("t"), 3, "exited 3: plugin says no", id="exit-code"),
        pytest.param("not json", 0, "not JSON", id="garbage"),
        pytest.param({"kind": "Other"}, 0, "not an ExecCredential", id="wrong-kind"),
        pytest.param(
            {**credential("t"), "apiVersion": "client.authentication.k8s.io/v1beta1"},
            0,
            "expected",
            id="wrong-version",
        ),
        pytest.param({**credential("t"), "status": {}}, 0, "neither a token", id="empty-status"),
    ],
)
async def test_exec_plugin_failures_are_credential_errors(
    tmp_path: Path, body, exit_code: int, message: str
) -> None:
    auth = Authenticator(ClientConfig(server="https://x", exec=plugin(tmp_path, body, exit_code=exit_code)))
    with pytest.raises(CredentialError, match=message):
        await auth.credentials()


async def test_missing_exec_command_mentions_install_hint() -> None:
    spec = ExecConfig(command="/nonexistent/kubelogin", install_hint="install kubelogin")
    with pytest.raises(CredentialError, match="install kubelogin"):
        await Authenticator(ClientConfig(server="https://x", exec=spec)).credentials()


async def test_token_file_is_reread_after_a_minute(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    clock = InstantClock()
    auth = Authenticator(ClientConfig(server="https://x", token_file=token), clock=clock)
    assert (await auth.credentials()).token == "first"
    token.write_text("second\n")
    clock.advance(30)
    assert (await auth.credentials()).token == "first"
    clock.advance(31)
    assert (await auth.credentials()).token == "second"


async def test_static_token_and_basic_auth_headers() -> None:
    assert (await Authenticator(ClientConfig(server="https://x", token="abc")).credentials()).headers() == {
        "Authorization": "Bearer abc"
    }
    basic = await Authenticator(ClientConfig(server="https://x", username="u", password="p")).credentials()
    assert basic.headers() == {"Authorization": "Basic dTpw"}
