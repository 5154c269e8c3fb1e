"""Service-account tokens of the embedded server: a token authenticates only with its signature intact
and within its lifetime (what the real server checks, and cannot be shown there without waiting
ten minutes for a token to expire)."""

from __future__ import annotations

import base64
import ssl
import time
from typing import Any

import aiohttp
import orjson

from kubeloop.apiserver import EmbeddedServer, Store
from kubeloop.apiserver.auth import TokenIssuer


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_a_token_is_refused_once_expired_or_tampered_with() -> None:
    async with EmbeddedServer() as server:
        ctx = ssl.create_default_context(cafile=str(server.directory / "ca.crt"))
        admin = {"Authorization": f"Bearer {server.token}"}
        base = f"{server.url}/api/v1/namespaces/default/serviceaccounts"
        async with aiohttp.ClientSession() as http:
            async with http.post(base, json={"metadata": {"name": "bot"}}, ssl=ctx, headers=admin) as resp:
                assert resp.status == 201
            async with http.post(f"{base}/bot/token", json={"spec": {}}, ssl=ctx, headers=admin) as resp:
                assert resp.status == 201
                token = (await resp.json())["status"]["token"]

            async def status(token: str) -> int:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.get(
                    f"{server.url}/api/v1/namespaces/default/pods", ssl=ctx, headers=headers
                ) as r:
                    return r.status

            assert await status(token) == 403  # authenticated, no permissions
            issuer = TokenIssuer((server.directory / "service-account.key").read_bytes(), Store())
            claims = claims_of(token)
            assert await status(issuer.sign(claims)) == 403  # the same claims signed again: still valid
            past = int(time.time()) - 60
            assert await status(issuer.sign({**claims, "exp": past})) == 401
            assert await status(issuer.sign({**claims, "nbf": past + 3600})) == 401
            header, _, signature = token.split(".")
            forged = base64.urlsafe_b64encode(orjson.dumps({**claims, "sub": "x"})).decode().rstrip("=")
            assert await status(f"{header}.{forged}.{signature}") == 401
            other = TokenIssuer(_other_key(), Store())
            assert await status(other.sign(claims)) == 401  # another key


def _other_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
