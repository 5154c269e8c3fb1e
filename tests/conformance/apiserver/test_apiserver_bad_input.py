"""Bad input gets the same HTTP status and Status reason from the embedded server as from the real one."""

from __future__ import annotations

from pathlib import Path

import pytest
from apiserver_twin import Raw


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
