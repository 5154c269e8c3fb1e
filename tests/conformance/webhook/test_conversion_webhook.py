"""CRD conversion through the real kube-apiserver: objects created in v1 read in v2 and the other
way round (hub and spoke, lossless round trip via an annotation), then a storage version
migration to v2 that keeps every object's data, checked in etcd itself."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from webhook_support import run, unique_group

import kubeloop as kl
from kubeloop import crd, webhook
from kubeloop.apiserver import EmbeddedServer
from kubeloop.manager import ManagerOptions, WebhookServerOptions
from kubeloop.testing import Kubectl, run_operator, until, wait_for_crds
from kubeloop.testing.fixtures import Cluster

GROUP = unique_group("whconv")
TAGS = f"{GROUP}/tags"


class SpecV1(crd.Model):
    size: int = 1
    image: str = ""
    tags: list[str] = crd.Field(default_factory=list)


class SpecV2(crd.Model):
    replicas: int = 1
    image: str = ""


@crd.resource(group=GROUP, version="v1", kind="AppService")
class AppServiceV1(crd.CustomResource):
    spec: SpecV1


@crd.resource(group=GROUP, version="v2", kind="AppService", storage=False)
class AppServiceV2(crd.CustomResource):
    """The hub: v1 converts to and from it."""

    spec: SpecV2


def conversion_operator() -> kl.Operator:
    operator = kl.Operator("whconv")

    @operator.convert(AppServiceV1, AppServiceV2)
    def to_hub(app: AppServiceV1) -> AppServiceV2:
        meta = app.metadata.model_copy(deep=True)
        if app.spec.tags:  # v2 has no tags: carry them in an annotation so v2 → v1 loses nothing
            meta.annotations = {**(meta.annotations or {}), TAGS: json.dumps(app.spec.tags)}
        return AppServiceV2(metadata=meta, spec=SpecV2(replicas=app.spec.size, image=app.spec.image))

    @operator.convert(AppServiceV2, AppServiceV1)
    def from_hub(app: AppServiceV2) -> AppServiceV1:
        meta = app.metadata.model_copy(deep=True)
        annotations = dict(meta.annotations or {})
        tags = json.loads(annotations.pop(TAGS, "[]"))
        meta.annotations = annotations or None
        return AppServiceV1(
            metadata=meta, spec=SpecV1(size=app.spec.replicas, image=app.spec.image, tags=tags)
        )

    return operator


@pytest.fixture
def crd_name(kubectl: Kubectl) -> Iterator[str]:
    name = AppServiceV1.resource_info().crd_name
    yield name
    kubectl("delete", "crd", name, "--wait=false", "--ignore-not-found")


def manifest(version: str, namespace: str, name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": f"{GROUP}/{version}",
            "kind": "AppService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


async def read(kubectl: Kubectl, version: str, namespace: str, name: str) -> dict[str, Any]:
    out = await run(kubectl, "get", f"appservices.{version}.{GROUP}", name, "-n", namespace, "-o", "json")
    obj: dict[str, Any] = json.loads(out.stdout)
    return obj


async def stored_api_version(cluster: Cluster, namespace: str, name: str) -> str:
    """The apiVersion of the object as etcd (or the embedded server's store) holds it (custom resources are
    stored as JSON)."""
    if isinstance(cluster, EmbeddedServer):
        held = cluster.stored(GROUP, "appservices", namespace, name)
        assert held is not None, f"the embedded server holds no appservices {namespace}/{name}"
        return str(held["apiVersion"])
    key = f"/registry/{GROUP}/appservices/{namespace}/{name}".encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{cluster.etcd_port}/v3/kv/range",
            json={"key": base64.b64encode(key).decode()},
        ) as response,
    ):
        kvs = (await response.json()).get("kvs") or []
    assert len(kvs) == 1, f"etcd has no single key {key!r}"
    value: dict[str, Any] = json.loads(base64.b64decode(kvs[0]["value"]))
    return str(value["apiVersion"])


async def test_objects_convert_between_versions_and_survive_a_storage_version_migration(
    cluster: Cluster, kubectl: Kubectl, namespace: str, crd_name: str, tmp_path: Path
) -> None:
    operator = conversion_operator()
    ca = webhook.serving_certificate(tmp_path)
    serving = WebhookServerOptions(bind_address="127.0.0.1:0", cert_dir=tmp_path)
    async with run_operator(operator, cluster.kubeconfig, ManagerOptions(webhook_server=serving)):
        server = operator.webhook_server
        assert server is not None
        await until(server.started, within=10, what="webhook server listening")
        definition = crd.to_crd([AppServiceV1, AppServiceV2])
        client = webhook.ClientConfig(url=f"https://127.0.0.1:{server.port}", ca_bundle=ca)
        definition["spec"]["conversion"] = webhook.conversion_stanza(client)
        await run(kubectl, "apply", "-f", "-", input=yaml.safe_dump(definition))
        await asyncio.to_thread(wait_for_crds, kubectl, crd_name)

        # created in v1 (the storage version), read in v2
        v1_spec = {"size": 3, "image": "nginx:1.27", "tags": ["blue", "canary"]}
        await run(kubectl, "apply", "-f", "-", input=manifest("v1", namespace, "made-in-v1", v1_spec))
        as_v2 = await read(kubectl, "v2", namespace, "made-in-v1")
        assert as_v2["apiVersion"] == f"{GROUP}/v2"
        assert as_v2["spec"] == {"replicas": 3, "image": "nginx:1.27"}
        assert json.loads(as_v2["metadata"]["annotations"][TAGS]) == ["blue", "canary"]

        # created in v2, stored as v1, read in v1
        await run(kubectl, "apply", "-f", "-", input=manifest("v2", namespace, "made-in-v2", {"replicas": 5}))
        as_v1 = await read(kubectl, "v1", namespace, "made-in-v2")
        assert as_v1["spec"] == {"size": 5, "image": "", "tags": []}
        assert await stored_api_version(cluster, namespace, "made-in-v2") == f"{GROUP}/v1"

        # round trip: v1 → v2 → v1 loses nothing
        assert (await read(kubectl, "v1", namespace, "made-in-v1"))["spec"] == v1_spec

        before = {
            (version, name): (await read(kubectl, version, namespace, name))["spec"]
            for version in ("v1", "v2")
            for name in ("made-in-v1", "made-in-v2")
        }

        # storage version migration: v2 becomes the storage version, every object is rewritten
        # (it is then stored as v2), and v1 is dropped from status.storedVersions
        order = [v["name"] for v in definition["spec"]["versions"]]
        versions = [
            {"op": "replace", "path": f"/spec/versions/{order.index('v1')}/storage", "value": False},
            {"op": "replace", "path": f"/spec/versions/{order.index('v2')}/storage", "value": True},
        ]
        await run(kubectl, "patch", "crd", crd_name, "--type=json", "-p", json.dumps(versions))
        for name in ("made-in-v1", "made-in-v2"):

            async def migrated(name: str = name) -> bool:
                obj = await read(kubectl, "v2", namespace, name)
                await run(kubectl, "replace", "-f", "-", input=json.dumps(obj))
                return await stored_api_version(cluster, namespace, name) == f"{GROUP}/v2"

            await until(migrated, within=30, interval=0.5, what=f"{name} stored as v2")
        await run(
            kubectl,
            "patch",
            "crd",
            crd_name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"storedVersions": ["v2"]}}),
        )
        stored = await run(kubectl, "get", "crd", crd_name, "-o", "jsonpath={.status.storedVersions}")
        assert json.loads(stored.stdout) == ["v2"]

        after = {
            (version, name): (await read(kubectl, version, namespace, name))["spec"]
            for version in ("v1", "v2")
            for name in ("made-in-v1", "made-in-v2")
        }
        assert after == before
        assert operator.manager is not None
        conversions = operator.manager.metrics.registry.get_sample_value(
            "controller_runtime_webhook_requests_total", {"webhook": "/convert", "code": "200"}
        )
        assert conversions is not None
        assert conversions > 0
