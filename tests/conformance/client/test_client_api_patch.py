"""Patches, server-side apply and the status and scale subresources against the real kube-apiserver."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.client import Client, ConflictError, PatchType
from kubeloop.testing import objects

SIDECAR = {"name": "sidecar", "image": "example.com/sidecar:1"}


def deployment(name: str, namespace: str, replicas: int = 1) -> dict[str, Any]:
    return objects.deployment(name, namespace, objects.MAIN_CONTAINER, SIDECAR, replicas=replicas)


async def test_json_patch_applies_operations(client: Client, namespace: str) -> None:
    await client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "jp", "namespace": namespace}}
    )
    ops = [
        {"op": "add", "path": "/data", "value": {"a": "1"}},
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "remove", "path": "/data/a"},
    ]
    patched = await client.patch("configmaps", "jp", ops, type=PatchType.JSON, namespace=namespace)
    assert patched["data"] == {"b": "2"}


async def test_json_patch_test_op_failure_is_an_api_error(client: Client, namespace: str) -> None:
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "jpt", "namespace": namespace},
            "data": {"a": "1"},
        }
    )
    from kubeloop.client import ApiError

    with pytest.raises(ApiError) as err:
        await client.patch(
            "configmaps",
            "jpt",
            [{"op": "test", "path": "/data/a", "value": "2"}],
            type=PatchType.JSON,
            namespace=namespace,
        )
    assert err.value.code in (409, 422)


async def test_merge_patch_merges_maps_and_deletes_nulls(client: Client, namespace: str) -> None:
    await client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mp", "namespace": namespace},
            "data": {"keep": "1", "drop": "2"},
        }
    )
    patched = await client.patch(
        "configmaps", "mp", {"data": {"drop": None, "add": "3"}}, namespace=namespace
    )
    assert patched["data"] == {"keep": "1", "add": "3"}


async def test_merge_patch_replaces_lists_but_strategic_merges_them_by_key(
    client: Client, namespace: str
) -> None:
    await client.create(deployment("smp", namespace))
    change = {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "example.com/main:2"}]}}}
    }
    strategic = await client.patch(
        "deployments", "smp", change, type=PatchType.STRATEGIC, namespace=namespace
    )
    containers = strategic["spec"]["template"]["spec"]["containers"]
    assert {c["name"]: c["image"] for c in containers} == {
        "main": "example.com/main:2",
        "sidecar": "example.com/sidecar:1",
    }
    merged = await client.patch("deployments", "smp", change, type=PatchType.MERGE, namespace=namespace)
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["main"]


async def test_apply_creates_then_updates_and_records_field_manager(client: Client, namespace: str) -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": namespace},
        "data": {"a": "1"},
    }
    created = await client.apply(obj, field_manager="alice")
    assert created["data"] == {"a": "1"}
    obj["data"] = {"a": "1", "b": "2"}
    updated = await client.apply(obj, field_manager="alice")
    assert updated["data"] == {"a": "1", "b": "2"}
    managers = {(m["manager"], m["operation"]) for m in updated["metadata"]["managedFields"]}
    assert ("alice", "Apply") in managers


# Valid in JSON but not raw in YAML, which apply bodies are read as: DEL, C1 controls but NEL, the BOM,
# the two noncharacters of the Basic Multilingual Plane's end; beside what YAML takes raw.
YAML_UNPRINTABLE = "\x7f \x80 \x84 \x86 \x9f \ufeff \ufffe \uffff"
YAML_PRINTABLE = "\x85 \xa0 é \u2028 \ufffd \U0001f600"


@pytest.mark.parametrize(
    "value",
    [YAML_UNPRINTABLE, YAML_PRINTABLE, "x" + YAML_UNPRINTABLE * 50],
    ids=["unprintable", "printable", "many"],
)
async def test_apply_keeps_strings_that_yaml_cannot_hold_raw(
    client: Client, namespace: str, value: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "unprintable", "namespace": namespace, "annotations": {"a": value}},
        "data": {"v": value, "plain": "ok"},
    }
    applied = await client.apply(body, field_manager="unprintable-test")
    assert applied["data"] == body["data"]
    assert applied["metadata"]["annotations"] == {"a": value}


async def test_apply_of_field_owned_by_another_manager_conflicts_unless_forced(
    client: Client, namespace: str
) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": namespace}}
    await client.apply({**base, "data": {"shared": "alice"}}, field_manager="alice")
    with pytest.raises(ConflictError) as err:
        await client.apply({**base, "data": {"shared": "bob"}}, field_manager="bob")
    assert err.value.causes
    assert any("shared" in cause.field for cause in err.value.causes)
    assert any("alice" in cause.message for cause in err.value.causes)
    forced = await client.apply({**base, "data": {"shared": "bob"}}, field_manager="bob", force=True)
    assert forced["data"] == {"shared": "bob"}
    owners = {
        m["manager"] for m in forced["metadata"]["managedFields"] if "f:shared" in str(m.get("fieldsV1"))
    }
    assert owners == {"bob"}


async def test_apply_dry_run_changes_nothing(client: Client, namespace: str) -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "dryssa", "namespace": namespace},
        "data": {"a": "1"},
    }
    await client.apply(obj, field_manager="alice")
    result = await client.apply({**obj, "data": {"a": "2"}}, field_manager="alice", dry_run=True)
    assert result["data"] == {"a": "2"}
    assert (await client.get("configmaps", "dryssa", namespace=namespace))["data"] == {"a": "1"}


async def test_scale_subresource_reads_and_sets_replicas(client: Client, namespace: str) -> None:
    await client.create(deployment("scaled", namespace, replicas=1))
    scale = await client.get("deployments", "scaled", namespace=namespace, subresource="scale")
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 1
    await client.patch(
        "deployments", "scaled", {"spec": {"replicas": 3}}, namespace=namespace, subresource="scale"
    )
    assert (await client.get("deployments", "scaled", namespace=namespace))["spec"]["replicas"] == 3
    for _ in range(5):  # the deployment controller writes status (and so the resourceVersion) meanwhile
        scale = await client.get("deployments", "scaled", namespace=namespace, subresource="scale")
        scale["spec"]["replicas"] = 2
        try:
            replaced = await client.replace(scale, resource="deployments", subresource="scale")
            break
        except ConflictError:
            continue
    assert replaced["spec"]["replicas"] == 2
    assert (await client.get("deploy", "scaled", namespace=namespace))["spec"]["replicas"] == 2
