"""Credentials for each request: a static token, a token file re-read as it rotates, basic auth, or an
``exec`` credential plugin run as an asyncio subprocess and cached until the expiry it reports.

``Authenticator.credentials()`` is called before every request and is cheap when nothing changed; after a
401 the transport calls ``invalidate()`` and tries once more with fresh credentials (as client-go does).
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kubeloop.client.config import ClientConfig, ExecConfig
from kubeloop.clock import RealClock, SleepClock, WallClock
from kubeloop.errors import KubeloopError

__all__ = ["Authenticator", "CredentialError", "Credentials"]

TOKEN_FILE_REFRESH = 60.0
"""Seconds a token file is trusted before it is read again (client-go's cached token source uses 1 minute)."""
EXPIRY_SKEW = 10.0
"""Exec credentials are renewed this many seconds before they expire, so no request races the expiry."""
EXEC_TIMEOUT = 120.0


class CredentialError(KubeloopError):
    """No credentials: the exec plugin failed or printed nonsense, or a token file is unreadable."""


@dataclass(frozen=True)
class Credentials:
    """What to present on one request; ``client_cert``/``client_key`` are PEM (from an exec plugin)."""

    token: str | None = None
    basic: tuple[str, str] | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    expires_at: float | None = None

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for these credentials, if any."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.basic:
            raw = f"{self.basic[0]}:{self.basic[1]}".encode()
            return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}
        return {}


class Authenticator:
    """Produces the current ``Credentials`` for a ``ClientConfig``; safe to call from many tasks at once."""

    def __init__(
        self, config: ClientConfig, *, clock: SleepClock | None = None, epoch: float | None = None
    ) -> None:
        self._config = config
        self._clock: SleepClock = clock or RealClock()
        self._wall = WallClock(self._clock)
        self._lock = asyncio.Lock()
        self._cached: Credentials | None = None
        self._read_at = float("-inf")
        self.exec_runs = 0

    @property
    def dynamic(self) -> bool:
        """Whether credentials can change over time (token file or exec plugin)."""
        return self._config.exec is not None or self._config.token_file is not None

    async def credentials(self) -> Credentials:
        """The credentials to use now; runs the exec plugin or re-reads the token file only when due."""
        cfg = self._config
        if cfg.exec is None and cfg.token_file is None:
            basic = (cfg.username, cfg.password or "") if cfg.username else None
            return Credentials(token=cfg.token, basic=basic)
        cached = self._cached
        if cached is not None and not self._due(cached):
            return cached
        async with self._lock:
            if self._cached is not None and not self._due(self._cached):
                return self._cached
            if cfg.exec is not None:
                self._cached = await self._run_exec(cfg.exec)
            else:
                assert cfg.token_file is not None
                self._cached = Credentials(token=await _read_token(cfg.token_file))
            self._read_at = self._clock.now()
            return self._cached

    def invalidate(self) -> None:
        """Forget cached credentials (the server said 401), so the next call fetches new ones."""
        self._cached = None

    def _due(self, creds: Credentials) -> bool:
        if self._config.exec is not None:
            return creds.expires_at is not None and self._wall.time() >= creds.expires_at - EXPIRY_SKEW
        return self._clock.now() - self._read_at >= TOKEN_FILE_REFRESH

    async def _run_exec(self, spec: ExecConfig) -> Credentials:
        env = dict(os.environ)
        env.update(spec.env)
        env["KUBERNETES_EXEC_INFO"] = orjson.dumps(self._exec_info(spec)).decode()
        self.exec_runs += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                spec.command,
                *spec.args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            hint = f" ({spec.install_hint.strip()})" if spec.install_hint else ""
            raise CredentialError(f"exec plugin {spec.command!r}: {e.strerror or e}{hint}") from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT)
        except TimeoutError as e:
            proc.kill()
            raise CredentialError(f"exec plugin {spec.command!r}: no answer in {EXEC_TIMEOUT:.0f}s") from e
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise CredentialError(f"exec plugin {spec.command!r} exited {proc.returncode}: {tail[0]}")
        return _parse_exec_output(spec, out)

    def _exec_info(self, spec: ExecConfig) -> dict[str, Any]:
        exec_spec: dict[str, Any] = {"interactive": False}
        if spec.provide_cluster_info:
            cfg = self._config
            cluster: dict[str, Any] = {"server": cfg.server}
            if cfg.ca_data:
                cluster["certificate-authority-data"] = base64.b64encode(cfg.ca_data).decode()
            if cfg.insecure_skip_tls_verify:
                cluster["insecure-skip-tls-verify"] = True
            if cfg.tls_server_name:
                cluster["tls-server-name"] = cfg.tls_server_name
            if cfg.proxy_url:
                cluster["proxy-url"] = cfg.proxy_url
            exec_spec["cluster"] = cluster
        return {"apiVersion": spec.api_version, "kind": "ExecCredential", "spec": exec_spec}


def _parse_exec_output(spec: ExecConfig, out: bytes) -> Credentials:
    name = f"exec plugin {spec.command!r}"
    try:
        doc = orjson.loads(out)
    except orjson.JSONDecodeError as e:
        raise CredentialError(f"{name}: output is not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise CredentialError(f"{name}: output is not an ExecCredential")
    if doc.get("apiVersion") != spec.api_version:
        raise CredentialError(f"{name}: answered {doc.get('apiVersion')!r}, expected {spec.api_version!r}")
    status = doc.get("status") or {}
    token = status.get("token") or None
    cert = status.get("clientCertificateData") or None
    key = status.get("clientKeyData") or None
    if not token and not (cert and key):
        raise CredentialError(f"{name}: status has neither a token nor a client certificate and key")
    if bool(cert) != bool(key):
        raise CredentialError(f"{name}: status has only one of clientCertificateData and clientKeyData")
    expires_at = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            expires_at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except ValueError as e:
            raise CredentialError(f"{name}: bad expirationTimestamp {stamp!r}") from e
    return Credentials(
        token=token,
        client_cert=cert.encode() if cert else None,
        client_key=key.encode() if key else None,
        expires_at=expires_at,
    )


async def _read_token(path: Path) -> str:
    try:
        text = await asyncio.to_thread(path.read_text)
    except OSError as e:
        raise CredentialError(f"{path}: cannot read token: {e.strerror or e}") from e
    return text.strip()
