"""CRUD, typed errors, dry-run, conflicts and deletes of ConfigMaps against the real kube-apiserver."""

from __future__ import annotations

import pytest

from kubeloop.client import (
    AlreadyExistsError,
    Client,
    ConflictError,
    InvalidError,
    NotFoundError,
    Preconditions,
)
from kubeloop.testing.objects import configmap


async def test_create_get_replace_delete_round_trip(client: Client, namespace: str) -> None:
    created = await client.create(configmap("settings", namespace, mode="fast"))
    assert created["metadata"]["uid"]
    got = await client.get("configmaps", "settings", namespace=namespace)
    assert got["data"] == {"mode": "fast"}
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    got["data"]["mode"] = "slow"
    replaced = await client.replace(got)
    assert replaced["data"] == {"mode": "slow"}
    assert replaced["metadata"]["resourceVersion"] != got["metadata"]["resourceVersion"]
    await client.delete("configmaps", "settings", namespace=namespace)
    with pytest.raises(NotFoundError) as err:
        await client.get("configmaps", "settings", namespace=namespace)
    assert err.value.code == 404
    assert err.value.details["name"] == "settings"


async def test_server_fields_are_kept_verbatim(client: Client, namespace: str) -> None:
    created = await client.create(configmap("verbatim", namespace, a="1"))
    assert "managedFields" in created["metadata"]
    assert "creationTimestamp" in created["metadata"]


async def test_create_of_existing_name_raises_already_exists(client: Client, namespace: str) -> None:
    await client.create(configmap("twice", namespace))
    with pytest.raises(AlreadyExistsError) as err:
        await client.create(configmap("twice", namespace))
    assert err.value.reason == "AlreadyExists"


async def test_invalid_object_raises_invalid_with_field_causes(client: Client, namespace: str) -> None:
    with pytest.raises(InvalidError) as err:
        await client.create(configmap("Not_A_Valid_Name", namespace))
    assert err.value.code == 422
    assert any(cause.field == "metadata.name" for cause in err.value.causes)


async def test_replace_with_stale_resource_version_raises_conflict(client: Client, namespace: str) -> None:
    stale = await client.create(configmap("contended", namespace, n="0"))
    fresh = dict(stale, data={"n": "1"})
    await client.replace(fresh)
    with pytest.raises(ConflictError) as err:
        await client.replace(dict(stale, data={"n": "2"}))
    assert err.value.reason == "Conflict"
    assert (await client.get("configmaps", "contended", namespace=namespace))["data"] == {"n": "1"}


async def test_dry_run_create_returns_object_but_stores_nothing(client: Client, namespace: str) -> None:
    result = await client.create(configmap("dry", namespace, a="1"), dry_run=True)
    assert result["metadata"]["name"] == "dry"
    assert result["data"] == {"a": "1"}
    with pytest.raises(NotFoundError):
        await client.get("configmaps", "dry", namespace=namespace)


async def test_dry_run_delete_keeps_object(client: Client, namespace: str) -> None:
    await client.create(configmap("kept", namespace))
    await client.delete("configmaps", "kept", namespace=namespace, dry_run=True)
    assert (await client.get("configmaps", "kept", namespace=namespace))["metadata"]["name"] == "kept"


async def test_delete_with_wrong_uid_precondition_raises_conflict(client: Client, namespace: str) -> None:
    created = await client.create(configmap("guarded", namespace))
    with pytest.raises(ConflictError):
        await client.delete(
            "configmaps", "guarded", namespace=namespace, preconditions=Preconditions(uid="not-the-uid")
        )
    await client.delete(
        "configmaps",
        "guarded",
        namespace=namespace,
        preconditions=Preconditions(
            uid=created["metadata"]["uid"], resource_version=created["metadata"]["resourceVersion"]
        ),
    )
    with pytest.raises(NotFoundError):
        await client.get("configmaps", "guarded", namespace=namespace)


async def test_delete_with_stale_resource_version_precondition_raises_conflict(
    client: Client, namespace: str
) -> None:
    created = await client.create(configmap("moving", namespace, n="0"))
    await client.patch("configmaps", "moving", {"data": {"n": "1"}}, namespace=namespace)
    with pytest.raises(ConflictError):
        await client.delete(
            "configmaps",
            "moving",
            namespace=namespace,
            preconditions=Preconditions(resource_version=created["metadata"]["resourceVersion"]),
        )


async def test_delete_collection_removes_only_selected(client: Client, namespace: str) -> None:
    for i in range(3):
        obj = configmap(f"doomed-{i}", namespace)
        obj["metadata"]["labels"] = {"fate": "doomed"}  # type: ignore[index]
        await client.create(obj)
    await client.create(configmap("survivor", namespace))
    await client.delete_collection(
        "configmaps", namespace=namespace, label_selector="fate=doomed", propagation_policy="Background"
    )
    names = {i["metadata"]["name"] for i in (await client.list("configmaps", namespace=namespace))["items"]}
    assert "survivor" in names
    assert not any(n.startswith("doomed-") for n in names)


async def test_delete_of_missing_object_raises_not_found(client: Client, namespace: str) -> None:
    with pytest.raises(NotFoundError):
        await client.delete("configmaps", "never-was", namespace=namespace)
