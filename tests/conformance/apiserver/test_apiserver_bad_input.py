"""Bad input gets the same HTTP status and Status reason from the embedded server as from the real one."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml


class Raw:
    """Plain HTTPS requests with the kubeconfig's client certificate (no client-side checks)."""

    def __init__(self, kubeconfig: Path, tmp: Path) -> None:
        import base64

        config = yaml.safe_load(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.server = cluster["server"]
        for name, key in (
            ("ca.crt", "certificate-authority-data"),
            ("c.crt", "client-certificate-data"),
            ("c.key", "client-key-data"),
        ):
            (tmp / name).write_bytes(base64.b64decode(user.get(key) or cluster.get(key)))
        self.ctx = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
        self.ctx.load_cert_chain(str(tmp / "c.crt"), str(tmp / "c.key"))

    async def send(
        self, method: str, path: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, self.server + path, data=body, ssl=self.ctx, headers={"Content-Type": content_type}
            ) as resp,
        ):
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
def raw(api: Path, tmp_path: Path) -> Raw:
    return Raw(api, tmp_path)


async def test_malformed_json_is_bad_request(raw: Raw, ns: str) -> None:
    status, body = await raw.send(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", b'{"apiVersion": "v1", "kind": '
    )
    assert (status, body["kind"], body["reason"]) == (400, "Status", "BadRequest")


async def test_wrong_api_version_in_body_is_bad_request(raw: Raw, ns: str) -> None:
    cm = b'{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}'
    status, body = await raw.send("POST", f"/api/v1/namespaces/{ns}/configmaps", cm)
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_unknown_resource_path_is_not_found(raw: Raw) -> None:
    status, body = await raw.send("GET", "/api/v1/nosuchthings", b"")
    assert (status, body["reason"]) == (404, "NotFound")


async def test_unknown_field_under_strict_validation_is_bad_request(raw: Raw, ns: str) -> None:
    cm = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "strict"}, "bogus": 1}'
    status, body = await raw.send("POST", f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict", cm)
    assert (status, body["reason"]) == (400, "BadRequest")
    assert 'unknown field "bogus"' in body["message"]


async def test_oversized_object_is_rejected(raw: Raw, ns: str) -> None:
    big = (
        b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "'
        + b"x" * (3 * 1024 * 1024)
        + b'"}}'
    )
    status, body = await raw.send("POST", f"/api/v1/namespaces/{ns}/configmaps", big)
    assert (status, body["reason"]) == (413, "RequestEntityTooLarge")
