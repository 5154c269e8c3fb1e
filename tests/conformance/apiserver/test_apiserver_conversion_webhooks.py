"""CRD conversion on both servers: a Webhook strategy converts every read and write in a version other
than the stored one (v1 ``spec.size`` ↔ v2 ``spec.replicas`` here) through the test's webhook, watch
included; its failures have the real server's answer; the None strategy relabels apiVersion only; the
converted object is pruned by the schema of the version it is read as."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from admission_hooks import HookServer
from apiserver_twin import Twin

Obj = dict[str, Any]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
MERGE = "application/merge-patch+json"


def convert(request: Obj) -> Obj:
    """v1 ``spec.size`` ↔ v2 ``spec.replicas``."""
    desired = request["desiredAPIVersion"]
    out = []
    for obj in request["objects"]:
        spec = dict(obj.get("spec") or {})
        old, new = ("size", "replicas") if desired.endswith("/v2") else ("replicas", "size")
        if old in spec:
            spec[new] = spec.pop(old)
        out.append({**obj, "apiVersion": desired, "spec": spec})
    return {"convertedObjects": out, "result": {"status": "Success"}}


def crd(group: str, plural: str, conversion: Obj) -> Obj:
    def version(name: str, field: str, storage: bool) -> Obj:
        spec = {"type": "object", "properties": {field: {"type": "integer"}}}
        schema = {"type": "object", "properties": {"spec": spec}}
        return {"name": name, "served": True, "storage": storage, "schema": {"openAPIV3Schema": schema}}

    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural[:-1].capitalize()},
            "versions": [version("v1", "size", True), version("v2", "replicas", False)],
            "conversion": conversion,
        },
    }


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[HookServer]:
    async with HookServer(tmp_path) as server:
        server.handlers["/convert"] = convert
        yield server


@pytest.fixture
async def group(twin: Twin, tns: str) -> AsyncIterator[str]:
    name = f"{tns}.conversion.example.com"
    yield name
    for server in (twin.real, twin.embedded):
        for item in (await server.call("GET", CRDS)).body["items"]:
            if item["spec"]["group"] == name:
                await server.call("DELETE", f"{CRDS}/{item['metadata']['name']}")


async def served(twin: Twin, definition: Obj, path: str) -> None:
    """Create ``definition`` on both servers and wait until both serve ``path``."""
    real, embedded = await twin.call("POST", CRDS, definition)
    assert real.status == embedded.status == 201, (real.body, embedded.body)
    deadline = time.monotonic() + 30
    while [a.status for a in await twin.call("GET", path)] != [200, 200]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)


def specs(answers: tuple[Any, Any]) -> list[Any]:
    return [(a.status, a.body.get("apiVersion"), a.body.get("spec")) for a in answers]


async def test_a_webhook_converts_every_read_and_write_in_another_version(
    twin: Twin, tns: str, group: str, hooks: HookServer
) -> None:
    client = hooks.client("/convert")
    webhook = {"strategy": "Webhook", "webhook": {"clientConfig": client, "conversionReviewVersions": ["v1"]}}
    v1, v2 = (f"/apis/{group}/{v}/namespaces/{tns}/things" for v in ("v1", "v2"))
    await served(twin, crd(group, "things", webhook), v2)
    body = {"apiVersion": f"{group}/v2", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"replicas": 3}}
    assert specs(await twin.call("POST", v2, body)) == [(201, f"{group}/v2", {"replicas": 3})] * 2
    assert specs(await twin.call("GET", f"{v1}/t")) == [(200, f"{group}/v1", {"size": 3})] * 2
    assert specs(await twin.call("GET", f"{v2}/t")) == [(200, f"{group}/v2", {"replicas": 3})] * 2
    patched = await twin.call("PATCH", f"{v2}/t", {"spec": {"replicas": 5}}, MERGE)
    assert specs(patched) == [(200, f"{group}/v2", {"replicas": 5})] * 2
    listed = await twin.call("GET", v2)
    assert [[i["spec"] for i in a.body["items"]] for a in listed] == [[{"replicas": 5}]] * 2
    watched = await twin.call("GET", f"{v2}?watch=true&timeoutSeconds=1")
    assert [a.body["object"]["spec"] for a in watched] == [{"replicas": 5}] * 2
    desired = {request["desiredAPIVersion"] for request in hooks.calls["/convert"]}
    assert desired == {f"{group}/v1", f"{group}/v2"}  # writes to the storage version, reads back
    # a webhook that fails: the real server's answer for reads and writes in the other version
    hooks.handlers["/convert"] = lambda request: {
        "result": {"status": "Failure", "message": "cannot convert"}
    }
    await twin.same_status("GET", f"{v2}/t")
    await twin.same_refusal("POST", v2, dict(body, metadata={"name": "u"}))
    assert specs(await twin.call("GET", f"{v1}/t")) == [(200, f"{group}/v1", {"size": 5})] * 2


async def test_the_none_strategy_relabels_the_api_version_only(twin: Twin, tns: str, group: str) -> None:
    v1, v2 = (f"/apis/{group}/{v}/namespaces/{tns}/knobs" for v in ("v1", "v2"))
    await served(twin, crd(group, "knobs", {"strategy": "None"}), v2)
    body = {"apiVersion": f"{group}/v1", "kind": "Knob", "metadata": {"name": "k"}, "spec": {"size": 3}}
    assert [a.status for a in await twin.call("POST", v1, body)] == [201, 201]
    # relabelled, then pruned by v2's schema (which has no size); the stored object keeps it
    assert specs(await twin.call("GET", f"{v2}/k")) == [(200, f"{group}/v2", {})] * 2
    assert specs(await twin.call("GET", f"{v1}/k")) == [(200, f"{group}/v1", {"size": 3})] * 2
